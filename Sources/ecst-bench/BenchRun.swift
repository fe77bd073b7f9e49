import Foundation
import NIOPosix
import OrderService
import Postgres
import PostgresTestSupport

/// The system under test and its baselines: a durable throwaway cluster, the two services started
/// from the release build, pgbench and wrk.
final class BenchRun {
    let options: Bench.Options
    let cluster: LocalCluster
    let pgBin: String
    let url: String
    let admin: PostgresClient
    let scripts: String
    private(set) var userService: ChildProcess?
    var orderService: ChildProcess?
    /// A second order-service under the same consumer name, in the standby shapes.
    var standby: ChildProcess?
    private var usages: [String: ProcessUsage] = [:]

    init(options: Bench.Options) async throws {
        self.options = options
        try Self.ensureWrk()
        pgBin = try LocalCluster.binDirectory()
        // Production durability; commit timestamps to measure propagation from commit to commit.
        cluster = try await LocalCluster.start(durable: true, extraSettings: ["track_commit_timestamp=on", "max_wal_size=4GB"] + options.postgresSettings)
        let bootstrap = PostgresClient(configuration: .init(connectionString: cluster.url, maximumConnections: 1))
        try await bootstrap.query("CREATE DATABASE ecst")
        await bootstrap.close()
        url = "postgresql://postgres@127.0.0.1:\(cluster.port)/ecst"
        admin = PostgresClient(configuration: .init(connectionString: url, maximumConnections: 4).named("ecst-bench"))
        try await SQLFile.apply(repositoryFile("schema.sql"), connectionString: url)
        try await admin.query(
            """
            INSERT INTO user_service.users (firstname, lastname, email)
            SELECT 'F', 'L', 'u' || i || '@bench.io' FROM generate_series(5, $1::int) AS i
            """,
            [options.users]
        )
        try await admin.query(
            """
            INSERT INTO order_service.purchase_orders (user_id, product_id, doc)
            SELECT id, 1, '{"price": 300}' FROM user_service.users WHERE id > 1
            """
        )
        try await admin.query("VACUUM ANALYZE")
        scripts = FileManager.default.temporaryDirectory.path + "/ecst-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: scripts, withIntermediateDirectories: true)
        // The user-service's own UPDATE, as a pgbench script and as a wrk request.
        try """
        \\set id random(1, \(options.users))
        \\set n random(1, 1000000000)
        UPDATE user_service.users SET firstname = 'F', lastname = 'L', email = 'u' || :id || '-' || :n || '@bench.io' WHERE id = :id RETURNING id, firstname, lastname, email;
        """.write(toFile: scripts + "/update.sql", atomically: true, encoding: .utf8)
        try """
        math.randomseed(os.time())
        request = function()
          local id = math.random(1, \(options.users))
          local body = string.format('{"id": %d, "firstname": "F", "lastname": "L", "email": "u%d-%d@bench.io"}', id, id, math.random(1, 1000000000))
          return wrk.format("PUT", "/user-service/update", {["Content-Type"] = "application/json"}, body)
        end
        """.write(toFile: scripts + "/update.lua", atomically: true, encoding: .utf8)
        if geteuid() == 0 { _ = try? LocalCluster.run("/bin/chmod", ["-R", "a+rX", scripts]) }
    }

    static func ensureWrk() throws {
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk") { return }
        guard geteuid() == 0 else { throw EndToEndError("wrk is missing: apt-get install -y wrk") }
        log("installing wrk")
        try LocalCluster.run("/usr/bin/apt-get", ["update", "-qq"])
        try LocalCluster.run("/usr/bin/apt-get", ["install", "-y", "-qq", "wrk"])
    }

    /// `name` from this build's folder, or from `directory` (another build's).
    func start(_ name: String, port: Int, role: String, extra: [String: String] = [:], in directory: String? = nil) async throws -> ChildProcess {
        // The default log level, as users run it: the user-service logs a line per write.
        var environment = ["DATABASE_URL": url, "DATABASE_USER": role, "PORT": "\(port)", "LOG_LEVEL": "info"]
        environment.merge(extra) { _, new in new }
        try await Self.requireFree(port: port, for: name)
        let process = try ChildProcess(executable: name, in: directory, environment: environment)
        try await Self.waitUntilListening(process, name, port: port)
        return process
    }

    /// Another process answering on `port` would be measured in `name`'s place, without a word.
    static func requireFree(port: Int, for name: String) async throws {
        if await answers(port: port) { throw EndToEndError("port \(port) is taken by another process; stop it first (\(name) must listen there)") }
    }

    /// Whether something accepts a connection on `port`: a connect from this process, since the
    /// probe runs every 5 ms while a service starts (a catch-up is timed from there), and a shell
    /// spawned for each took CPU from the start it waited for.
    static func answers(port: Int) async -> Bool {
        guard
            let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(1)).connect(host: "127.0.0.1", port: port).get()
        else { return false }
        try? await channel.close()
        return true
    }

    /// Returns once `process` accepts connections on `port`; throws with its log if it exits first.
    static func waitUntilListening(_ process: ChildProcess, _ name: String, port: Int) async throws {
        try await eventually(timeout: .seconds(30), "\(name) to start") {
            if let code = process.exitCode { throw EndToEndError("\(name) exited with \(code): \(process.log)") }
            return await answers(port: port)
        }
    }

    func stop(_ process: ChildProcess?, as name: String) async throws {
        guard let process else { return }
        usages[name] = ProcessUsage.read(pid: process.pid)
        process.signal(SIGTERM)
        _ = try await process.waitForExit()
    }

    func stopAll() {
        for process in [userService, orderService, standby].compactMap({ $0 }) { process.signal(SIGKILL) }
    }

    func usage() -> [String: ProcessUsage] {
        var all = usages
        if let userService { all["user-service"] = ProcessUsage.read(pid: userService.pid) }
        if let orderService { all["order-service"] = ProcessUsage.read(pid: orderService.pid) }
        return all
    }

    // MARK: 1. Write path

    /// The user-service on :18080, unless already running.
    func startUserService() async throws {
        if userService == nil { userService = try await startUserService(port: 18080) }
    }

    /// A user-service on `port`, from this build or from `directory`, with the benchmark's pool.
    func startUserService(port: Int, in directory: String? = nil) async throws -> ChildProcess {
        try await start("user-service", port: port, role: "user_service", extra: ["DATABASE_POOL_SIZE": "16"], in: directory)
    }

    func writePath(into results: inout BenchResults) async throws {
        try await startUserService()
        guard let pid = userService?.pid else { throw EndToEndError("the user-service is not running") }
        let peer = try await startPeer()
        defer { peer?.signal(SIGKILL) }
        for clients in options.clients {
            let stealAtStart = HostSteal.now()
            var rounds: [WriteRound] = []
            for round in 0..<options.writeRounds {
                rounds.append(try writeRound(pid: pid, peer: peer?.pid, clients: clients, rotation: round))
            }
            var row = BenchResults.WriteRow(clients: clients, rounds: rounds)
            row.hostStealPercent = HostSteal.percent(since: stealAtStart)
            results.writePath.append(row)
            log(
                "  \(clients) clients: http \(Int(row.httpRPS)) req/s (\(Int(row.serviceCPUMicrosecondsPerRequest)) us of service CPU each), "
                    + "pgbench \(Int(row.pgbenchTPS)) tps, http/pgbench \(String(format: "%.2f", row.ratio))"
                    + (row.peerRPS.map { ", peer \(Int($0)) req/s (\(Int(row.peerCPUMicrosecondsPerRequest ?? 0)) us each)" } ?? "")
                    + (row.hostStealPercent.map { String(format: "; host steal %.1f %%", $0) } ?? ""))
        }
    }

    /// One round of the write path at one client count: the service, pgbench and the peer (when
    /// built), each for `--seconds`, in an order that rotates from round to round, so that a
    /// machine that slows down or speeds up meanwhile (host steal comes and goes by the minute)
    /// weighs on each side alike.
    struct WriteRound {
        var http: Tools.WrkResult
        var cpu: Double
        var pgbenchTPS: Double
        var peer: (Tools.WrkResult, Double)?
    }

    private func writeRound(pid: Int32, peer: Int32?, clients: Int, rotation: Int) throws -> WriteRound {
        enum Side { case service, pgbench, peer }
        var sides: [Side] = peer == nil ? [.service, .pgbench] : [.service, .pgbench, .peer]
        for _ in 0..<(rotation % sides.count) { sides.append(sides.removeFirst()) }
        var service: (Tools.WrkResult, Double)?
        var tps: Double?
        var peerResult: (Tools.WrkResult, Double)?
        for side in sides {
            switch side {
            case .service:
                service = try Self.measure(port: 18080, pid: pid, script: scripts + "/update.lua", clients: clients, seconds: options.seconds)
            case .pgbench:
                tps = try Tools.pgbench(pgBin, url: url, script: scripts + "/update.sql", clients: clients, seconds: options.seconds)
            case .peer:
                guard let peer else { continue }
                let measured = try Self.measure(port: 18090, pid: peer, script: scripts + "/update.lua", clients: clients, seconds: options.seconds)
                guard measured.0.errors == 0 else { throw EndToEndError("the peer answered \(measured.0.errors) requests with errors") }
                peerResult = measured
            }
        }
        guard let service, let tps else { throw EndToEndError("a write round measured nothing") }
        return WriteRound(http: service.0, cpu: service.1, pgbenchTPS: tps, peer: peerResult)
    }

    /// An endpoint under wrk, then pgbench running the statement it runs, for as long.
    struct PgbenchComparison {
        var http: Tools.WrkResult
        /// Microseconds of the service's CPU per successful request.
        var cpu: Double
        var pgbenchTPS: Double
        var ratio: Double { http.requestsPerSecond / pgbenchTPS }
        var summary: String {
            "http \(Int(http.requestsPerSecond)) req/s (\(Int(cpu)) us of service CPU each), pgbench \(Int(pgbenchTPS)) tps"
        }
    }

    func compare(port: Int, pid: Int32, lua: String, sql: String, clients: Int) throws -> PgbenchComparison {
        let (http, cpu) = try Self.measure(port: port, pid: pid, script: lua, clients: clients, seconds: options.seconds)
        let tps = try Tools.pgbench(pgBin, url: url, script: sql, clients: clients, seconds: options.seconds)
        return PgbenchComparison(http: http, cpu: cpu, pgbenchTPS: tps)
    }

    /// wrk against a service on `port`, with the CPU time the process `pid` spent per successful request.
    static func measure(port: Int, pid: Int32, script: String, clients: Int, seconds: Int) throws -> (Tools.WrkResult, Double) {
        let (result, cpuSeconds) = try measureCPU(port: port, pid: pid, script: script, clients: clients, seconds: seconds)
        return (result, cpuSeconds / Double(max(result.requests - result.errors, 1)) * 1e6)
    }

    /// wrk against a service on `port`, with the CPU seconds the process `pid` spent meanwhile.
    static func measureCPU(port: Int, pid: Int32, script: String, clients: Int, seconds: Int) throws -> (Tools.WrkResult, cpuSeconds: Double) {
        let cpuBefore = ProcessUsage.read(pid: pid).cpuSeconds
        let result = try Tools.wrk(url: "http://127.0.0.1:\(port)", script: script, clients: clients, seconds: seconds)
        return (result, ProcessUsage.read(pid: pid).cpuSeconds - cpuBefore)
    }

    /// The Hummingbird + postgres-nio peer on :18090 with the service's pool size, when it is built.
    func startPeer() async throws -> ChildProcess? {
        let path = URL(fileURLWithPath: options.peer).standardizedFileURL.path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            log("  no peer at \(options.peer) (scripts/bench builds it): measuring without it")
            return nil
        }
        try await Self.requireFree(port: 18090, for: "the peer")
        let process = try ChildProcess(
            executable: URL(fileURLWithPath: path).lastPathComponent, in: URL(fileURLWithPath: path).deletingLastPathComponent().path,
            environment: [
                "PGHOST": "127.0.0.1", "PGPORT": "\(cluster.port)", "PGUSER": "user_service", "PGDATABASE": "ecst", "POOL_SIZE": "16", "PORT": "18090",
            ]
        )
        try await Self.waitUntilListening(process, "the peer", port: 18090)
        return process
    }

    /// Order documents rewritten so far, from the table's statistics.
    func orderWrites() async throws -> Int {
        // Backends flush their statistics when they exit, which stopping the service has made them do.
        return try await admin.scalar(
            "SELECT n_tup_upd FROM pg_stat_user_tables WHERE schemaname = 'order_service' AND relname = 'purchase_orders'"
        )
    }

    /// Asked every 5 ms, so without counting the backlog: counting it (consumer_lag) took a core of
    /// the benchmark's two for as long as a catch-up lasted, and read the whole backlog each time.
    func waitForLagZero(timeout: Duration) async throws {
        try await eventually(timeout: timeout, "lag 0") {
            try await admin.scalar("SELECT order_service.caught_up($1)", [defaultConsumerName])
        }
    }

    // MARK: 4. Catch-up

    func catchUp(into results: inout BenchResults) async throws {
        try await stop(orderService, as: "order-service")
        orderService = nil
        let boundary: Int = try await admin.scalar("SELECT max(id) FROM user_service.users")
        try await admin.query(
            """
            INSERT INTO user_service.users (firstname, lastname, email)
            SELECT 'C', 'U', 'c' || i || '@bench.io' FROM generate_series(1, $1::int) AS i
            """,
            [options.catchUpUsers]
        )
        try await admin.query(
            """
            INSERT INTO order_service.purchase_orders (user_id, product_id, doc)
            SELECT u.id, 1 + k % 3, '{"price": 1}' FROM user_service.users u, generate_series(1, $2::int) AS k WHERE u.id > $1
            """,
            [boundary, options.ordersPerUser]
        )
        try await admin.query("VACUUM ANALYZE")
        // Warm up: the consumer applies the creations, then stops.
        orderService = try await start("order-service", port: 18081, role: "order_service")
        try await waitForLagZero(timeout: .seconds(1_200))
        try await stop(orderService, as: "order-service")
        orderService = nil

        // Each repeat writes new emails (a change bumps the version and writes an event), catches
        // up from a stopped order-service, then times the floor beside it: the machine drifts by
        // tens of per cent over minutes, so a ratio is taken from one catch-up and the floor right
        // after it, and several of them give a spread.
        var repeats: [BenchResults.CatchUp] = []
        for repeatNumber in 1...options.catchUpRepeats {
            let prefix = repeatNumber == 1 ? "r" : "k\(repeatNumber)r"
            let eventsBefore: Int = try await admin.scalar("SELECT coalesce(max(id), 0) FROM user_service.events")
            for round in 1...options.rounds {
                try await admin.query("UPDATE user_service.users SET email = $2 || id || '@bench.io' WHERE id > $1", [boundary, "\(prefix)\(round)-"])
            }
            try await admin.query("VACUUM ANALYZE")
            repeats.append(try await timeCatchUp(boundary: boundary, eventsAfter: eventsBefore))
        }
        // The median by the whole work's floor from the same state, the one issue 16's goal is
        // measured against (by another floor, the row shown could be the repeat furthest from it).
        let median = repeats.sorted { $0.ratioToSameStateWholeWorkFloor < $1.ratioToSameStateWholeWorkFloor }[repeats.count / 2]
        results.catchUp = median
        if repeats.count > 1 {
            results.catchUp?.repeats = repeats.map {
                .init(
                    seconds: $0.seconds, polledSeconds: $0.polledSeconds, floorSeconds: $0.floorSeconds, ratioToFloor: $0.ratioToFloor,
                    wholeWorkFloorSeconds: $0.wholeWorkFloorSeconds, ratioToWholeWorkFloor: $0.ratioToWholeWorkFloor,
                    sameStateWholeWorkFloorSeconds: $0.sameStateWholeWorkFloorSeconds,
                    ratioToSameStateWholeWorkFloor: $0.ratioToSameStateWholeWorkFloor
                )
            }
        }
    }

    /// One catch-up of the pending updates (the events after `eventsAfter`) from a stopped
    /// order-service, beside three floors. Each starts from tables just vacuumed and a checkpoint
    /// just taken, so that each pays for the full-page images of the pages it writes first (without
    /// the checkpoints, whichever ran first after the server's own checkpoint paid them, at random).
    /// The whole work's floor runs twice: first from the catch-up's own starting state, in a
    /// transaction rolled back (and vacuumed away before the catch-up), and again after the
    /// catch-up, as before the twenty-ninth session. The second run finds pages the catch-up's dead
    /// rows left room in, vacuumed, so more of its updates stay on their page (HOT, no index entry):
    /// it is the faster of the two, and not the same work as the catch-up's.
    private func timeCatchUp(boundary: Int, eventsAfter: Int) async throws -> BenchResults.CatchUp {
        let events = options.rounds * options.catchUpUsers
        let clock = ContinuousClock()
        let wholeWorkFloor = try String(contentsOfFile: repositoryFile("benchmarks/catch-up-whole-work-floor.sql"), encoding: .utf8)
        try await admin.query("CHECKPOINT")
        let sameStateSeconds = try await admin.withConnection { connection in
            _ = try await connection.query("BEGIN")
            do {
                let start = clock.now
                _ = try await connection.query(wholeWorkFloor, [eventsAfter])
                let seconds = (clock.now - start).seconds
                _ = try await connection.query("ROLLBACK")
                return seconds
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
        try await settleBeforeAFloor()

        let writesBefore = try await orderWrites()
        let startedAt = Date()
        let started = clock.now
        orderService = try await start("order-service", port: 18081, role: "order_service")
        try await waitForLagZero(timeout: .seconds(3_600))
        let polledSeconds = (clock.now - started).seconds
        // The catch-up ends when the chunk that finished it commits: its position row's commit
        // timestamp (track_commit_timestamp), on the same wall clock as the start. The poll above
        // sees it 0-5 ms later plus a query, which is no work of the catch-up's.
        let finishedAt: Double = try await admin.scalar(
            "SELECT extract(epoch FROM pg_xact_commit_timestamp(p.xmin))::float8 FROM order_service.consumer_positions p WHERE p.consumer = $1",
            [defaultConsumerName]
        )
        let seconds = finishedAt - startedAt.timeIntervalSince1970
        try await stop(orderService, as: "order-service (catch-up)")
        orderService = nil
        // Its backends have exited, so their statistics are flushed.
        let documents = try await orderWrites() - writesBefore

        // The floor: one set-based statement bringing the same orders to the same final state.
        try await settleBeforeAFloor()
        let floorStart = clock.now
        let floorDocs = try await admin.query(
            """
            UPDATE order_service.purchase_orders po
            SET doc = po.doc || jsonb_build_object('user', order_service.user_document(u.id, u.firstname, u.lastname, u.email))
            FROM user_service.users u WHERE po.user_id = u.id AND u.id > $1
            """,
            [boundary]
        ).affectedRows
        let floorSeconds = (clock.now - floorStart).seconds

        // The floor of the whole work again, now after the catch-up: one set-based statement that
        // also reads the events and writes the replica rows, as a catch-up must; the floor above
        // reads no event. The statement is a file of its own
        // (benchmarks/catch-up-whole-work-floor.sql), which the ad hoc psql scripts run too.
        try await settleBeforeAFloor()
        let wholeStart = clock.now
        let wholeDocs = try await admin.query(wholeWorkFloor, [eventsAfter]).affectedRows
        let wholeSeconds = (clock.now - wholeStart).seconds
        log(
            "  \(events) events in \(seconds) s (\(polledSeconds) s until the poll saw it); floor \(floorSeconds) s; floor of the whole work \(sameStateSeconds) s from the same state, "
                + "\(wholeSeconds) s after")
        return .init(
            events: events, orderDocuments: documents, seconds: seconds, polledSeconds: polledSeconds,
            eventsPerSecond: Double(events) / seconds, orderDocumentsPerSecond: Double(documents) / seconds,
            floorSeconds: floorSeconds, floorOrderDocuments: floorDocs, ratioToFloor: seconds / floorSeconds,
            wholeWorkFloorSeconds: wholeSeconds, wholeWorkFloorOrderDocuments: wholeDocs, ratioToWholeWorkFloor: seconds / wholeSeconds,
            sameStateWholeWorkFloorSeconds: sameStateSeconds, ratioToSameStateWholeWorkFloor: seconds / sameStateSeconds
        )
    }

    /// Not timed: the tables the floors write vacuumed, as the catch-up's were, and a checkpoint.
    private func settleBeforeAFloor() async throws {
        try await admin.query("VACUUM order_service.purchase_orders, order_service.users")
        try await admin.query("CHECKPOINT")
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension Array where Element == Double {
    /// The p50 and p99 (nearest rank below); nil when empty.
    var p50AndP99: (p50: Double, p99: Double)? {
        let sorted = self.sorted()
        guard !sorted.isEmpty else { return nil }
        return (sorted[sorted.count / 2], sorted[Swift.min(sorted.count - 1, Int(Double(sorted.count) * 0.99))])
    }
}
