import OrderService
import Postgres

/// What `ecst status` shows: every consumer's position and the event log's size.
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

    public var consumers: [ConsumerStatus]
    public var eventLog: EventLog

    enum CodingKeys: String, CodingKey {
        case consumers
        case eventLog = "event_log"
    }

    public static func read(from database: PostgresClient) async throws -> SystemStatus {
        let names = try await database.query("SELECT consumer FROM order_service.consumer_positions ORDER BY consumer")
        let query = ConsumerStatusQuery(database: database)
        var consumers: [ConsumerStatus] = []
        for row in names {
            if let status = try await query.status(consumer: try row.decode(0, as: String.self)) { consumers.append(status) }
        }
        let log = try await database.query(
            """
            SELECT count(*) AS events, min(id) AS first_id, max(id) AS last_id,
                   min(created_at)::text AS oldest, max(created_at)::text AS newest,
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
            )
        )
    }
}
