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
    private let counted = NIOLockedValueBox<Int?>(nil)

    init(database: PostgresClient, consumer: String, interval: Duration) {
        self.database = database
        self.consumer = consumer
        self.interval = interval
    }

    /// The last lag counted, nil before the first count (or while the consumer has never run).
    public var lastCount: Int? { counted.withLockedValue { $0 } }

    /// The wait before the next count, after one that took `counting`.
    public static func pause(afterCounting counting: Duration, interval: Duration) -> Duration {
        max(interval, counting * restPerCountingTime)
    }

    /// Counts until cancelled.
    func run() async {
        let clock = ContinuousClock()
        var pause = interval
        while (try? await Task.sleep(for: pause)) != nil {
            let started = clock.now
            if let status = try? await ConsumerStatusQuery(database: database).status(consumer: consumer) {
                gauge.record(status.lag)
                counted.withLockedValue { $0 = status.lag }
            }
            pause = Self.pause(afterCounting: clock.now - started, interval: interval)
        }
    }
}
