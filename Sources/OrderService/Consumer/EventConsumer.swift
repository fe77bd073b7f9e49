import Logging
import Metrics
import Postgres
import ServiceLifecycle

/// Keeps the replica and the purchase orders current: applies the events after its stored
/// position at start-up, after every notification on `ecst_events`, after every reconnect of its
/// listener (notifications may have been missed), and on a slow safety poll, so a lost
/// notification only delays an event, never loses it.
public struct EventConsumer: Service {
    public static let channel = "ecst_events"

    let applier: EventApplier
    let database: PostgresClient
    let logger: Logger
    let pollInterval: Duration
    let metrics = ConsumerMetrics()

    public init(applier: EventApplier, database: PostgresClient, logger: Logger, pollInterval: Duration = .seconds(5)) {
        self.applier = applier
        self.database = database
        self.logger = logger
        self.pollInterval = pollInterval
    }

    public func run() async throws {
        // Wake-ups coalesce: one pending wake-up is enough to re-read the table.
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let marker = WaitingMarker(database: database, logger: logger) { wake.yield() }
        await withDiscardingTaskGroup { group in
            group.addTask {
                await self.applyLoop(wakeups, marker: marker)
            }
            group.addTask {
                await marker.run()
            }
            group.addTask {
                await self.listenLoop(wake)
                wake.finish()
            }
            group.addTask {
                while (try? await Task.sleep(for: self.pollInterval)) != nil {
                    wake.yield()
                    if let status = try? await ConsumerStatusQuery(database: self.database).status(consumer: self.applier.consumer) {
                        self.metrics.lag.record(status.lag)
                    }
                }
            }
            // On graceful shutdown, stop listening and polling; the apply loop then finishes the
            // chunk it is in (its transaction commits or rolls back) and returns.
            try? await gracefulShutdown()
            group.cancelAll()
        }
        logger.info("consumer stopped")
    }

    private func listenLoop(_ wake: AsyncStream<Void>.Continuation) async {
        do {
            try await database.listen(on: Self.channel) { events in
                for await event in events {
                    switch event {
                    case .listening(let reconnected):
                        if reconnected { logger.info("listener reconnected; replaying from the stored position") }
                        wake.yield()
                    case .notification:
                        wake.yield()
                    }
                }
            }
        } catch {
            logger.error("listener ended", metadata: ["error": "\(error)"])
        }
    }

    /// Empty rereads, `rereadPause` apart, before the consumer asks writers to notify it again.
    static let emptyRereadsBeforeWaiting = 5
    static let rereadPause = Duration.microseconds(200)

    private func applyLoop(_ wakeups: AsyncStream<Void>, marker: WaitingMarker) async {
        var registered = false
        var failures = 0
        var disarmed = true
        for await _ in wakeups {
            // Retried with backoff until it succeeds (database back) or the consumer stops.
            while true {
                do {
                    if !registered {
                        try await applier.register()
                        registered = true
                    }
                    // While reads keep finding events, reread without waiting and let writers skip
                    // the NOTIFY. Only after a few empty rereads, a short pause apart, ask for
                    // notifications again (arming rereads once more, after it holds the slots):
                    // under steady load a gap that short is rare, so writers seldom notify.
                    var emptyRereads = 0
                    while true {
                        let drained = try await drain()
                        if drained == .appliedSome {
                            await marker.disarm()
                            disarmed = true
                            emptyRereads = 0
                        } else if drained == .nothingNew, disarmed, emptyRereads < Self.emptyRereadsBeforeWaiting {
                            emptyRereads += 1
                            try await Task.sleep(for: Self.rereadPause)
                        } else {
                            break
                        }
                    }
                    await marker.arm()
                    disarmed = false
                    failures = 0
                    break
                } catch {
                    if Task.isCancelled { return }
                    failures += 1
                    metrics.failures.increment()
                    let delay = Duration.milliseconds(min(5_000, 100 << min(failures, 6)))
                    logger.warning("applying events failed; will retry", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                    do { try await Task.sleep(for: delay) } catch { return }
                }
            }
        }
    }

    enum Drained: Equatable {
        case appliedSome
        case nothingNew
        /// Another consumer holds the position.
        case standingBy
    }

    /// Applies chunks until the stored position has caught up with the log.
    func drain() async throws -> Drained {
        var applied = 0
        while true {
            let start = ContinuousClock.now
            let outcome = try await applier.applyNextChunk()
            guard case .applied(let chunk, let more) = outcome else {
                logger.debug("another consumer is applying; standing by")
                return .standingBy
            }
            applied += chunk.events
            if chunk.events > 0 {
                let elapsed = ContinuousClock.now - start
                metrics.applyDuration.recordNanoseconds(
                    elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
                )
                metrics.eventsApplied.increment(by: chunk.events)
                metrics.batches.increment()
                metrics.ordersUpdated.increment(by: chunk.ordersUpdated)
                logger.debug(
                    "applied events",
                    metadata: ["events": "\(chunk.events)", "orders": "\(chunk.ordersUpdated)", "last_event_id": "\(chunk.lastEventID ?? 0)"]
                )
            }
            for dead in chunk.deadLetters {
                metrics.deadLetters.increment()
                logger.error("event sent to the dead-letter table", metadata: ["event_id": "\(dead.eventID)", "reason": "\(dead.reason)"])
            }
            if more {
                logger.info("catching up", metadata: ["applied": "\(chunk.events)", "last_event_id": "\(chunk.lastEventID ?? 0)"])
            } else {
                return applied > 0 ? .appliedSome : .nothingNew
            }
        }
    }
}

