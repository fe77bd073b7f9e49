import Logging
import Metrics
import NIOConcurrencyHelpers
import Postgres
import ServiceLifecycle
import ServiceSupport

/// Keeps the replica and the purchase orders current: applies the events after its stored
/// position at start-up, after every notification on `ecst_events`, after every reconnect of its
/// listener (notifications may have been missed), after writers that relied on another's NOTIFY
/// have committed, and on a slow safety poll, so a lost notification only delays an event, never
/// loses it. The process that leads the wake-ups reads on its listening session; another reads on
/// the pool. The wake-up protocol is described in docs/design.md#wake-ups.
public struct EventConsumer: Service, CustomStringConvertible {
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
    let progress = CatchUpProgress()
    /// When the apply loop's own read (in a process that does not lead) started; nil between them.
    let ownReadStarted = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    /// The lag gauge, counted on its own schedule (never delaying the safety poll).
    public let lag: LagGauge
    /// Whether the last chunk applied left its batch going on, and the signal to the batch helper
    /// that one has begun (docs/design.md#reading-the-log-in-commit-order).
    let inBatch = NIOLockedValueBox(false)
    let batchBegun: AsyncStream<Void>.Continuation
    let batchesBegun: AsyncStream<Void>
    /// The position's registration, started early by `warmUp` (or by the apply loop) and awaited
    /// by the apply loop; retried there when it failed.
    let registration = NIOLockedValueBox<Task<Void, any Error>?>(nil)

    public init(
        applier: EventApplier, database: PostgresClient, logger: Logger, pollInterval: Duration = .seconds(5), tokens: TokenWatch? = nil
    ) {
        self.applier = applier
        self.database = database
        self.logger = logger
        self.pollInterval = pollInterval
        self.tokens = tokens
        self.lag = LagGauge(database: database, consumer: applier.consumer, interval: pollInterval)
        (batchesBegun, batchBegun) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// How ServiceLifecycle names it in its log lines. Without it, each start described the whole
    /// struct by reflection (its applier, logger, metrics, streams...): a line of internals, and
    /// the runtime's conformance look-ups for each type met, on the way to the first read.
    public var description: String { "EventConsumer(\(applier.consumer))" }

    /// Starts, in the background, what its first read waits for: the listening session (connected,
    /// leading or not, and listening) and the position's registration (on a pooled session). A
    /// process that calls this before building the rest of itself reads that much sooner at its
    /// start (docs/design.md#a-start-that-connects-while-it-builds); `run` works without it.
    public func warmUp() {
        database.warmUpListener(on: [Self.channel], applicationName: Self.listenerName, setup: Self.leadSetup, setupParameters: [applier.consumer])
        _ = registering()
    }

    /// The position's registration, started at the first call (`warmUp`'s, or the apply loop's)
    /// and the same task after.
    private func registering() -> Task<Void, any Error> {
        registration.withLockedValue { [applier] in
            if let started = $0 { return started }
            let started = Task { try await applier.register() }
            $0 = started
            return started
        }
    }

    /// The listening session's setup: whether this process leads the wake-ups (docs/design.md#wake-ups).
    static let leadSetup = "SELECT order_service.lead_wake_ups($1)"

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
                while (try? await Task.sleep(for: self.pollInterval)) != nil { wake.yield() }
            }
            group.addTask {
                await self.lag.run()
            }
            group.addTask {
                await self.reportLongReads()
            }
            group.addTask {
                await self.helpBatches()
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
        var failures = 0
        var retry: Task<Void, Never>?
        defer { retry?.cancel() }
        do {
            // Only one process of this consumer listens at a time; the others' sessions wait for
            // the lock, and they read on their safety poll meanwhile (docs/design.md#wake-ups).
            // The listening session is also where the leader reads: at every notification, and
            // whenever the apply loop asks (docs/design.md#applying-where-the-wake-up-arrives).
            try await database.listen(
                on: [Self.channel], applicationName: Self.listenerName, setup: Self.leadSetup,
                setupParameters: [applier.consumer], reaction: EventApplier.applyNextChunk,
                reactionParameters: { [applier, tokens] in applier.applyNextChunkParameters(tokens: tokens?.tokensWaiting ?? []) }
            ) { events, listener in
                for await event in events {
                    switch event {
                    case .listening(let reconnected):
                        if reconnected { logger.info("listener reconnected; replaying from the stored position") }
                        await lead.lead(with: listener)
                        wake.yield()
                    case .notification:
                        break  // not reported with a reaction: the reaction reads the table
                    case .reacted(let result, let elapsed):
                        retry?.cancel()
                        do {
                            try await reacted(try result.get(), elapsed: elapsed, listener: listener, wake: wake, relying: relying)
                            failures = 0
                        } catch {
                            failures += 1
                            retry = retryLater(after: error, failures: failures, wake: wake)
                        }
                    case .interrupted:
                        await lead.stepDown()
                    }
                }
            }
        } catch {
            logger.error("listener ended", metadata: ["error": "\(error)"])
        }
    }

    /// A read the listening session ran, kept as the apply loop's own are. The rest of a large
    /// batch is read there at once; a position another process held goes to the apply loop, which
    /// waits for that process and asks for another read.
    private func reacted(
        _ rows: PostgresRows, elapsed: Duration, listener: PostgresListener, wake: AsyncStream<Void>.Continuation, relying: RelyingWriterWaiter
    ) async throws {
        guard case .applied(let chunk, let more, let relyingWriters) = try EventApplier.outcome(of: rows) else {
            await tokens?.standingBy()
            await lead.positionWasBusy()
            wake.yield()
            return
        }
        record(chunk, elapsed: elapsed, more: more)
        if more {
            listener.react()
        } else {
            await tokens?.positionStored(appliedEvents: chunk.events > 0, decided: chunk.tokenStates, position: chunk.position, applied: chunk.appliedTokens)
            if !relyingWriters.isEmpty { relying.watch(relyingWriters) }
        }
    }

    /// Metrics and logs of one applied chunk; `more`: its batch goes on.
    private func record(_ chunk: EventApplier.ChunkResult, elapsed: Duration, more: Bool) {
        let begun = inBatch.withLockedValue { wasInBatch in
            defer { wasInBatch = more }
            return more && !wasInBatch
        }
        if begun { batchBegun.yield() }
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
        if let line = progress.chunkApplied(
            events: chunk.events, orders: chunk.ordersUpdated, highestEventID: chunk.highestEventID, more: more, elapsed: elapsed)
        {
            logger.info("\(line.message)", metadata: line.metadata.mapValues { .string($0) })
        }
        for dead in chunk.deadLetters {
            metrics.deadLetters.increment()
            logger.error("event sent to the dead-letter table", metadata: ["event_id": "\(dead.eventID)", "reason": "\(dead.reason)"])
        }
    }

    /// A second session's help with each batch, from the top of its users down to where the
    /// applier has got (`EventApplier.helpBatch`): on two cores, a third off the batch's chunks.
    /// Its failures cost only the help: the applier does the whole batch anyway.
    private func helpBatches() async {
        for await _ in batchesBegun {
            var before: Int64?
            var chunks = 0
            do {
                while !Task.isCancelled, let lowest = try await applier.helpBatch(before: before) {
                    before = lowest
                    chunks += 1
                }
                logger.debug("helped with a batch", metadata: ["chunks": "\(chunks)"])
            } catch {
                logger.warning("helping with a batch failed; the applier goes on alone", metadata: ["error": "\(error)", "chunks": "\(chunks)"])
            }
        }
    }

    /// Logs a read that has run long (CatchUpProgress.reading), looked at every second: the
    /// leader's, on its listening session, or the apply loop's own.
    private func reportLongReads() async {
        while (try? await Task.sleep(for: .seconds(1))) != nil {
            let leaderRead = await lead.listener?.reactionRunningFor
            let running = leaderRead ?? ownReadStarted.withLockedValue { started in started.map { .now - $0 } }
            if let running, let line = progress.reading(for: running) {
                logger.info("\(line.message)", metadata: line.metadata.mapValues { .string($0) })
            }
        }
    }

    /// Counts and logs a failed read, and wakes the apply loop after the back-off (cancel the task
    /// when another read comes first).
    private func retryLater(after error: any Error, failures: Int, wake: AsyncStream<Void>.Continuation) -> Task<Void, Never> {
        metrics.failures.increment()
        let delay = Self.retryDelay(failures: failures)
        if let error = error as? PostgresError, error.isMissingDefinition {
            // Not a fault that passes: it lasts until the schema is applied, and is retried until then.
            logger.error("applying events failed; will retry", metadata: error.logMetadata.merging(["retry_in": "\(delay)"]) { $1 })
        } else {
            logger.warning("applying events failed; will retry", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
        }
        return Task {
            if (try? await Task.sleep(for: delay)) != nil { wake.yield() }
        }
    }

    /// After a failure the next attempt comes after this back-off, or at once on the next wake-up
    /// (a reconnected listener means the database is back).
    static func retryDelay(failures: Int) -> Duration {
        .milliseconds(min(1_000, 50 << min(failures, 5)))
    }

    private func applyLoop(_ wakeups: AsyncStream<Void>, wake: AsyncStream<Void>.Continuation, relying: RelyingWriterWaiter) async {
        // Registered at once (or since `warmUp`), while the listener connects: registering at the
        // first wake-up made the first read wait for a pooled session's connection after the
        // listener's (about 4 ms of a start). A failure here is retried, and reported, at the
        // first wake-up.
        var registered = (try? await registering().value) != nil
        var failures = 0
        var retry: Task<Void, Never>?
        for await _ in wakeups {
            retry?.cancel()
            do {
                if !registered {
                    try await applier.register()
                    registered = true
                }
                // The leader reads on its listening session, so that its reads never meet on the
                // position row. What committed while another process held the row may have woken
                // only the leader, so after finding it held the leader waits for that process.
                if let listener = await lead.listener {
                    if await lead.takePositionBusy() { _ = try await applier.waitForPosition() }
                    listener.react()
                    failures = 0
                    continue
                }
                let drained = try await drain()
                if !drained.relyingWriters.isEmpty { relying.watch(drained.relyingWriters) }
                failures = 0
            } catch {
                if Task.isCancelled { break }
                failures += 1
                retry = retryLater(after: error, failures: failures, wake: wake)
            }
        }
        retry?.cancel()
    }

    /// Applies chunks on the pooled sessions (a process that does not lead the wake-ups) until the
    /// batch is done or another consumer holds the position. Returns the slots of writers that were
    /// still committing in reliance on another's NOTIFY when the last chunk was read: once they
    /// commit, read again.
    func drain() async throws -> (relyingWriters: [Int32], positionBusy: Bool) {
        var appliedEvents = false
        while true {
            let start = ContinuousClock.now
            ownReadStarted.withLockedValue { $0 = start }
            defer { ownReadStarted.withLockedValue { $0 = nil } }
            let outcome = try await applier.applyNextChunk(tokens: tokens?.tokensWaiting ?? [])
            guard case .applied(let chunk, let more, let relyingWriters) = outcome else {
                logger.debug("another consumer is applying; standing by")
                await tokens?.standingBy()
                return ([], true)
            }
            if chunk.events > 0 { appliedEvents = true }
            record(chunk, elapsed: ContinuousClock.now - start, more: more)
            if !more {
                await tokens?.positionStored(appliedEvents: appliedEvents, decided: chunk.tokenStates, position: chunk.position, applied: chunk.appliedTokens)
                // No second read: whatever committed after this one's snapshot has notified, or
                // relies on a notification still to come, or is among these relying writers.
                return (relyingWriters, false)
            }
        }
    }
}
