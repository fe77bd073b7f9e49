import Logging
import Metrics
import Postgres
import ServiceLifecycle

/// Keeps the replica and the purchase orders current: applies the events after its stored
/// position at start-up, after every notification on `ecst_events`, after every reconnect of its
/// listener (notifications may have been missed), after writers that relied on another's NOTIFY
/// have committed, and on a slow safety poll, so a lost notification only delays an event, never
/// loses it. The wake-up protocol is described in docs/design.md#wake-ups.
public struct EventConsumer: Service {
    public static let channel = "ecst_events"
    /// `application_name` of the listening session.
    public static let listenerName = "order-service/listen"

    let applier: EventApplier
    let database: PostgresClient
    let logger: Logger
    let pollInterval: Duration
    /// Told of every position this consumer stores, so requests waiting for a token hear at once.
    let tokens: TokenWatch?
    let metrics = ConsumerMetrics()
    let lead = WakeUpLead()

    public init(
        applier: EventApplier, database: PostgresClient, logger: Logger, pollInterval: Duration = .seconds(5), tokens: TokenWatch? = nil
    ) {
        self.applier = applier
        self.database = database
        self.logger = logger
        self.pollInterval = pollInterval
        self.tokens = tokens
    }

    public func run() async throws {
        // Wake-ups coalesce: one pending wake-up is enough to re-read the table.
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let relying = RelyingWriterWaiter(database: database, logger: logger) { wake.yield() }
        await withDiscardingTaskGroup { group in
            group.addTask {
                await self.applyLoop(wakeups, wake: wake, relying: relying)
            }
            group.addTask {
                await relying.run()
            }
            group.addTask {
                await self.listenLoop(wake, relying: relying)
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
        relying.finish()
        await tokens?.stop()
        logger.info("consumer stopped")
    }

    private func listenLoop(_ wake: AsyncStream<Void>.Continuation, relying: RelyingWriterWaiter) async {
        do {
            // Only one process of this consumer listens at a time; the others' sessions wait for
            // the lock, and they read on their safety poll meanwhile (docs/design.md#wake-ups).
            // The listening session applies the events itself at every wake-up, on the listener's
            // thread, so a notification is answered without a hop to another thread and session
            // (docs/design.md#applying-where-the-wake-up-arrives).
            try await database.listen(
                on: [Self.channel], applicationName: Self.listenerName, setup: "SELECT order_service.lead_wake_ups($1)",
                setupParameters: [applier.consumer], reaction: EventApplier.applyNextChunk, reactionParameters: applier.applyNextChunkParameters
            ) { events in
                for await event in events {
                    switch event {
                    case .listening(let reconnected):
                        if reconnected { logger.info("listener reconnected; replaying from the stored position") }
                        await lead.set(true)
                        wake.yield()
                    case .notification:
                        break  // the reaction that follows reads the table
                    case .reacted(let result, let elapsed):
                        await reacted(result, elapsed: elapsed, wake: wake, relying: relying)
                    case .interrupted:
                        await lead.set(false)
                    }
                }
            }
        } catch {
            logger.error("listener ended", metadata: ["error": "\(error)"])
        }
    }

    /// A chunk the listening session applied at a wake-up, kept as the apply loop's own are; what
    /// it leaves to do (the rest of a large batch, a position another process held, a failure to
    /// retry) goes to the apply loop.
    private func reacted(
        _ result: Result<PostgresRows, PostgresError>, elapsed: Duration, wake: AsyncStream<Void>.Continuation, relying: RelyingWriterWaiter
    ) async {
        do {
            guard case .applied(let chunk, let more, let relyingWriters) = try EventApplier.outcome(of: try result.get()) else {
                wake.yield()  // the leader reads again once the other holder is done
                return
            }
            record(chunk, elapsed: elapsed)
            if more {
                wake.yield()
            } else {
                await tokens?.positionStored(appliedEvents: chunk.events > 0)
                if !relyingWriters.isEmpty { relying.watch(relyingWriters) }
            }
        } catch {
            logger.debug("applying at a wake-up failed; the apply loop retries", metadata: ["error": "\(error)"])
            wake.yield()
        }
    }

    /// Metrics and logs of one applied chunk.
    private func record(_ chunk: EventApplier.ChunkResult, elapsed: Duration) {
        if chunk.events > 0 {
            metrics.applyDuration.recordNanoseconds(
                elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
            )
            metrics.eventsApplied.increment(by: chunk.events)
            metrics.chunks.increment()
            metrics.ordersUpdated.increment(by: chunk.ordersUpdated)
            logger.debug(
                "applied events",
                metadata: ["events": "\(chunk.events)", "orders": "\(chunk.ordersUpdated)", "highest_event_id": "\(chunk.highestEventID ?? 0)"]
            )
        }
        for dead in chunk.deadLetters {
            metrics.deadLetters.increment()
            logger.error("event sent to the dead-letter table", metadata: ["event_id": "\(dead.eventID)", "reason": "\(dead.reason)"])
        }
    }

    /// After a failure the next attempt comes after this back-off, or at once on the next wake-up
    /// (a reconnected listener means the database is back).
    static func retryDelay(failures: Int) -> Duration {
        .milliseconds(min(1_000, 50 << min(failures, 5)))
    }

    private func applyLoop(_ wakeups: AsyncStream<Void>, wake: AsyncStream<Void>.Continuation, relying: RelyingWriterWaiter) async {
        var registered = false
        var failures = 0
        var retry: Task<Void, Never>?
        for await _ in wakeups {
            retry?.cancel()
            do {
                if !registered {
                    try await applier.register()
                    registered = true
                }
                var drained = try await drain()
                // Another process held the position: what committed while it applied may have woken
                // only the leader (one listener per consumer), so the leader reads again once the
                // holder has finished, as often as it finds the position held.
                while drained.positionBusy, await lead.isLeading, !Task.isCancelled, try await applier.waitForPosition() {
                    drained = try await drain()
                }
                if !drained.relyingWriters.isEmpty { relying.watch(drained.relyingWriters) }
                failures = 0
            } catch {
                if Task.isCancelled { break }
                failures += 1
                metrics.failures.increment()
                let delay = Self.retryDelay(failures: failures)
                logger.warning("applying events failed; will retry", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                retry = Task {
                    if (try? await Task.sleep(for: delay)) != nil { wake.yield() }
                }
            }
        }
        retry?.cancel()
    }

    /// Applies chunks until the batch is done (or another consumer holds the position). Returns
    /// the slots of writers that were still committing in reliance on another's NOTIFY when the
    /// last chunk was read: once they commit, read again.
    func drain() async throws -> (relyingWriters: [Int32], positionBusy: Bool) {
        var appliedEvents = false
        while true {
            let start = ContinuousClock.now
            let outcome = try await applier.applyNextChunk()
            guard case .applied(let chunk, let more, let relyingWriters) = outcome else {
                logger.debug("another consumer is applying; standing by")
                await tokens?.standingBy()
                return ([], true)
            }
            if chunk.events > 0 { appliedEvents = true }
            record(chunk, elapsed: ContinuousClock.now - start)
            if more {
                logger.info("catching up", metadata: ["applied": "\(chunk.events)", "highest_event_id": "\(chunk.highestEventID ?? 0)"])
            } else {
                await tokens?.positionStored(appliedEvents: appliedEvents)
                // No second read: whatever committed after this one's snapshot has notified, or
                // relies on a notification still to come, or is among these relying writers.
                return (relyingWriters, false)
            }
        }
    }
}
