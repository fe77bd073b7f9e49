import Metrics
import NIOConcurrencyHelpers
import Postgres

/// The consumer's `ecst_consumer_lag_events` gauge: the `consumer_lag` count, taken on a schedule of
/// its own. Counting reads every pending event (about half a second per million), so after a count
/// that took `d` the next waits `max(interval, 9 d)`: a long catch-up spends at most a tenth of one
/// pooled session counting, and the safety poll never waits behind a count
/// (docs/operations.md#a-long-event-log).
public final class LagGauge: Sendable {
    /// Rest after a count, per unit of time the count took.
    static let restPerCountingTime = 9

    let database: PostgresClient
    let consumer: String
    let interval: Duration
    private let gauge = Gauge(label: "ecst_consumer_lag_events")
    private let counted = NIOLockedValueBox<Count?>(nil)

    /// One count: when it began (holding its session) and the lag it found.
    public struct Count: Sendable {
        public let began: ContinuousClock.Instant
        public let lag: Int
    }

    init(database: PostgresClient, consumer: String, interval: Duration) {
        self.database = database
        self.consumer = consumer
        self.interval = interval
    }

    /// The last count, nil before the first (or while the consumer has never run).
    public var lastCount: Count? { counted.withLockedValue { $0 } }

    /// The wait before the next count, after one that took `counting`.
    public static func pause(afterCounting counting: Duration, interval: Duration) -> Duration {
        max(interval, counting * restPerCountingTime)
    }

    /// Counts until cancelled.
    func run() async {
        let clock = ContinuousClock()
        var pause = interval
        while (try? await Task.sleep(for: pause)) != nil {
            // Timed from the moment a session is held: waiting for the pool is not counting, and
            // would push the next count back nine times the wait.
            var counting = Duration.zero
            _ = try? await database.withConnection { connection in
                let began = clock.now
                defer { counting = clock.now - began }
                let status = try await ConsumerStatusQuery.status(consumer: consumer, on: connection)
                if let status {
                    gauge.record(status.lag)
                    counted.withLockedValue { $0 = Count(began: began, lag: status.lag) }
                }
            }
            pause = Self.pause(afterCounting: counting, interval: interval)
        }
    }
}
