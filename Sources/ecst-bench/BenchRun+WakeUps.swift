import Foundation
import Postgres
import PostgresTestSupport

/// The wake-up path (docs/design.md#wake-ups): what the NOTIFY trigger costs writers, how often they wait
/// on NOTIFY's commit lock, and how fast an update reaches the order-service against the floor of
/// a bare LISTEN session, in every shape users meet.
extension BenchRun {
    struct Shape: Sendable {
        var ordersPerUser: Int
        var standby: Bool

        var label: String { "\(ordersPerUser) orders/user, \(standby ? "active + standby" : "one order-service")" }
    }

    static let wakeUpClients = 16

    func wakeUps(into results: inout BenchResults) async throws {
        try await installLatencyProbes()
        try await stop(standby, as: "order-service (standby)")
        standby = nil
        if orderService == nil { orderService = try await start("order-service", port: 18081, role: "order_service") }
        try await waitForLagZero(timeout: .seconds(600))

        for rate in [100, 1_000] {
            let stealAtStart = HostSteal.now()
            var floor = try await floor(rate: rate)
            floor.hostStealPercent = HostSteal.percent(since: stealAtStart)
            results.floor.append(floor)
            log("  floor at \(rate)/s: p50 \(floor.p50ms) ms, p99 \(floor.p99ms) ms, host steal \(floor.hostStealPercent ?? 0) %")
        }

        try await stop(orderService, as: "order-service")
        orderService = nil
        if !options.skipOnOff {
            results.notify.append(try await notifyOnOff(shape: "no order-service", consumerRunning: false))
        }

        for shape in options.shapes {
            log("  shape: \(shape.label)")
            try await setUp(shape)
            if !options.skipOnOff {
                results.notify.append(try await notifyOnOff(shape: shape.label, consumerRunning: true))
            }
            for rate in [100, 1_000] {
                let stealAtStart = HostSteal.now()
                var row = try await propagation(rate: rate, shape: shape.label)
                row.hostStealPercent = HostSteal.percent(since: stealAtStart)
                if let floor = results.floor.first(where: { $0.offeredRate == row.offeredRate }) {
                    row = Self.against(floor, row)
                }
                results.propagation.append(row)
            }
        }
        try await stop(standby, as: "order-service (standby)")
        standby = nil
        try await admin.query("DROP TRIGGER bench_applied ON order_service.users")
    }

    /// Orders per user as the shape says, and one or two order-services applying them.
    func setUp(_ shape: Shape) async throws {
        try await admin.query("DELETE FROM order_service.purchase_orders WHERE id > 1")
        if shape.ordersPerUser > 0 {
            try await admin.query(
                """
                INSERT INTO order_service.purchase_orders (user_id, product_id, doc)
                SELECT u.id, 1, jsonb_build_object('price', 300) FROM user_service.users u, generate_series(1, $1::int) WHERE u.id > 1
                """,
                [shape.ordersPerUser]
            )
        }
        try await admin.query("VACUUM ANALYZE order_service.purchase_orders")
        if orderService == nil { orderService = try await start("order-service", port: 18081, role: "order_service") }
        if shape.standby, standby == nil {
            standby = try await start("order-service", port: 18082, role: "order_service")
        } else if !shape.standby {
            try await stop(standby, as: "order-service (standby)")
            standby = nil
        }
        try await waitForLagZero(timeout: .seconds(600))
    }

    /// pgbench at full speed with the trigger on, and disabled with a ticker sending
    /// `NOTIFY ecst_events` from another session: every 20 ms (the consumers apply the same events
    /// in fewer, larger batches), and as often as the writers' notifications arrived in the "on"
    /// runs (the consumers wake as often as with the trigger on), so that the last pair differs
    /// only in what writers do at commit. Writer wait events sampled every 10 ms in each.
    /// Successive runs on these machines drift by 10-20 % and scatter more, so the three kinds run
    /// in rounds (`--on-off-rounds`), in reverse order every other round (on, 20 ms, matched,
    /// matched, 20 ms, on, ...), and each figure is the mean of its runs. A ticker's notification
    /// commits without waiting for its WAL flush: a writer's rides on a commit it makes anyway,
    /// while the matched ticker's hundreds a second would otherwise each add a flush of their own.
    /// Each run also counts where the CPU went (WakeUpCPUCounter); with `--on-off-rate`, pgbench
    /// offers that rate instead of running at full speed, and those counts are the figures.
    func notifyOnOff(shape: String, consumerRunning: Bool) async throws -> BenchResults.NotifyRow {
        let clients = Self.wakeUpClients
        let sampler = WaitSampler(url: url)
        let cpuCounter = WakeUpCPUCounter(url: url)
        let admin = self.admin
        let orderServices = [orderService, standby].compactMap { $0?.pid }
        /// What one run measured: its tps, writer waits, notifications a second and CPU counts.
        typealias Run = (tps: Double, waits: WaitSampler.Waits, wakeUpsPerSecond: Double, cpu: BenchResults.WakeUpCPU?)
        /// One pgbench run (at full speed, or at `--on-off-rate`), with the counting session listening
        /// (its wake-ups are the benchmark's: with a matched ticker it takes as many in "off" runs as
        /// in "on" runs) and, when `interval` is given, a ticker notifying `ecst_events` from another session.
        func run(ticking interval: Duration?) async throws -> Run {
            let (counted, counter) = try await NotificationLog.listening(on: "ecst_events", as: "ecst-bench/count", client: admin)
            let ticker = interval.map { interval in
                Task {
                    let clock = ContinuousClock()
                    var next = clock.now
                    while !Task.isCancelled {
                        _ = try? await admin.query("SELECT set_config('synchronous_commit', 'off', true), pg_notify('ecst_events', '')")
                        next += interval
                        try? await Task.sleep(until: next, clock: clock)
                    }
                }
            }
            // Each run starts right after a checkpoint, so none pays more full-page writes than another.
            try await admin.query("CHECKPOINT")
            sampler.start()
            cpuCounter.start(seconds: options.seconds, orderServices: orderServices)
            let tps = try Tools.pgbench(
                pgBin, url: url, script: scripts + "/update.sql", clients: clients, seconds: options.seconds, rate: options.onOffRate)
            let waits = await sampler.stop()
            let cpu = await cpuCounter.stop()
            ticker?.cancel()
            _ = await ticker?.value
            counter.cancel()
            _ = await counter.result
            return (tps, waits, Double(counted.count) / Double(options.seconds), cpu)
        }
        func runOn() async throws -> Run {
            let result = try await run(ticking: nil)
            if consumerRunning { try await waitForLagZero(timeout: .seconds(600)) }
            return result
        }
        func runOff(ticking interval: Duration) async throws -> Run {
            try await admin.query("ALTER TABLE user_service.events DISABLE TRIGGER events_notify")
            let result = try await run(ticking: interval)
            try await admin.query("ALTER TABLE user_service.events ENABLE TRIGGER events_notify")
            if consumerRunning { try await waitForLagZero(timeout: .seconds(600)) }
            return result
        }

        enum Kind { case on, everyTwentyMilliseconds, matched }
        // Without a consumer a ticker wakes only the counting session, as the writers' NOTIFYs do.
        let kinds: [Kind] = [.on, .everyTwentyMilliseconds, .matched]
        var on: [Run] = []
        var everyTwenty: [Run] = []
        var matched: [Run] = []
        for round in 0..<options.onOffRounds {
            for kind in round % 2 == 0 ? kinds : kinds.reversed() {
                switch kind {
                case .on: on.append(try await runOn())
                case .everyTwentyMilliseconds: everyTwenty.append(try await runOff(ticking: .milliseconds(20)))
                case .matched:
                    // The "on" runs so far: one always precedes the first matched run.
                    let wakeUpsPerSecond = on.map(\.wakeUpsPerSecond).reduce(0, +) / Double(max(1, on.count))
                    matched.append(try await runOff(ticking: .microseconds(Int64(1_000_000 / max(1, wakeUpsPerSecond)))))
                }
            }
        }
        await sampler.close()
        await cpuCounter.close()
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(1, values.count)) }
        func waits(_ all: [WaitSampler.Waits]) -> WaitSampler.Waits {
            WaitSampler.Waits(active: all.map(\.active).reduce(0, +), lockObject: all.map(\.lockObject).reduce(0, +))
        }
        let onTPS = mean(on.map(\.tps))
        let offTPS = mean(everyTwenty.map(\.tps))
        let matchedTPS = mean(matched.map(\.tps))
        let onWaits = waits(on.map(\.waits))
        let wakeUpsPerSecond = mean(on.map(\.wakeUpsPerSecond))
        func runs(_ values: [Double]) -> String { values.map { "\(Int($0))" }.joined(separator: ", ") }
        let (cpuOn, cpuOff, cpuMatched) = (
            BenchResults.WakeUpCPU.mean(on.map(\.cpu)), BenchResults.WakeUpCPU.mean(everyTwenty.map(\.cpu)),
            BenchResults.WakeUpCPU.mean(matched.map(\.cpu))
        )
        func described(_ cpu: BenchResults.WakeUpCPU?) -> String {
            guard let cpu else { return "-" }
            return "writers \(Int(cpu.writersMicrosecondsPerUpdate)), consumer \(Int(cpu.consumerBackendsMicrosecondsPerUpdate))"
                + " + \(Int(cpu.orderServicesMicrosecondsPerUpdate)) us/update, \(Int(cpu.appliesPerSecond)) applies/s"
        }
        log(
            "    \(clients) clients: notify on \(Int(onTPS)) tps (\(runs(on.map(\.tps))); Lock:object \(onWaits.percent), \(Int(wakeUpsPerSecond)) wake-ups/s), "
                + "off \(Int(offTPS)) tps with a 20 ms ticker (\(runs(everyTwenty.map(\.tps))); \(String(format: "%.2f", onTPS / offTPS))x), "
                + "\(Int(matchedTPS)) with a matched ticker (\(runs(matched.map(\.tps))); \(String(format: "%.2f", onTPS / matchedTPS))x)"
        )
        log("      CPU: on \(described(cpuOn)); 20 ms \(described(cpuOff)); matched \(described(cpuMatched))")
        return .init(
            shape: shape, clients: clients, withNotifyTPS: onTPS, withNotifyRunsTPS: on.map(\.tps), withoutNotifyTPS: offTPS,
            withoutNotifyRunsTPS: everyTwenty.map(\.tps), ratio: onTPS / offTPS,
            lockObjectShareOn: onWaits.share, lockObjectShareOff: waits(everyTwenty.map(\.waits)).share, activeWriterSamplesOn: onWaits.active,
            wakeUpsPerSecondOn: wakeUpsPerSecond, withoutNotifyMatchedTickerTPS: matchedTPS, withoutNotifyMatchedTickerRunsTPS: matched.map(\.tps),
            ratioMatched: onTPS / matchedTPS, lockObjectShareOffMatched: waits(matched.map(\.waits)).share,
            offeredRate: options.onOffRate, cpuOn: cpuOn, cpuOff: cpuOff, cpuMatched: cpuMatched
        )
    }

    /// Records, per replica row the consumer writes, the email it wrote and the consumer's
    /// transaction: the consumer's commit timestamp is when the update became visible to orders
    /// (replica and orders change in one transaction), with or without orders.
    func installLatencyProbes() async throws {
        try await Self.installAppliedProbe(on: admin)
        try await Self.installFloorProbe(on: admin)
        try """
        \\set id random(1, 64)
        BEGIN;
        UPDATE public.bench_floor SET n = n + 1 WHERE id = :id;
        SELECT pg_notify('bench_floor', pg_current_xact_id()::text);
        COMMIT;
        """.write(toFile: scripts + "/floor.sql", atomically: true, encoding: .utf8)
        if geteuid() == 0 { _ = try? LocalCluster.run("/bin/chmod", ["-R", "a+rX", scripts]) }
    }

    /// The floor's table (`floor.sql` updates it), on any server the floor is measured on.
    static func installFloorProbe(on admin: PostgresClient) async throws {
        try await admin.query("CREATE TABLE IF NOT EXISTS public.bench_floor (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)")
        try await admin.query("INSERT INTO public.bench_floor (id) SELECT generate_series(1, 64) ON CONFLICT DO NOTHING")
    }

    /// The per-update probe on a server running an order-service: `public.bench_applied`.
    static func installAppliedProbe(on admin: PostgresClient) async throws {
        try await admin.query("CREATE TABLE IF NOT EXISTS public.bench_applied (email text, xid xid8, started timestamptz)")
        try await admin.query(
            """
            CREATE OR REPLACE FUNCTION public.bench_record_applied() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
            BEGIN
                INSERT INTO public.bench_applied VALUES (NEW.email, pg_current_xact_id(), statement_timestamp());
                RETURN NULL;
            END $$
            """
        )
        try await admin.query(
            """
            CREATE OR REPLACE TRIGGER bench_applied AFTER INSERT OR UPDATE ON order_service.users
            FOR EACH ROW EXECUTE FUNCTION public.bench_record_applied()
            """
        )
    }

    /// The floor: an UPDATE and a NOTIFY committed, to a bare LISTEN session (this client's
    /// listener: a thread in poll(2) on the socket, as the consumer's) waking with it, stamped on that
    /// thread as it reads the notification: the consumer reacts on the same thread, without a hop.
    /// On the run's cluster unless `server` names another (its URL and a superuser client) that
    /// has the probe (`installFloorProbe`).
    func floor(rate: Int, on server: (url: String, client: PostgresClient)? = nil, shape: String = "floor") async throws -> BenchResults.LatencyRow {
        let (url, admin) = server ?? (self.url, self.admin)
        let (woken, listener) = try await NotificationLog.listening(on: "bench_floor", as: "ecst-bench/floor", client: admin)
        let (tps, writers) = try Tools.pgbenchLatencies(
            pgBin, url: url, script: scripts + "/floor.sql", clients: Self.wakeUpClients, seconds: options.seconds, rate: rate, logFolder: scripts
        )
        try await eventually(timeout: .seconds(10), "the last notifications") { woken.count >= Int(tps * Double(options.seconds) * 0.95) }
        listener.cancel()
        _ = await listener.result
        let (xids, times) = woken.arrays()
        let row = try await admin.query(
            """
            WITH latency AS (
                SELECT t - extract(epoch FROM pg_xact_commit_timestamp(x::xid8::text::xid))::float8 AS seconds
                FROM unnest($1, $2) AS r(x, t)
            )
            SELECT count(*)::int AS samples,
                   (percentile_disc(ARRAY[0.5, 0.9, 0.99, 0.999]) WITHIN GROUP (ORDER BY seconds)) AS quantiles,
                   coalesce(max(seconds), 0) AS max
            FROM latency
            """,
            [xids, times]
        )[0]
        return try latencyRow(row, offered: "\(rate)/s", tps: tps, superseded: 0, shape: shape, lockObjectShare: nil, writers: writers)
    }

    /// pgbench at an offered rate, writer commit to the consumer's commit, per update.
    func propagation(rate: Int, shape: String) async throws -> BenchResults.LatencyRow {
        try await admin.query("TRUNCATE public.bench_applied")
        let start: Int = try await admin.scalar("SELECT coalesce(max(id), 0) FROM user_service.events")
        let sampler = WaitSampler(url: url)
        try await admin.query("CHECKPOINT")
        sampler.start()
        let (tps, writers) = try Tools.pgbenchLatencies(
            pgBin, url: url, script: scripts + "/update.sql", clients: Self.wakeUpClients, seconds: options.seconds, rate: rate, logFolder: scripts
        )
        let waits = await sampler.stop()
        await sampler.close()
        try await waitForLagZero(timeout: .seconds(600))
        let row = try await admin.query(Self.latencySQL, [start])[0]
        var result = try latencyRow(
            row, offered: "\(rate)/s", tps: tps, superseded: try row.decode("superseded"), shape: shape, lockObjectShare: waits.share,
            writers: writers
        )
        let started = try row.decode("started_quantiles", as: [Double].self).map { $0 * 1000 }
        (result.startedP50ms, result.startedP99ms) = (started[0], started[1])
        log(
            "    \(rate)/s: p50 \(result.p50ms) ms, p99 \(result.p99ms) ms (the applying statement started after p50 \(started[0]) ms, p99 \(started[1]) ms), "
                + "Lock:object \(waits.percent)")
        return result
    }

    /// `row` with its p50 and p99 as multiples of `floor`'s.
    static func against(_ floor: BenchResults.LatencyRow, _ row: BenchResults.LatencyRow) -> BenchResults.LatencyRow {
        var row = row
        (row.p50ToFloor, row.p99ToFloor) = (row.p50ms / floor.p50ms, row.p99ms / floor.p99ms)
        return row
    }

    /// A row from a latency query's `quantiles` (p50, p90, p99, p99.9), `samples` and `max`
    /// columns, in seconds; `columns` names another set of them (`hop_quantiles`, ...).
    func latencyRow(
        _ row: PostgresRow, columns: String = "", offered: String, tps: Double, superseded: Int, shape: String, lockObjectShare: Double?,
        writers: Tools.WriterLatency?
    ) throws -> BenchResults.LatencyRow {
        let quantiles = try row.decode(columns + "quantiles", as: [Double].self).map { $0 * 1000 }
        var result = BenchResults.LatencyRow(
            shape: shape, offeredRate: offered, achievedTPS: tps, samples: try row.decode(columns + "samples"), superseded: superseded,
            p50ms: quantiles[0], p90ms: quantiles[1], p99ms: quantiles[2], p999ms: quantiles[3],
            maxms: (try row.decode(columns + "max", as: Double.self)) * 1000, lockObjectShare: lockObjectShare
        )
        result.writers = writers
        return result
    }

    /// Writer commit to the commit of the consumer transaction that wrote its data to the replica.
    /// An update superseded by a newer one of the same user in the same batch is never applied on
    /// its own; it is counted apart.
    static let latencySQL = """
        WITH written AS (
            SELECT e.payload ->> 'email' AS email, pg_xact_commit_timestamp(e.xid::text::xid) AS committed
            FROM user_service.events e WHERE e.id > $1 AND e.type = 'UserUpdated'
        ), applied AS (
            SELECT DISTINCT ON (email) email, pg_xact_commit_timestamp(xid::text::xid) AS applied, started
            FROM public.bench_applied ORDER BY email, pg_xact_commit_timestamp(xid::text::xid)
        ), latency AS (
            SELECT extract(epoch FROM a.applied - w.committed)::float8 AS seconds,
                   extract(epoch FROM a.started - w.committed)::float8 AS until_started
            FROM written w JOIN applied a USING (email)
        )
        SELECT (SELECT count(*) FROM latency) AS samples,
               (SELECT percentile_disc(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY until_started) FROM latency) AS started_quantiles,
               (SELECT count(*) FROM written) - (SELECT count(*) FROM latency) AS superseded,
               (SELECT percentile_disc(ARRAY[0.5, 0.9, 0.99, 0.999]) WITHIN GROUP (ORDER BY seconds) FROM latency) AS quantiles,
               (SELECT coalesce(max(seconds), 0) FROM latency) AS max
        """

    // MARK: Idle

    /// An idle order-service: CPU and transactions per second over `--idle-seconds` without writes.
    func idle(into results: inout BenchResults) async throws {
        try await stop(standby, as: "order-service (standby)")
        standby = nil
        if orderService == nil { orderService = try await start("order-service", port: 18081, role: "order_service") }
        try await waitForLagZero(timeout: .seconds(600))
        guard let process = orderService else { return }
        let transactions = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        // The count is the database's, as backends report it: an idle backend reports what it did up
        // to 10 s late (PostgreSQL 15's idle statistics interval), so the setup's last transactions
        // (seeding, the catch-up, the lag polls) are waited out first; they used to land inside the
        // window (12-17 transactions a second over 20-30 s alone, under 1 once waited out). The
        // window's own late reports then weigh the same at both ends.
        try await Task.sleep(for: .seconds(12))
        let cpuBefore = ProcessUsage.read(pid: process.pid).cpuSeconds
        let before: Int = try await admin.scalar(transactions)
        try await Task.sleep(for: .seconds(options.idleSeconds))
        let cpuAfter = ProcessUsage.read(pid: process.pid).cpuSeconds
        let after: Int = try await admin.scalar(transactions)
        let seconds = Double(options.idleSeconds)
        results.idle = .init(
            seconds: seconds, cpuPercentOfACore: (cpuAfter - cpuBefore) / seconds * 100,
            transactionsPerSecond: Double(max(after - before - 1, 0)) / seconds
        )
        log("  idle: \(results.idle!.cpuPercentOfACore)% of a core, \(results.idle!.transactionsPerSecond) transactions/s")
    }
}

/// Samples, every 10 ms, what pgbench's backends are doing: how many are active, and how many of
/// those wait on NOTIFY's commit lock (`Lock:object`).
final class WaitSampler: @unchecked Sendable {
    // @unchecked Sendable: `task` is only touched by the benchmark's one driving task.
    private let client: PostgresClient
    private var task: Task<(Int, Int), Never>?

    struct Waits {
        var active: Int
        var lockObject: Int
        var share: Double { active == 0 ? 0 : Double(lockObject) / Double(active) }
        var percent: String { String(format: "%.2f%%", share * 100) }
    }

    init(url: String) {
        client = PostgresClient(configuration: .init(connectionString: url, maximumConnections: 1).named("ecst-bench/sampler"))
    }

    func start() {
        let client = self.client
        task = Task {
            var active = 0
            var waiting = 0
            while !Task.isCancelled {
                if let row = try? await client.withConnection({ connection in
                    try await connection.prepared(
                        """
                        SELECT count(*) FILTER (WHERE state = 'active')::int,
                               count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock' AND wait_event = 'object')::int
                        FROM pg_stat_activity WHERE application_name = 'pgbench'
                        """
                    )
                })[0] {
                    active += (try? row.decode(0, as: Int.self)) ?? 0
                    waiting += (try? row.decode(1, as: Int.self)) ?? 0
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return (active, waiting)
        }
    }

    func stop() async -> Waits {
        task?.cancel()
        let (active, waiting) = await task?.value ?? (0, 0)
        task = nil
        return Waits(active: active, lockObject: waiting)
    }

    func close() async { await client.close() }
}

/// Notifications received by the floor's listener, with the time its thread read each.
final class NotificationLog: @unchecked Sendable {
    // @unchecked Sendable: every field is behind `lock`.
    private let lock = NSLock()
    private var payloads: [String] = []
    private var times: [Double] = []
    private var ready = false

    /// A log fed by a listener on `channel` (cancel the task to stop it), once it listens.
    static func listening(on channel: String, as name: String, client: PostgresClient) async throws -> (NotificationLog, Task<Void, any Error>) {
        let log = NotificationLog()
        let task = Task {
            try await client.listen(on: channel, applicationName: name) { events in
                for await event in events {
                    switch event {
                    case .listening: log.lock.withLock { log.ready = true }
                    case .notification(let n): log.record(n.payload, at: n.received.timeIntervalSince1970)
                    case .interrupted, .reacted: break
                    }
                }
            }
        }
        try await eventually(timeout: .seconds(10), "\(name) to listen") { log.lock.withLock { log.ready } }
        return (log, task)
    }

    var count: Int { lock.withLock { payloads.count } }

    /// `time`: when the listener's thread read it, not when this task got it (seconds since 1970).
    func record(_ payload: String, at time: Double) {
        lock.withLock {
            payloads.append(payload)
            times.append(time)
        }
    }

    /// As arrays for `unnest`.
    func arrays() -> ([String], [Double]) {
        lock.withLock { (payloads, times) }
    }
}
