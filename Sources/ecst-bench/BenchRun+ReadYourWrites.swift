import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Postgres
import PostgresTestSupport

/// Read your writes (docs/design.md#read-your-writes): a client PUTs an update at user-service,
/// then GETs the user's order at order-service with the answer's ECST-Token as ECST-After, at an
/// offered rate. Reported: the whole round trip, the PUT alone, and how long after the consumer's
/// commit that applied the write the GET was answered (the watch's own cost).
extension BenchRun {
    /// A pair's figures; `plainGet` is the same GET without ECST-After, right after, for every tenth
    /// pair (so the baseline adds little load): what a read costs by itself.
    typealias ReadYourWritesSample = PairLoad.Sample

    /// Its own client: the shared one keeps 8 connections per host, which queued requests at 1,000/s.
    static let readYourWritesClient = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: .init(connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256))
    )

    func readYourWrites(into results: inout BenchResults) async throws {
        try await installLatencyProbes()
        try await startUserService()
        try await setUp(Shape(ordersPerUser: options.readYourWritesOrdersPerUser, standby: false))
        let orders = Dictionary(
            uniqueKeysWithValues: try await admin.query("SELECT user_id, min(id) FROM order_service.purchase_orders GROUP BY user_id").map {
                (try $0.decode(0, as: Int64.self), try $0.decode(1, as: Int64.self))
            })
        let users = Array(orders.keys)
        for rate in options.readYourWritesRates {
            results.readYourWrites.append(try await measure(rate: rate, users: users, orders: orders, readingFrom: "active", port: 18081))
        }
        // A standby answers too, on the applying process's notifications.
        standby = try await start("order-service", port: 18082, role: "order_service")
        results.readYourWrites.append(try await measure(rate: 100, users: users, orders: orders, readingFrom: "standby", port: 18082))
        try await stop(standby, as: "order-service (standby)")
        standby = nil
        try await admin.query("DROP TRIGGER bench_applied ON order_service.users")
    }

    private func measure(
        rate: Int, users: [Int64], orders: [Int64: Int64], readingFrom target: String, port: Int
    ) async throws -> BenchResults.ReadYourWritesRow {
        try await admin.query("TRUNCATE public.bench_applied")
        let stealAtStart = HostSteal.now()
        let services = [userService, orderService, standby].compactMap { $0?.pid }
        func cpu(_ pids: [Int32]) -> Double { pids.map { ProcessUsage.read(pid: $0).cpuSeconds }.reduce(0, +) }
        let (clientBefore, servicesBefore) = (cpu([getpid()]), cpu(services))
        let label = "\(target)-\(rate)"
        let samples =
            options.readYourWritesClient == "pairs"
            ? try await offerPairs(rate: rate, users: users, orders: orders, port: port, label: label)
            : try await offer(rate: rate, users: users, orders: orders, port: port, label: label)
        let perPair = 1e6 / Double(max(samples.count, 1))
        let clientCPU = (cpu([getpid()]) - clientBefore) * perPair
        let servicesCPU = (cpu(services) - servicesBefore) * perPair
        let row = try await admin.query(
            """
            WITH answered AS (SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[]) AS a(email, sent, at)),
            applied AS (
                SELECT DISTINCT ON (email) email, extract(epoch FROM pg_xact_commit_timestamp(xid::text::xid))::float8 AS committed
                FROM public.bench_applied ORDER BY email, pg_xact_commit_timestamp(xid::text::xid)
            ),
            -- Only GETs that had to wait: sent before the write was applied.
            waited AS (SELECT a.at - p.committed AS after FROM answered a JOIN applied p USING (email) WHERE a.sent < p.committed)
            SELECT coalesce((SELECT percentile_disc(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY after) FROM waited), '{0,0}'),
                   (SELECT count(*)::int FROM waited)
            """,
            [samples.map(\.email), samples.map(\.getSentAt), samples.map(\.answeredAt)]
        )[0]
        let afterApply = try row.decode(0, as: [Double].self).map { $0 * 1_000 }
        let waited: Int = try row.decode(1)
        func quantiles(_ values: [Double]) -> (Double, Double) {
            let (p50, p99) = values.p50AndP99 ?? (0, 0)
            return (p50 * 1_000, p99 * 1_000)
        }
        let roundTrip = quantiles(samples.map(\.roundTrip))
        let put = quantiles(samples.map(\.put))
        let plain = quantiles(samples.compactMap(\.plainGet))
        let steal = HostSteal.percent(since: stealAtStart)
        let result = BenchResults.ReadYourWritesRow(
            offeredRate: "\(rate)/s", readingFrom: target, ordersPerUser: options.readYourWritesOrdersPerUser, client: options.readYourWritesClient,
            clientCPUPerPairMicroseconds: clientCPU,
            servicesCPUPerPairMicroseconds: servicesCPU, requests: samples.count, failed: samples.filter { $0.status != 200 }.count,
            staleAnswers: samples.filter { $0.status == 200 && !$0.showsTheWrite }.count,
            roundTripP50ms: roundTrip.0, roundTripP99ms: roundTrip.1, putP50ms: put.0, putP99ms: put.1,
            plainGetP50ms: plain.0, plainGetP99ms: plain.1,
            waited: waited, answeredAfterApplyP50ms: afterApply[0], answeredAfterApplyP99ms: afterApply[1], hostStealPercent: steal
        )
        log(
            "  \(rate)/s, reading from the \(target): round trip p50 \(result.roundTripP50ms) ms, p99 \(result.roundTripP99ms) ms (PUT alone p50 \(put.0) ms, plain GET p50 \(plain.0) ms); "
                + "\(waited) waited, answered after the applying commit p50 \(afterApply[0]) ms, p99 \(afterApply[1]) ms; "
                + "\(result.failed) failed, \(result.staleAnswers) stale; CPU per pair: client (\(options.readYourWritesClient)) \(Int(clientCPU)) us, services \(Int(servicesCPU)) us; host steal \(steal.map { String(format: "%.1f", $0) } ?? "-") %"
        )
        return result
    }

    /// The pairs of `offer` on PairLoad's one event loop.
    private func offerPairs(rate: Int, users: [Int64], orders: [Int64: Int64], port: Int, label: String) async throws -> [ReadYourWritesSample] {
        let pairs = (0..<(rate * options.seconds)).map { n in
            let user = users[n % users.count]
            let email = Self.email(ofPair: n, label: label)
            let body = Self.updateBody(user: user, email: email)
            let put =
                "PUT /user-service/update HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
                + body
            return PairLoad.Pair(put: Array(put.utf8), getPath: "/order-service/\(orders[user]!)", email: email, plainGetToo: n % 10 == 0)
        }
        let load = PairLoad(loop: Self.pairLoop.next(), putPort: 18080, getPort: port)
        let samples = try await load.run(pairs, interval: TimeAmount.nanoseconds(1_000_000_000 / Int64(rate))).get()
        try await load.close().get()
        return samples
    }

    /// The n-th pair's new email; `label` keeps each measurement's emails its own (a repeated one
    /// would be a change of nothing).
    private static func email(ofPair n: Int, label: String) -> String { "ryw-\(getpid())-\(label)-\(n)@bench.io" }

    /// The PUT's body: `user` with a new `email`.
    private static func updateBody(user: Int64, email: String) -> String {
        #"{"id": \#(user), "firstname": "F", "lastname": "L", "email": "\#(email)"}"#
    }

    /// One thread for PairLoad: a pair's requests and answers never change threads.
    static let pairLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Starts a PUT-then-GET every 1/rate seconds for `--seconds`, each on its own task.
    private func offer(rate: Int, users: [Int64], orders: [Int64: Int64], port: Int, label: String) async throws -> [ReadYourWritesSample] {
        let total = rate * options.seconds
        let clock = ContinuousClock()
        let start = clock.now
        let interval = Duration.seconds(1) / rate
        return try await withThrowingTaskGroup(of: ReadYourWritesSample.self) { group in
            for n in 0..<total {
                try await Task.sleep(until: start + interval * n)
                let user = users[n % users.count]
                let order = orders[user]!
                group.addTask {
                    try await Self.putThenGet(
                        user: user, order: order, email: Self.email(ofPair: n, label: label), port: port, plainGetToo: n % 10 == 0)
                }
            }
            var samples: [ReadYourWritesSample] = []
            for try await sample in group { samples.append(sample) }
            return samples
        }
    }

    private static func putThenGet(
        user: Int64, order: Int64, email: String, port: Int, plainGetToo: Bool
    ) async throws -> ReadYourWritesSample {
        let clock = ContinuousClock()
        let started = clock.now
        var put = HTTPClientRequest(url: "http://127.0.0.1:18080/user-service/update")
        put.method = .PUT
        put.headers.add(name: "content-type", value: "application/json")
        put.body = .bytes(ByteBuffer(string: Self.updateBody(user: user, email: email)))
        let written = try await Self.readYourWritesClient.execute(put, timeout: .seconds(30))
        _ = try await written.body.collect(upTo: 1 << 20)
        let putDone = clock.now
        let getSentAt = Date().timeIntervalSince1970
        var get = HTTPClientRequest(url: "http://127.0.0.1:\(port)/order-service/\(order)")
        get.headers.add(name: "ECST-After", value: written.headers.first(name: "ECST-Token") ?? "")
        let answer = try await Self.readYourWritesClient.execute(get, timeout: .seconds(30))
        let body = try await answer.body.collect(upTo: 1 << 20)
        let answeredAt = Date().timeIntervalSince1970
        let answered = clock.now
        var plainGet: Double?
        if plainGetToo {
            let plain = try await Self.readYourWritesClient.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/order-service/\(order)"), timeout: .seconds(30))
            _ = try await plain.body.collect(upTo: 1 << 20)
            plainGet = (clock.now - answered).seconds
        }
        return ReadYourWritesSample(
            email: email, roundTrip: (answered - started).seconds, put: (putDone - started).seconds, getSentAt: getSentAt, answeredAt: answeredAt,
            status: Int(answer.status.code), showsTheWrite: String(buffer: body).contains(email), plainGet: plainGet
        )
    }
}
