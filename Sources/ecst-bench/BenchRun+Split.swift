import Foundation
import Operations
import OrderService
import Postgres
import PostgresTestSupport

/// A database per service (docs/replication.md): an update's way from the writer's commit on the
/// users' server to the order-service's commit on the orders' server, with the replication hop
/// (writer commit to the commit of the copy's transaction) apart, beside the single database's
/// propagation measured in the same run at the same rates and shape (one order per user).
extension BenchRun {
    func split(into results: inout BenchResults) async throws {
        try await installLatencyProbes()
        try await setUp(Shape(ordersPerUser: 1, standby: false))
        for rate in [100, 1_000] {
            let floor = try await floor(rate: rate, shape: "floor: single database")
            let row = try await propagation(rate: rate, shape: "single database, 1 orders/user")
            results.split += [floor, Self.against(floor, row)]
        }
        try await stop(orderService, as: "order-service")
        orderService = nil
        try await admin.query("DROP TRIGGER bench_applied ON order_service.users")

        let settings = ["track_commit_timestamp=on", "max_wal_size=4GB"]
        let usersCluster = try await LocalCluster.start(durable: true, extraSettings: settings + ["wal_level=logical"])
        let ordersCluster = try await LocalCluster.start(durable: true, extraSettings: settings)
        var urls: [String] = []
        for (cluster, part) in [(usersCluster, "users"), (ordersCluster, "orders")] {
            try await PostgresClient.withClient(configuration: .init(connectionString: cluster.url, maximumConnections: 1)) {
                _ = try await $0.query("CREATE DATABASE ecst")
            }
            try await SQLFile.apply(repositoryFile("schema.sql"), connectionString: cluster.url, database: "ecst", variables: ["part": part])
            urls.append("postgresql://postgres@127.0.0.1:\(cluster.port)/ecst")
        }
        let users = PostgresClient(configuration: .init(connectionString: urls[0], maximumConnections: 2).named("ecst-bench"))
        let orders = PostgresClient(configuration: .init(connectionString: urls[1], maximumConnections: 2).named("ecst-bench"))
        defer {
            Task {
                await users.close()
                await orders.close()
            }
        }
        try await users.query(
            "INSERT INTO user_service.users (firstname, lastname, email) SELECT 'F', 'L', 'u' || i || '@bench.io' FROM generate_series(5, $1::int) AS i",
            [options.users])
        _ = try await EventReplication.publish(on: users, replicationPassword: "bench", slot: "ecst_events")
        _ = try await EventReplication.subscribe(
            on: orders, publisher: "host=127.0.0.1 port=\(usersCluster.port) dbname=ecst user=ecst_replication password=bench", slot: "ecst_events")
        let split = try await start("order-service", port: 18083, role: "order_service", extra: ["DATABASE_URL": urls[1]])
        try await waitUntilCopied(users: users, orders: orders)
        try await orders.query(
            "INSERT INTO order_service.purchase_orders (user_id, product_id, doc) SELECT id, 1, '{\"price\": 300}' FROM order_service.users WHERE id > 1")
        try await orders.query("VACUUM ANALYZE order_service.purchase_orders")
        try await Self.installAppliedProbe(on: orders)
        // When the apply worker wrote each copied row: its commit takes the users' server's commit
        // timestamp (track_commit_timestamp records the origin's), so the hop is timed here.
        try await orders.query("CREATE TABLE public.bench_copied (email text, at timestamptz)")
        try await orders.query(
            """
            CREATE FUNCTION public.bench_record_copied() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO public.bench_copied VALUES (NEW.payload ->> 'email', clock_timestamp());
                RETURN NULL;
            END $$
            """)
        try await orders.query(
            "CREATE TRIGGER bench_copied AFTER INSERT ON user_service.events FOR EACH ROW EXECUTE FUNCTION public.bench_record_copied()")
        try await orders.query("ALTER TABLE user_service.events ENABLE REPLICA TRIGGER bench_copied")
        try await Self.installFloorProbe(on: users)

        for rate in [100, 1_000] {
            // The floor on the users' server itself: its commits wait for the same disk as the
            // writers' whose WAL the walsender may send only once flushed.
            let floor = try await floor(rate: rate, on: (urls[0], users), shape: "floor: users' server")
            let (hop, ordersSide, total) = try await splitPropagation(rate: rate, usersURL: urls[0], users: users, orders: orders)
            log(
                "    split at \(rate)/s: writer -> orders p50 \(total.p50ms) ms, p99 \(total.p99ms) ms; of it the replication hop p50 \(hop.p50ms) ms, p99 \(hop.p99ms) ms; "
                    + "the users' server's floor p50 \(floor.p50ms) ms, p99 \(floor.p99ms) ms"
            )
            results.split += [floor, Self.against(floor, hop), ordersSide, Self.against(floor, total)]
        }
        try await stop(split, as: "order-service (split)")
    }

    /// The orders' copy holds every event of the users' server and the consumer has applied it.
    func waitUntilCopied(users: PostgresClient, orders: PostgresClient) async throws {
        try await eventually(timeout: .seconds(600), "the orders' copy to catch up") {
            let published: Int64 = try await users.scalar("SELECT coalesce(max(id), 0) FROM user_service.events")
            let copied: Int64 = try await orders.scalar("SELECT coalesce(max(id), 0) FROM user_service.events")
            guard published == copied else { return false }
            return try await orders.scalar("SELECT order_service.caught_up($1)", [defaultConsumerName])
        }
    }

    /// pgbench's UPDATE on the users' server at an offered rate; per update, writer commit to the
    /// apply worker's insert of the copied row (the hop, a little before that transaction's commit)
    /// and to the order-service's commit, both on the orders' server; and the orders' side alone,
    /// the copied row to the order-service's commit (no commit of the users' server in it: the
    /// walsender sends a writer's commit once flushed, so a slow flush there is in the hop).
    /// Both servers run on this machine, so their commit timestamps share one clock.
    func splitPropagation(
        rate: Int, usersURL: String, users: PostgresClient, orders: PostgresClient
    ) async throws -> (hop: BenchResults.LatencyRow, ordersSide: BenchResults.LatencyRow, total: BenchResults.LatencyRow) {
        try await orders.query("TRUNCATE public.bench_applied, public.bench_copied")
        let start: Int64 = try await users.scalar("SELECT coalesce(max(id), 0) FROM user_service.events")
        try await users.query("CHECKPOINT")
        let (tps, writers) = try Tools.pgbenchLatencies(
            pgBin, url: usersURL, script: scripts + "/update.sql", clients: Self.wakeUpClients, seconds: options.seconds, rate: rate, logFolder: scripts)
        try await waitUntilCopied(users: users, orders: orders)
        let written = try await users.query(
            """
            SELECT coalesce(array_agg(payload ->> 'email'), '{}'),
                   coalesce(array_agg(extract(epoch FROM pg_xact_commit_timestamp(xid::text::xid))::float8), '{}')
            FROM user_service.events WHERE id > $1 AND type = 'UserUpdated'
            """, [start])[0]
        let (emails, committed): ([String], [Double]) = (try written.decode(0), try written.decode(1))
        let row = try await orders.query(
            """
            WITH written AS (SELECT * FROM unnest($1::text[], $2::float8[]) AS w(email, committed)),
            copied AS (SELECT email, extract(epoch FROM at)::float8 AS copied FROM public.bench_copied),
            applied AS (
                SELECT DISTINCT ON (email) email, extract(epoch FROM pg_xact_commit_timestamp(xid::text::xid))::float8 AS applied
                FROM public.bench_applied ORDER BY email, 2
            ),
            hop AS (SELECT c.copied - w.committed AS seconds FROM written w JOIN copied c USING (email)),
            orders_side AS (SELECT a.applied - c.copied AS seconds FROM written w JOIN copied c USING (email) JOIN applied a USING (email)),
            latency AS (SELECT a.applied - w.committed AS seconds FROM written w JOIN applied a USING (email))
            SELECT (SELECT count(*)::int FROM latency) AS samples,
                   (SELECT count(*)::int FROM written) - (SELECT count(*)::int FROM latency) AS superseded,
                   (SELECT percentile_disc(ARRAY[0.5, 0.9, 0.99, 0.999]) WITHIN GROUP (ORDER BY seconds) FROM latency) AS quantiles,
                   (SELECT coalesce(max(seconds), 0) FROM latency) AS max,
                   (SELECT count(*)::int FROM hop) AS hop_samples,
                   (SELECT percentile_disc(ARRAY[0.5, 0.9, 0.99, 0.999]) WITHIN GROUP (ORDER BY seconds) FROM hop) AS hop_quantiles,
                   (SELECT coalesce(max(seconds), 0) FROM hop) AS hop_max,
                   (SELECT count(*)::int FROM orders_side) AS orders_samples,
                   (SELECT percentile_disc(ARRAY[0.5, 0.9, 0.99, 0.999]) WITHIN GROUP (ORDER BY seconds) FROM orders_side) AS orders_quantiles,
                   (SELECT coalesce(max(seconds), 0) FROM orders_side) AS orders_max
            """, [emails, committed])[0]
        func part(_ columns: String, _ shape: String, superseded: Int) throws -> BenchResults.LatencyRow {
            try latencyRow(
                row, columns: columns, offered: "\(rate)/s", tps: tps, superseded: superseded, shape: shape, lockObjectShare: nil, writers: writers)
        }
        return (
            try part("hop_", "split: writer -> copied row (the hop)", superseded: 0), try part("orders_", "split: copied row -> orders", superseded: 0),
            try part("", "split: writer -> orders", superseded: try row.decode("superseded"))
        )
    }
}
