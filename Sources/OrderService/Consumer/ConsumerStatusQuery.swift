import Postgres

/// Where a consumer stands: the highest event id it has applied, the log's head, and how many
/// committed events it has yet to apply (ids commit out of order, so lag is counted, not subtracted).
public struct ConsumerStatus: Codable, Sendable, Equatable {
    public var consumer: String
    public var position: Int64
    public var head: Int64
    public var lag: Int
    public var appliedEvents: Int64
    public var snapshot: String
    public var lastAppliedAt: String?
    public var appliedBy: String?
    public var deadLetters: Int

    enum CodingKeys: String, CodingKey {
        case consumer, position, head, lag, snapshot
        case appliedEvents = "applied_events"
        case lastAppliedAt = "last_applied_at"
        case appliedBy = "applied_by"
        case deadLetters = "dead_letters"
    }
}

public struct ConsumerStatusQuery: Sendable {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    /// Nil when the consumer has never run.
    public func status(consumer: String) async throws -> ConsumerStatus? {
        let rows = try await database.withConnection { connection in
            try await connection.prepared(Self.sql, [consumer])
        }
        guard let row = try rows.single() else { return nil }
        return ConsumerStatus(
            consumer: consumer,
            position: try row.decode("position"),
            head: try row.decode("head"),
            lag: try row.decode("lag"),
            appliedEvents: try row.decode("applied_events"),
            snapshot: try row.decode("snapshot"),
            lastAppliedAt: try row.decode("last_applied_at"),
            appliedBy: try row.decode("applied_by"),
            deadLetters: try row.decode("dead_letters")
        )
    }

    /// Lag: committed events not visible in the stored snapshot, less those of the batch in
    /// progress already passed by its cursor.
    static let sql = """
        SELECT p.last_event_id AS position,
               coalesce((SELECT max(id) FROM user_service.events), 0) AS head,
               (SELECT count(*) FROM (
                    SELECT xid, id FROM user_service.events WHERE xid >= pg_snapshot_xmax(p.snapshot)
                    UNION ALL
                    SELECT ev.xid, ev.id FROM unnest(ARRAY(SELECT pg_snapshot_xip(p.snapshot))) AS x(xid)
                    CROSS JOIN LATERAL (SELECT xid, id FROM user_service.events WHERE xid = x.xid OFFSET 0) ev
                ) e
                 WHERE NOT pg_visible_in_snapshot(e.xid, p.snapshot)
                   AND NOT (p.batch_snapshot IS NOT NULL AND pg_visible_in_snapshot(e.xid, p.batch_snapshot)
                            AND (e.xid, e.id) <= (p.cursor_xid, p.cursor_id))) AS lag,
               p.applied_events,
               p.snapshot::text AS snapshot,
               to_char(p.last_applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_applied_at,
               p.applied_by,
               (SELECT count(*) FROM order_service.dead_letters d WHERE d.consumer = p.consumer) AS dead_letters
        FROM order_service.consumer_positions p
        WHERE p.consumer = $1
        """
}
