import OrderService
import Postgres
import ServiceSupport

/// What `ecst status` shows: every consumer's position and the event log's size, and in a database
/// per service the replication's state on whichever server it asks (docs/replication.md).
public struct SystemStatus: Codable, Sendable {
    public struct EventLog: Codable, Sendable {
        public var events: Int64
        public var firstID: Int64?
        public var lastID: Int64?
        public var oldest: String?
        public var newest: String?
        public var totalBytes: Int64
        public var totalSize: String

        enum CodingKeys: String, CodingKey {
            case events, oldest, newest
            case firstID = "first_id"
            case lastID = "last_id"
            case totalBytes = "total_bytes"
            case totalSize = "total_size"
        }
    }

    /// Empty on the users' server of a database per service, which has no consumers.
    public var consumers: [ConsumerStatus]
    public var eventLog: EventLog
    /// Which server this is: "single" (both services), "users" or "orders" (a database per service).
    public var server: String
    /// The users' server: its subscribers' slots.
    public var replicationSlots: [EventReplicationStatus.SlotStatus]
    /// The orders' server: the subscription feeding its copy of the events.
    public var subscription: EventReplicationStatus.SubscriptionStatus?

    enum CodingKeys: String, CodingKey {
        case consumers, server, subscription
        case eventLog = "event_log"
        case replicationSlots = "replication_slots"
    }

    /// `warnAboveRetainedBytes`: the WAL a slot with no subscriber connected may hold before a warning.
    public static func read(
        from database: PostgresClient, warnAboveRetainedBytes: Int64 = EventReplicationStatus.retainedBytesWarning
    ) async throws -> SystemStatus {
        // The slots are the users' side's to read (and a superuser's): as order_service in a
        // single database, status shows the consumers only.
        let parts = try await database.query(
            """
            SELECT to_regclass('order_service.consumer_positions') IS NOT NULL, to_regclass('user_service.users') IS NOT NULL,
                   to_regprocedure('user_service.events_publication_status()') IS NOT NULL
                   AND has_function_privilege('user_service.events_publication_status()', 'EXECUTE')
            """)[0]
        let (hasOrders, hasUsers, mayReadSlots): (Bool, Bool, Bool) = (try parts.decode(0), try parts.decode(1), try parts.decode(2))
        var consumers: [ConsumerStatus] = []
        if hasOrders {
            let names = try await database.query("SELECT consumer FROM order_service.consumer_positions ORDER BY consumer")
            let query = ConsumerStatusQuery(database: database)
            for row in names {
                if let status = try await query.status(consumer: try row.decode(0, as: String.self)) { consumers.append(status) }
            }
        }
        let slots = mayReadSlots ? try await EventReplicationStatus.slots(on: database, warnAboveRetainedBytes: warnAboveRetainedBytes) : []
        let subscription = hasOrders ? try await EventReplicationStatus.subscription(on: database) : nil
        let log = try await database.query(
            """
            SELECT count(*) AS events, min(id) AS first_id, max(id) AS last_id,
                   \(ConsumerStatusQuery.utcText("min(created_at)")) AS oldest, \(ConsumerStatusQuery.utcText("max(created_at)")) AS newest,
                   pg_total_relation_size('user_service.events') AS total_bytes,
                   pg_size_pretty(pg_total_relation_size('user_service.events')) AS total_size
            FROM user_service.events
            """
        )[0]
        return SystemStatus(
            consumers: consumers,
            eventLog: EventLog(
                events: try log.decode("events"),
                firstID: try log.decode("first_id"),
                lastID: try log.decode("last_id"),
                oldest: try log.decode("oldest"),
                newest: try log.decode("newest"),
                totalBytes: try log.decode("total_bytes"),
                totalSize: try log.decode("total_size")
            ),
            server: hasUsers && hasOrders ? "single" : hasUsers ? "users" : "orders",
            replicationSlots: slots,
            subscription: subscription
        )
    }
}
