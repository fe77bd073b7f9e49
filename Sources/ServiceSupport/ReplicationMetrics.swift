import Metrics
import Postgres

/// The replication's state as /metrics gauges, read from the database at each scrape: on the
/// user-service the subscribers' slots, on the order-service its subscription (docs/replication.md).
/// A single database has neither, and exports none of them.
public struct ReplicationMetrics: Sendable {
    public enum Side: Sendable {
        /// The users' server: `ecst_replication_slot_*{slot}`.
        case publisher
        /// The orders' server: `ecst_replication_subscription_*`.
        case subscriber
    }

    let database: PostgresClient
    let side: Side

    public init(database: PostgresClient, side: Side) {
        self.database = database
        self.side = side
    }

    /// Sets the gauges from one query; leaves them as they were when the database does not answer
    /// (/health says so).
    public func refresh() async {
        switch side {
        case .publisher:
            guard let slots = try? await EventReplicationStatus.slots(on: database) else { return }
            for slot in slots {
                let dimensions = [("slot", slot.slot)]
                Gauge(label: "ecst_replication_slot_connected", dimensions: dimensions).record(slot.connected ? 1 : 0)
                Gauge(label: "ecst_replication_slot_lag_bytes", dimensions: dimensions).record(slot.lagBytes ?? 0)
                Gauge(label: "ecst_replication_slot_retained_wal_bytes", dimensions: dimensions).record(slot.retainedBytes ?? 0)
                Gauge(label: "ecst_replication_slot_replay_lag_seconds", dimensions: dimensions).record(slot.replayLagSeconds ?? 0)
                Gauge(label: "ecst_replication_slot_at_risk", dimensions: dimensions).record(slot.warning == nil ? 0 : 1)
            }
        case .subscriber:
            guard let status = try? await EventReplicationStatus.subscription(on: database) else { return }
            Gauge(label: "ecst_replication_subscription_worker_running").record(status.enabled && status.workerRunning ? 1 : 0)
            Gauge(label: "ecst_replication_subscription_seconds_since_message").record(status.secondsSinceMessage ?? 0)
        }
    }
}
