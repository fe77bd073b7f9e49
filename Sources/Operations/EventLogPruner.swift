import Postgres

/// `ecst prune`: deletes events every registered consumer has applied and that are older than a
/// given age, in small transactions. Needs a superuser session (the log is append-only for every
/// other role).
///
/// It never deletes an entity's latest applicable event, nor an event a dead letter refers to:
/// the log keeps, for every user and product, the state a rebuild needs (log compaction).
///
/// In a database per service (docs/replication.md) each server's log has its own retention. The
/// orders' copy is pruned as above. The users' server has no consumers: there it deletes by age and
/// compaction alone once the events are published (a delete is not replicated, and the slot keeps
/// the WAL of every insert its subscriber has yet to receive, so nothing it needs goes).
public struct EventLogPruner: Sendable {
    public struct Report: Codable, Sendable, Equatable {
        public var deleted: Int
        public var examined: Int
        public var remaining: Int

        public init(deleted: Int, examined: Int, remaining: Int) {
            self.deleted = deleted
            self.examined = examined
            self.remaining = remaining
        }
    }

    public let database: PostgresClient
    /// Events younger than this many seconds stay.
    public let keepSeconds: Int
    /// Ids examined per transaction.
    public var idsPerStep: Int64 = 20_000

    public init(database: PostgresClient, keepSeconds: Int) {
        self.database = database
        self.keepSeconds = keepSeconds
    }

    public func run(dryRun: Bool = false, progress: @Sendable (_ examined: Int64, _ of: Int64, _ deleted: Int) -> Void = { _, _, _ in }) async throws -> Report
    {
        let isSuperuser = try await database.isSuperuser()
        guard isSuperuser || dryRun else {
            throw OperationsError(
                .notSuperuser, "prune deletes from the append-only event log: connect as the database owner (a superuser), not as a service role")
        }
        let scope = try await database.query(
            """
            SELECT to_regclass('order_service.consumer_positions') IS NOT NULL,
                   EXISTS (SELECT FROM pg_publication WHERE pubname = 'ecst_events')
            """)[0]
        let (hasConsumers, published): (Bool, Bool) = (try scope.decode(0), try scope.decode(1))
        if hasConsumers {
            let consumers: Int = try await database.query("SELECT count(*) FROM order_service.consumer_positions")[0].decode(0)
            guard consumers > 0 else {
                throw OperationsError(.noConsumers, "no consumer is registered, so no event is known to be applied: nothing to prune")
            }
        } else if !published {
            throw OperationsError(.noConsumers, "neither a consumer nor a publication of the events is here: nothing is known to be delivered")
        }
        let doomed = hasConsumers ? Self.doomedApplied : Self.doomedPublished
        let statement = dryRun ? Self.count(doomed) : Self.delete(doomed)
        let bounds = try await database.query("SELECT coalesce(min(id), 1), coalesce(max(id), 0) FROM user_service.events")[0]
        let (low, high): (Int64, Int64) = (try bounds.decode(0), try bounds.decode(1))
        var deleted = 0
        var from = low
        while from <= high {
            let to = from + idsPerStep
            let count: Int = try await database.query(statement, [from, to, keepSeconds])[0].decode(0)
            deleted += count
            progress(min(to, high + 1) - low, high + 1 - low, deleted)
            from = to
        }
        let remaining: Int = try await database.query("SELECT count(*) FROM user_service.events")[0].decode(0)
        return Report(deleted: deleted, examined: Int(max(0, high + 1 - low)), remaining: remaining - (dryRun ? deleted : 0))
    }

    /// The events of the id range $1..$2 older than $3 seconds that a later event of the same
    /// entity supersedes (`applicable`: a condition on that later event `l`) and that meet `also`
    /// (a condition on the event `e`).
    static func doomed(applicable: String, also: String) -> String {
        """
        SELECT e.id FROM user_service.events e
        WHERE e.id >= $1 AND e.id < $2
          AND e.created_at < now() - make_interval(secs => $3)
          AND EXISTS (
              SELECT FROM user_service.events l
              WHERE l.aggregate_type = e.aggregate_type AND l.aggregate_id = e.aggregate_id AND l.version > e.version
                AND \(applicable))
          AND \(also)
        """
    }

    /// The log of a consumer's server: applied by every registered consumer, superseded by an event
    /// the consumer can apply, and no dead letter refers to it.
    static let doomedApplied = doomed(
        applicable: "order_service.event_problem(l.type, l.aggregate_type, l.payload) IS NULL",
        also: """
            NOT EXISTS (SELECT FROM order_service.consumer_positions c WHERE NOT pg_visible_in_snapshot(e.xid, c.snapshot))
              AND NOT EXISTS (SELECT FROM order_service.dead_letters d WHERE d.event_id = e.id)
            """)

    /// The users' server of a database per service: by age and compaction only (the orders' copy
    /// has its own retention, and its dead letters live there).
    static let doomedPublished = doomed(applicable: "true", also: "true")

    static func delete(_ doomed: String) -> String {
        """
        WITH doomed AS (\(doomed)),
        gone AS (DELETE FROM user_service.events e USING doomed WHERE e.id = doomed.id RETURNING 1)
        SELECT count(*) FROM gone
        """
    }

    static func count(_ doomed: String) -> String { "SELECT count(*) FROM (\(doomed)) d" }
}
