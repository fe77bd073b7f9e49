import Postgres

/// `ecst rebuild`: the order-service's replica and every purchase order's embedded data, derived
/// again from the event log alone, while the service runs.
///
/// One transaction. It first takes the consumer's position row (waiting out a chunk in progress;
/// the consumer then stands by), then a snapshot S, and makes the replica and the orders exactly
/// what the events visible in S say, and stores S as the consumer's position: events committed
/// after S are the consumer's to apply, as usual. Rows are updated in place, never deleted and
/// re-inserted, so a concurrent `create` waiting on a replica row reads its rebuilt version.
public struct ReplicaRebuild: Sendable {
    public struct Report: Codable, Sendable, Equatable {
        public var snapshot: String
        public var entities: Int
        public var replicaRowsChanged: Int
        public var orders: Int
        public var ordersChanged: Int
        /// Orders whose user or product the log does not know; left as they were.
        public var ordersWithoutSource: Int

        enum CodingKeys: String, CodingKey {
            case snapshot, entities, orders
            case replicaRowsChanged = "replica_rows_changed"
            case ordersChanged = "orders_changed"
            case ordersWithoutSource = "orders_without_source"
        }
    }

    public enum Step: Sendable {
        case waitingForConsumer
        case checkingLog
        case replica
        case orders(done: Int, total: Int)
        case position
    }

    public let database: PostgresClient
    public let consumer: String
    /// Orders re-embedded per statement, between progress reports.
    public var ordersPerStep = 20_000

    public init(database: PostgresClient, consumer: String) {
        self.database = database
        self.consumer = consumer
    }

    public func run(progress: @Sendable (Step) -> Void = { _ in }) async throws -> Report {
        try await database.withTransaction { tx in
            progress(.waitingForConsumer)
            guard
                try await tx.query(
                    "SELECT 1 FROM order_service.consumer_positions WHERE consumer = $1 FOR UPDATE", [consumer]
                ).single() != nil
            else {
                throw OperationsError(.unknownConsumer, "no consumer named '\(consumer)' is registered (order-service registers it when it starts)")
            }
            let snapshot: String = try await tx.query("SELECT pg_current_snapshot()::text")[0].decode(0)

            progress(.checkingLog)
            try await checkLogReachesBack(tx, snapshot: snapshot)

            progress(.replica)
            let changed = try await ReplicaRefresh(connection: tx).upsertAll(snapshot: snapshot)

            let bounds = try await tx.query("SELECT coalesce(min(id), 1), coalesce(max(id), 0), count(*) FROM order_service.purchase_orders")[0]
            let (low, high, total): (Int64, Int64, Int) = (try bounds.decode(0), try bounds.decode(1), try bounds.decode(2))
            var report = Report(
                snapshot: snapshot, entities: changed.entities, replicaRowsChanged: changed.rowsChanged, orders: 0, ordersChanged: 0, ordersWithoutSource: 0)
            var from = low
            progress(.orders(done: 0, total: total))
            while from <= high {
                let to = from + Int64(ordersPerStep)
                let step = try await tx.query(Self.reembedOrders, [from, to])[0]
                report.orders += try step.decode("orders", as: Int.self)
                report.ordersChanged += try step.decode("changed", as: Int.self)
                report.ordersWithoutSource += try step.decode("without_source", as: Int.self)
                progress(.orders(done: report.orders, total: total))
                from = to
            }

            progress(.position)
            try await tx.query(Self.dropBatch, [consumer])
            try await tx.query(Self.storePosition, [consumer, snapshot])
            return report
        }
    }

    /// The log must still hold, for each replica row, the event it came from (or a later one):
    /// otherwise a rebuild would lose state that only the replica still has.
    private func checkLogReachesBack(_ tx: PostgresConnection, snapshot: String) async throws {
        let missing = try await tx.query(Self.unreachable, [snapshot])
        guard let first = missing.first else { return }
        let total: Int = try first.decode("total")
        let examples = try missing.map { row in
            let logVersion = try row.decode("log_version", as: Int?.self).map { "its latest event there is version \($0)" } ?? "it has no event there"
            return
                "\(try row.decode("kind", as: String.self)) \(try row.decode("id", as: Int64.self)) is at version \(try row.decode("version", as: Int.self)) in the replica but \(logVersion)"
        }
        throw OperationsError(
            .logIncomplete,
            """
            the event log no longer reaches back far enough to rebuild from scratch: \(total) replica \
            row(s) hold state the log has lost (events deleted by hand or by another tool; \
            `ecst prune` keeps each entity's latest event). For example: \(examples.joined(separator: "; ")). \
            Nothing was changed.
            """
        )
    }

    /// $1 snapshot: replica rows whose version the log (as $1 sees it) cannot reproduce.
    static let unreachable = """
        SELECT kind, id, version, log_version, count(*) OVER () AS total FROM (
            SELECT 'user' AS kind, r.id, r.version,
                   (SELECT max(e.version) FROM user_service.events e
                    WHERE e.aggregate_type = 'user' AND e.aggregate_id = r.id AND pg_visible_in_snapshot(e.xid, $1::pg_snapshot)) AS log_version
            FROM order_service.users r
            UNION ALL
            SELECT 'product', r.id, r.version,
                   (SELECT max(e.version) FROM user_service.events e
                    WHERE e.aggregate_type = 'product' AND e.aggregate_id = r.id AND pg_visible_in_snapshot(e.xid, $1::pg_snapshot))
            FROM order_service.products r
        ) x
        WHERE log_version IS NULL OR log_version < version
        ORDER BY kind, id
        LIMIT 3
        """

    /// $1..$2 an id range: each order's embedded user and product set from the replica; orders
    /// already right are not written.
    static let reembedOrders = """
        WITH fresh AS (
            SELECT o.id, u.id IS NULL OR p.id IS NULL AS without_source,
                   o.doc
                   || CASE WHEN u.id IS NULL THEN '{}'::jsonb
                           ELSE jsonb_build_object('user', order_service.user_document(u.id, u.firstname, u.lastname, u.email)) END
                   || CASE WHEN p.id IS NULL THEN '{}'::jsonb
                           ELSE jsonb_build_object('product', order_service.product_document(p.id, p.description)) END AS doc
            FROM order_service.purchase_orders o
            LEFT JOIN order_service.users u ON u.id = o.user_id
            LEFT JOIN order_service.products p ON p.id = o.product_id
            WHERE o.id >= $1 AND o.id < $2
        ),
        changed AS (
            UPDATE order_service.purchase_orders po SET doc = f.doc
            FROM fresh f
            WHERE po.id = f.id AND po.doc IS DISTINCT FROM f.doc
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM fresh) AS orders, (SELECT count(*) FROM changed) AS changed,
               (SELECT count(*) FROM fresh WHERE without_source) AS without_source
        """

    /// $1 consumer: what is left of a batch in progress, which the rebuild has applied too (the
    /// batch's snapshot was taken before the rebuild's).
    static let dropBatch = "DELETE FROM order_service.batch_entities WHERE consumer = $1"

    /// $1 consumer, $2 the snapshot everything was rebuilt to.
    static let storePosition = """
        UPDATE order_service.consumer_positions
        SET snapshot = $2::pg_snapshot, batch_snapshot = NULL, cursor_xid = NULL, cursor_id = NULL,
            entity_cursor_type = NULL, entity_cursor_id = NULL,
            last_event_id = greatest(last_event_id, coalesce(
                (SELECT max(id) FROM user_service.events WHERE pg_visible_in_snapshot(xid, $2::pg_snapshot)), 0)),
            last_applied_at = now(), applied_by = 'ecst rebuild'
        WHERE consumer = $1
        """
}
