import Foundation

/// Every figure of one run, written as JSON and printed as a table.
struct BenchResults: Codable {
    struct WriteRow: Codable {
        var clients: Int
        var httpRPS: Double
        var httpP50ms: Double
        var httpP99ms: Double
        var httpErrors: Int
        /// CPU time (user + system) of the user-service process per successful request, from its
        /// /proc stat over the run.
        var serviceCPUMicrosecondsPerRequest: Double
        var pgbenchTPS: Double
        var ratio: Double
        /// The same endpoint written with Hummingbird 2 and postgres-nio (benchmarks/peers), when built.
        var peerRPS: Double?
        var peerP50ms: Double?
        var peerP99ms: Double?
        var peerCPUMicrosecondsPerRequest: Double?
        var ratioToPeer: Double?
        /// CPU time the hypervisor gave to others while this row was measured (HostSteal), in %.
        var hostStealPercent: Double?
        /// Each round's http/pgbench and http/peer (`--write-rounds`); `ratio` and `ratioToPeer`
        /// are their medians, the other figures the medians of the rounds' own.
        var ratioPerRound: [Double]?
        var ratioToPeerPerRound: [Double]?
    }
    /// `--phases compare`: this build's user-service against another's, in alternating slices.
    struct BuildComparisonRow: Codable {
        var clients: Int
        var thisRPS: Double
        var thisCPUMicrosecondsPerRequest: Double
        var otherRPS: Double
        var otherCPUMicrosecondsPerRequest: Double
        var hostStealPercent: Double?
        /// This build's CPU per request over the other's.
        var cpuRatio: Double { thisCPUMicrosecondsPerRequest / otherCPUMicrosecondsPerRequest }
    }
    struct ReadRow: Codable {
        var endpoint: String
        var clients: Int
        var httpRPS: Double
        var httpP50ms: Double
        var httpP99ms: Double
        var httpErrors: Int
        var serviceCPUMicrosecondsPerRequest: Double
        /// pgbench running the statement the service runs for the endpoint.
        var pgbenchTPS: Double
        var ratio: Double
    }
    struct NotifyRow: Codable {
        /// The load shape: orders per user, order-services running.
        var shape: String
        var clients: Int
        /// The mean of the "on" runs (`--on-off-rounds`, in rotating order with the "off" runs).
        var withNotifyTPS: Double
        var withNotifyRunsTPS: [Double]
        /// Trigger disabled, a ticker notifying every 20 ms: the mean of its runs.
        var withoutNotifyTPS: Double
        var withoutNotifyRunsTPS: [Double]
        var ratio: Double
        /// Of the active writer samples (every 10 ms), the share waiting on NOTIFY's commit lock.
        var lockObjectShareOn: Double
        var lockObjectShareOff: Double
        var activeWriterSamplesOn: Int
        /// Notifications on `ecst_events` per second in the "on" run.
        var wakeUpsPerSecondOn: Double
        /// Trigger disabled, a ticker notifying as often as the "on" run's writers did.
        var withoutNotifyMatchedTickerTPS: Double
        var withoutNotifyMatchedTickerRunsTPS: [Double]
        var ratioMatched: Double
        var lockObjectShareOffMatched: Double
        /// pgbench's offered rate (`--on-off-rate`), nil at full speed: at a rate the machine can
        /// carry, tps says nothing and the CPU per update says what each kind of run costs.
        var offeredRate: Int? = nil
        /// Where the CPU went in each kind of run (WakeUpCPUCounter), the mean of its runs.
        var cpuOn: WakeUpCPU? = nil
        var cpuOff: WakeUpCPU? = nil
        var cpuMatched: WakeUpCPU? = nil
    }
    /// CPU time per committed update, in microseconds, over most of an on/off run, and the
    /// consumer's applying reads a second (WakeUpCPUCounter).
    struct WakeUpCPU: Codable {
        /// pgbench's sessions' backends: the writers themselves, trigger and commit included.
        var writersMicrosecondsPerUpdate: Double
        /// The backends of the order-services' sessions (listening, applying, pooled).
        var consumerBackendsMicrosecondsPerUpdate: Double
        /// The order-service processes.
        var orderServicesMicrosecondsPerUpdate: Double
        var appliesPerSecond: Double

        static func mean(_ all: [WakeUpCPU?]) -> WakeUpCPU? {
            let known = all.compactMap { $0 }
            guard !known.isEmpty else { return nil }
            func mean(_ value: (WakeUpCPU) -> Double) -> Double { known.map(value).reduce(0, +) / Double(known.count) }
            return WakeUpCPU(
                writersMicrosecondsPerUpdate: mean(\.writersMicrosecondsPerUpdate),
                consumerBackendsMicrosecondsPerUpdate: mean(\.consumerBackendsMicrosecondsPerUpdate),
                orderServicesMicrosecondsPerUpdate: mean(\.orderServicesMicrosecondsPerUpdate), appliesPerSecond: mean(\.appliesPerSecond))
        }
    }
    struct LatencyRow: Codable {
        var shape: String
        var offeredRate: String
        var achievedTPS: Double
        var samples: Int
        var superseded: Int
        var p50ms: Double
        var p90ms: Double
        var p99ms: Double
        var p999ms: Double
        var maxms: Double
        var lockObjectShare: Double?
        var p50ToFloor: Double?
        var p99ToFloor: Double?
        /// Writer commit to the start of the consumer statement that applied it (propagation
        /// minus the applying statement's own time).
        var startedP50ms: Double?
        var startedP99ms: Double?
        /// CPU time the hypervisor gave to others while this row was measured (HostSteal), in %.
        var hostStealPercent: Double?
        /// The same run's writers' own transaction latency (pgbench's): where it is as long as
        /// the row's tail, the tail is the writers' commits (WAL flushes), not the way after them.
        var writers: Tools.WriterLatency?
    }
    struct ReadYourWritesRow: Codable {
        var offeredRate: String
        /// Which order-service the GETs went to: the applying one, or a standby.
        var readingFrom: String
        /// Purchase orders per user (`--read-your-writes-orders-per-user`); absent from runs before it.
        var ordersPerUser: Int?
        /// The load generator (`--read-your-writes-client`), and its own CPU per pair, in µs.
        var client: String?
        var clientCPUPerPairMicroseconds: Double?
        /// Both services' CPU per pair (the standby's too when it runs), in µs.
        var servicesCPUPerPairMicroseconds: Double?
        var requests: Int
        /// GETs not answered 200.
        var failed: Int
        /// 200s whose order did not show the write (must be 0).
        var staleAnswers: Int
        var roundTripP50ms: Double
        var roundTripP99ms: Double
        var putP50ms: Double
        var putP99ms: Double
        /// The same GET without ECST-After, sent after the answer.
        var plainGetP50ms: Double
        var plainGetP99ms: Double
        /// GETs sent before their write was applied (the others had nothing to wait for).
        var waited: Int
        /// For those, the answer after the consumer's commit that applied the write.
        var answeredAfterApplyP50ms: Double
        var answeredAfterApplyP99ms: Double
        /// CPU time the hypervisor gave to others while this row was measured (HostSteal), in %.
        var hostStealPercent: Double?
    }
    struct Idle: Codable {
        var seconds: Double
        var cpuPercentOfACore: Double
        var transactionsPerSecond: Double
    }
    struct CatchUp: Codable {
        var events: Int
        var orderDocuments: Int
        /// From the process's spawn to the commit of the chunk that finished the catch-up.
        var seconds: Double
        /// From the spawn until the benchmark's poll (every 5 ms) saw no lag: the figure before
        /// the thirty-sixth session, longer by the poll's wait and query.
        var polledSeconds: Double? = nil
        var eventsPerSecond: Double
        var orderDocumentsPerSecond: Double
        var floorSeconds: Double
        var floorOrderDocuments: Int
        var ratioToFloor: Double
        /// The floor of the whole work: the same orders, and also the events read and checked and
        /// the replica's rows written, in one statement.
        var wholeWorkFloorSeconds: Double
        var wholeWorkFloorOrderDocuments: Int
        var ratioToWholeWorkFloor: Double
        /// The same statement from the catch-up's own starting state (rolled back), run first: the
        /// floor issue 16's goal is measured against.
        var sameStateWholeWorkFloorSeconds: Double
        var ratioToSameStateWholeWorkFloor: Double
        /// With --catch-up-repeats: every catch-up and its floor, in the order run (the fields
        /// above are the repeat's of the median ratio to the whole work's floor from the same state).
        var repeats: [Repeat]? = nil

        struct Repeat: Codable {
            var seconds: Double
            var polledSeconds: Double?
            var floorSeconds: Double
            var ratioToFloor: Double
            var wholeWorkFloorSeconds: Double
            var ratioToWholeWorkFloor: Double
            var sameStateWholeWorkFloorSeconds: Double
            var ratioToSameStateWholeWorkFloor: Double
        }
    }

    var date = ISO8601DateFormatter().string(from: Date())
    var machine = "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB"
    var writePath: [WriteRow] = []
    var readPath: [ReadRow] = []
    var buildComparison: [BuildComparisonRow] = []
    var notify: [NotifyRow] = []
    var propagation: [LatencyRow] = []
    /// Writer commit to a bare LISTEN session waking, at the same offered rates.
    var floor: [LatencyRow] = []
    var readYourWrites: [ReadYourWritesRow] = []
    /// A database per service: the single database's propagation, then per rate the replication
    /// hop and the whole way, measured in the same run.
    var split: [LatencyRow] = []
    var idle: Idle?
    var catchUp: CatchUp?
    var usage: [String: ProcessUsage] = [:]
    /// Per phase, the CPU time the hypervisor gave to others meanwhile (HostSteal), in %.
    var hostStealPercentByPhase: [String: Double] = [:]

    func write(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: folder + "/results.json"))
    }

    func table() -> String {
        func f(_ x: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", x) }
        func writersColumn(_ r: LatencyRow) -> String { r.writers.map { "\(f($0.p50ms, 2)) / \(f($0.p99ms, 2))" } ?? "-" }
        var lines = [
            "", "Write path (PUT /user-service/update vs pgbench, same UPDATE)",
            "clients   http req/s   p50 ms   p99 ms   errors   service CPU us/req   pgbench tps   http/pgbench   peer req/s   peer p50/p99 ms   peer CPU us/req   http/peer   host steal %",
        ]
        for r in writePath {
            let measured: [String] = [
                f(Double(r.clients)).padding(7), f(r.httpRPS).padding(12), f(r.httpP50ms, 2).padding(8), f(r.httpP99ms, 2).padding(8),
                "\(r.httpErrors)".padding(8), f(r.serviceCPUMicrosecondsPerRequest).padding(19),
                f(r.pgbenchTPS).padding(13), f(r.ratio, 2).padding(12),
            ]
            let peerLatency: String = (r.peerP50ms.map { f($0, 2) + " / " } ?? "- / ") + (r.peerP99ms.map { f($0, 2) } ?? "-")
            let peer: [String] = [
                r.peerRPS.map { f($0) }?.padding(10) ?? "-".padding(10),
                peerLatency.padding(16),
                r.peerCPUMicrosecondsPerRequest.map { f($0) }?.padding(15) ?? "-".padding(15),
                r.ratioToPeer.map { f($0, 2) }?.padding(9) ?? "-".padding(9),
            ]
            let steal: String = r.hostStealPercent.map { f($0, 1) } ?? "-"
            lines.append((measured + peer + [steal]).joined(separator: "  "))
        }
        if !buildComparison.isEmpty {
            lines += [
                "", "This build against another (--compare-with): PUT /user-service/update, both running, wrk alternating",
                "clients  this req/s  this CPU us/req  other req/s  other CPU us/req  CPU this/other  host steal %",
            ]
            for r in buildComparison {
                lines.append(
                    [
                        "\(r.clients)".padding(7), f(r.thisRPS).padding(10), f(r.thisCPUMicrosecondsPerRequest).padding(15),
                        f(r.otherRPS).padding(11), f(r.otherCPUMicrosecondsPerRequest).padding(16), f(r.cpuRatio, 2).padding(14),
                        r.hostStealPercent.map { f($0, 1) } ?? "-",
                    ].joined(separator: "  "))
            }
        }
        if !readPath.isEmpty {
            lines += [
                "", "Read path (GET under wrk vs pgbench running the service's statement)",
                "endpoint                                   clients  http req/s  p50 ms  p99 ms  errors  service CPU us/req  pgbench tps  http/pgbench",
            ]
            for r in readPath {
                lines.append(
                    [
                        r.endpoint.padding(41), "\(r.clients)".padding(7), f(r.httpRPS).padding(10), f(r.httpP50ms, 2).padding(6),
                        f(r.httpP99ms, 2).padding(6), "\(r.httpErrors)".padding(6), f(r.serviceCPUMicrosecondsPerRequest).padding(18),
                        f(r.pgbenchTPS).padding(11), f(r.ratio, 2),
                    ].joined(separator: "  "))
            }
        }
        lines += [
            "",
            "NOTIFY cost (pgbench at \(notify.first?.clients ?? 16) clients, same UPDATE; trigger on vs disabled with a 20 ms ticker and with a ticker matching the on run's wake-ups; Lock:object = % of active writer samples)",
            "shape                                    on tps    wake-ups/s  off tps (20 ms)  on/off   off tps (matched)  on/off   Lock:object on  off  matched",
        ]
        for r in notify {
            lines.append(
                [
                    r.shape.padding(39), f(r.withNotifyTPS).padding(8), f(r.wakeUpsPerSecondOn).padding(10), f(r.withoutNotifyTPS).padding(15),
                    f(r.ratio, 2).padding(7), f(r.withoutNotifyMatchedTickerTPS).padding(17), f(r.ratioMatched, 2).padding(7),
                    f(r.lockObjectShareOn * 100, 2).padding(14), f(r.lockObjectShareOff * 100, 2).padding(4),
                    f(r.lockObjectShareOffMatched * 100, 2),
                ].joined(separator: "  "))
        }
        if notify.contains(where: { $0.cpuOn != nil }) {
            lines += [
                "",
                "Where the CPU of those runs went, us per update (writers: pgbench's backends; consumer: the order-services' backends + processes), and the consumer's applying reads a second",
                "shape                                    rate     writers on  20 ms   matched   consumer on  20 ms   matched   applies/s on  20 ms  matched",
            ]
            for r in notify {
                func cell(_ cpu: BenchResults.WakeUpCPU?, _ value: (BenchResults.WakeUpCPU) -> Double) -> String { cpu.map { f(value($0)) } ?? "-" }
                func consumer(_ cpu: BenchResults.WakeUpCPU) -> Double {
                    cpu.consumerBackendsMicrosecondsPerUpdate + cpu.orderServicesMicrosecondsPerUpdate
                }
                lines.append(
                    [
                        r.shape.padding(39), (r.offeredRate.map { "\($0)/s" } ?? "max").padding(7),
                        cell(r.cpuOn, \.writersMicrosecondsPerUpdate).padding(10), cell(r.cpuOff, \.writersMicrosecondsPerUpdate).padding(6),
                        cell(r.cpuMatched, \.writersMicrosecondsPerUpdate).padding(8), cell(r.cpuOn, consumer).padding(11),
                        cell(r.cpuOff, consumer).padding(6), cell(r.cpuMatched, consumer).padding(8),
                        cell(r.cpuOn, \.appliesPerSecond).padding(12), cell(r.cpuOff, \.appliesPerSecond).padding(5),
                        cell(r.cpuMatched, \.appliesPerSecond),
                    ].joined(separator: "  "))
            }
        }
        lines += [
            "", "Propagation, writer commit -> order-service commit (ms), against the floor (writer commit -> bare LISTEN wakes);",
            "writers p50/p99: pgbench's own transaction latency in the same run (a tail as long as the row's is the writers' commits)",
            "shape                                    offered   tps     samples   p50     p99     p99.9   max     p50/floor  p99/floor  Lock:object %  host steal %  writers p50/p99",
        ]
        for r in floor + propagation {
            lines.append(
                [
                    r.shape.padding(39), r.offeredRate.padding(8), f(r.achievedTPS).padding(6), "\(r.samples)".padding(8), f(r.p50ms, 2).padding(6),
                    f(r.p99ms, 2).padding(6), f(r.p999ms, 2).padding(6), f(r.maxms, 2).padding(6),
                    (r.p50ToFloor.map { f($0, 2) } ?? "-").padding(9), (r.p99ToFloor.map { f($0, 2) } ?? "-").padding(9),
                    (r.lockObjectShare.map { f($0 * 100, 2) } ?? "-").padding(13),
                    (r.hostStealPercent.map { f($0, 1) } ?? "-").padding(12), writersColumn(r),
                ].joined(separator: "  ")
            )
        }
        if !split.isEmpty {
            lines += [
                "",
                "A database per service: writer commit (users' server) -> the copied row written and -> order-service commit (orders' server), ms;",
                "against the floor (writer commit -> bare LISTEN wakes) measured just before on the same server",
                "shape                                    offered   tps     samples   p50     p90     p99     p99.9   max     p50/floor  p99/floor  writers p50/p99",
            ]
            for r in split {
                lines.append(
                    [
                        r.shape.padding(39), r.offeredRate.padding(8), f(r.achievedTPS).padding(6), "\(r.samples)".padding(8),
                        f(r.p50ms, 2).padding(6), f(r.p90ms, 2).padding(6), f(r.p99ms, 2).padding(6), f(r.p999ms, 2).padding(6),
                        f(r.maxms, 2).padding(6), (r.p50ToFloor.map { f($0, 2) } ?? "-").padding(9), (r.p99ToFloor.map { f($0, 2) } ?? "-").padding(9),
                        writersColumn(r),
                    ].joined(separator: "  "))
            }
        }
        if !readYourWrites.isEmpty {
            lines += [
                "",
                "Read your writes: PUT /user-service/update, then GET /order-service/{id} with ECST-After (ms), "
                    + "\(readYourWrites[0].ordersPerUser.map { "\($0)" } ?? "1") order(s) per user",
                "offered   from     requests  failed  stale  round trip p50  p99     PUT p50  p99     plain GET p50  p99     waited  answered after applying commit p50  p99     client             CPU us/pair: client  services  host steal %",
            ]
            for r in readYourWrites {
                lines.append(
                    [
                        r.offeredRate.padding(8), r.readingFrom.padding(7), "\(r.requests)".padding(8), "\(r.failed)".padding(6),
                        "\(r.staleAnswers)".padding(5),
                        f(r.roundTripP50ms, 2).padding(14), f(r.roundTripP99ms, 2).padding(6), f(r.putP50ms, 2).padding(7),
                        f(r.putP99ms, 2).padding(6), f(r.plainGetP50ms, 2).padding(13), f(r.plainGetP99ms, 2).padding(6),
                        "\(r.waited)".padding(6), f(r.answeredAfterApplyP50ms, 2).padding(34), f(r.answeredAfterApplyP99ms, 2).padding(6),
                        (r.client ?? "-").padding(17), (r.clientCPUPerPairMicroseconds.map { f($0) } ?? "-").padding(19),
                        (r.servicesCPUPerPairMicroseconds.map { f($0) } ?? "-").padding(8),
                        r.hostStealPercent.map { f($0, 1) } ?? "-",
                    ].joined(separator: "  "))
            }
        }
        if let i = idle {
            lines += [
                "", "Idle order-service over \(f(i.seconds)) s: \(f(i.cpuPercentOfACore, 2)) % of a core, \(f(i.transactionsPerSecond, 2)) transactions/s",
            ]
        }
        if let c = catchUp {
            lines += [
                "",
                "Catch-up (floor: the orders alone; whole-work floor: also the events read and the replica written, "
                    + "from the catch-up's starting state (rolled back) and after it)",
                "events   order docs written   seconds (until the poll saw it)   events/s   docs/s   floor s (\(c.floorOrderDocuments) docs)   time/floor   "
                    + "whole-work floor s, same state / after   time/whole-work floor, same state / after (polled, same state)",
                [
                    "\(c.events)", "\(c.orderDocuments)", "\(f(c.seconds, 3)) (\(c.polledSeconds.map { f($0, 3) } ?? "-"))",
                    f(c.eventsPerSecond), f(c.orderDocumentsPerSecond), f(c.floorSeconds, 3), f(c.ratioToFloor, 2),
                    "\(f(c.sameStateWholeWorkFloorSeconds, 3)) / \(f(c.wholeWorkFloorSeconds, 3))",
                    "\(f(c.ratioToSameStateWholeWorkFloor, 2)) / \(f(c.ratioToWholeWorkFloor, 2))"
                        + " (\(c.polledSeconds.map { f($0 / c.sameStateWholeWorkFloorSeconds, 2) } ?? "-"))",
                ].joined(separator: "   "),
            ]
            if let repeats = c.repeats, repeats.count > 1 {
                lines.append(
                    "(the median of \(repeats.count) repeats by the whole-work floor from the same state; each s / floor s: "
                        + repeats.map {
                            "\(f($0.seconds, 3)) / \(f($0.floorSeconds, 3)) = \(f($0.ratioToFloor, 2)), "
                                + "/ \(f($0.sameStateWholeWorkFloorSeconds, 3)) = \(f($0.ratioToSameStateWholeWorkFloor, 2)) (same state), "
                                + "/ \(f($0.wholeWorkFloorSeconds, 3)) = \(f($0.ratioToWholeWorkFloor, 2)) (after)"
                        }.joined(separator: ", ") + ")"
                )
            }
        }
        if !hostStealPercentByPhase.isEmpty {
            lines += [
                "", "Host steal (CPU time the hypervisor gave to others; compare only runs where it is low)",
                hostStealPercentByPhase.sorted { $0.key < $1.key }.map { "\($0.key) \(f($0.value, 1)) %" }.joined(separator: ", "),
            ]
        }
        lines += ["", "Resources (peak RSS MB, CPU s)"]
        for (name, u) in usage.sorted(by: { $0.key < $1.key }) {
            lines.append("\(name): \(f(u.peakRSSMegabytes, 1)) MB, \(f(u.cpuSeconds, 1)) s CPU")
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

extension BenchResults.WriteRow {
    /// The medians of the rounds (BenchRun.writeRound); errors summed.
    init(clients: Int, rounds: [BenchRun.WriteRound]) {
        func median(_ values: [Double]) -> Double {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return .nan }
            return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
        let ratios = rounds.map { $0.http.requestsPerSecond / $0.pgbenchTPS }
        self.init(
            clients: clients, httpRPS: median(rounds.map(\.http.requestsPerSecond)), httpP50ms: median(rounds.map(\.http.p50ms)),
            httpP99ms: median(rounds.map(\.http.p99ms)), httpErrors: rounds.map(\.http.errors).reduce(0, +),
            serviceCPUMicrosecondsPerRequest: median(rounds.map(\.cpu)), pgbenchTPS: median(rounds.map(\.pgbenchTPS)),
            ratio: median(ratios), ratioPerRound: ratios)
        let peers = rounds.compactMap { round in round.peer.map { (round.http, $0.0, $0.1) } }
        if !peers.isEmpty {
            peerRPS = median(peers.map(\.1.requestsPerSecond))
            peerP50ms = median(peers.map(\.1.p50ms))
            peerP99ms = median(peers.map(\.1.p99ms))
            peerCPUMicrosecondsPerRequest = median(peers.map(\.2))
            ratioToPeerPerRound = peers.map { $0.0.requestsPerSecond / $0.1.requestsPerSecond }
            ratioToPeer = median(ratioToPeerPerRound ?? [])
        }
    }
}

extension BenchResults.ReadRow {
    init(endpoint: String, clients: Int, _ measured: BenchRun.PgbenchComparison) {
        self.init(
            endpoint: endpoint, clients: clients, httpRPS: measured.http.requestsPerSecond, httpP50ms: measured.http.p50ms,
            httpP99ms: measured.http.p99ms, httpErrors: measured.http.errors, serviceCPUMicrosecondsPerRequest: measured.cpu,
            pgbenchTPS: measured.pgbenchTPS, ratio: measured.ratio)
    }
}
