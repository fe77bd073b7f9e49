import Postgres

/// The state of a database per service's replication (docs/replication.md), from schema.sql's
/// `events_publication_status()` (the users' server) and `events_subscription_status()` (the
/// orders' server): what `ecst status` shows and the services' /metrics export.
public enum EventReplicationStatus {
    /// The users' side of one subscriber's slot.
    public struct SlotStatus: Codable, Sendable, Equatable {
        public var slot: String
        public var connected: Bool
        public var lagBytes: Int64?
        public var retainedBytes: Int64?
        public var walStatus: String?
        public var safeWALBytes: Int64?
        public var replayLagSeconds: Double?
        /// Set when the slot threatens the users' server's disk, in words an operator can act on.
        public var warning: String?

        enum CodingKeys: String, CodingKey {
            case slot, connected, warning
            case lagBytes = "lag_bytes"
            case retainedBytes = "retained_bytes"
            case walStatus = "wal_status"
            case safeWALBytes = "safe_wal_bytes"
            case replayLagSeconds = "replay_lag_seconds"
        }
    }

    /// The orders' side: the subscription feeding the events copy.
    public struct SubscriptionStatus: Codable, Sendable, Equatable {
        public var subscription: String
        public var enabled: Bool
        public var workerRunning: Bool
        public var receivedLSN: String?
        public var secondsSinceMessage: Double?

        enum CodingKeys: String, CodingKey {
            case subscription, enabled
            case workerRunning = "worker_running"
            case receivedLSN = "received_lsn"
            case secondsSinceMessage = "seconds_since_message"
        }
    }

    /// Retained WAL of a slot nobody is connected to beyond which a warning is given, by default
    /// (1 GiB; `ecst status --warn-retained-mib` sets another).
    public static let retainedBytesWarning: Int64 = 1 << 30

    /// The users' side: one entry per subscriber's slot; empty without a publication.
    public static func slots(on database: PostgresClient, warnAboveRetainedBytes: Int64 = retainedBytesWarning) async throws -> [SlotStatus] {
        try await database.query("SELECT * FROM user_service.events_publication_status()").map { row in
            var status = SlotStatus(
                slot: try row.decode("slot"),
                connected: try row.decode("connected"),
                lagBytes: try row.decode("lag_bytes"),
                retainedBytes: try row.decode("retained_bytes"),
                walStatus: try row.decode("wal_status"),
                safeWALBytes: try row.decode("safe_wal_bytes"),
                replayLagSeconds: try row.decode("replay_lag_seconds")
            )
            status.warning = warning(for: status, aboveRetainedBytes: warnAboveRetainedBytes)
            return status
        }
    }

    /// The orders' side; nil in a single database.
    public static func subscription(on database: PostgresClient) async throws -> SubscriptionStatus? {
        try await database.query("SELECT * FROM order_service.events_subscription_status()").first.map { row in
            SubscriptionStatus(
                subscription: try row.decode("subscription"),
                enabled: try row.decode("enabled"),
                workerRunning: try row.decode("worker_running"),
                receivedLSN: try row.decode("received_lsn"),
                secondsSinceMessage: try row.decode("seconds_since_message")
            )
        }
    }

    /// A slot threatens the disk when the server may already be dropping its WAL (`wal_status`
    /// unreserved or lost), or when nobody is connected to it and it holds more than
    /// `aboveRetainedBytes` (growing with every write until the subscriber returns).
    public static func warning(for slot: SlotStatus, aboveRetainedBytes: Int64 = retainedBytesWarning) -> String? {
        let retained = slot.retainedBytes ?? 0
        switch slot.walStatus {
        case "lost":
            return "the WAL this slot needs is gone: the orders' server can no longer catch up; see docs/replication.md#a-lost-slot"
        case "unreserved":
            return "the slot's WAL is past max_slot_wal_keep_size and will be removed at the next checkpoint unless the orders' server returns"
        default:
            guard !slot.connected, retained > aboveRetainedBytes else { return nil }
            return
                "no subscriber is connected and the slot holds \(retained / (1 << 20)) MiB of WAL on this server's disk, growing with every write: "
                + "bring the orders' server back, or bound it with max_slot_wal_keep_size (docs/replication.md#operations)"
        }
    }
}
