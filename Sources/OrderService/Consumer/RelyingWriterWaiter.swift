import Logging
import Postgres

/// Waits, on a session of its own, for writers that committed in reliance on another writer's
/// NOTIFY (their pending slots, see `user_service.notify_events()` and docs/design.md#wake-ups), then
/// wakes the consumer to read again. On its own task so a slow writer never holds up applying.
struct RelyingWriterWaiter: Sendable {
    private let database: PostgresClient
    private let logger: Logger
    private let wake: @Sendable () -> Void
    private let slots: AsyncStream<[Int32]>
    private let continuation: AsyncStream<[Int32]>.Continuation

    init(database: PostgresClient, logger: Logger, wake: @escaping @Sendable () -> Void) {
        self.database = database
        self.logger = logger
        self.wake = wake
        (slots, continuation) = AsyncStream.makeStream(of: [Int32].self)
    }

    /// Asks to be woken once the writers holding `slots` have finished.
    func watch(_ slots: [Int32]) {
        continuation.yield(slots)
    }

    func finish() {
        continuation.finish()
    }

    /// Until cancelled or finished.
    func run() async {
        var pending: Set<Int32> = []
        var iterator = slots.makeAsyncIterator()
        while !Task.isCancelled {
            if pending.isEmpty {
                guard let next = await iterator.next() else { return }
                pending.formUnion(next)
            }
            let waitingFor = pending.sorted()
            pending = []
            do {
                try await database.query(
                    "SELECT user_service.wait_for_relying_writers($1)", [waitingFor]
                )
            } catch {
                if Task.isCancelled { return }
                // A lock timeout (a writer keeping its slot: the safety poll covers it) or a lost
                // session: read again anyway.
                logger.debug("waiting for relying writers failed", metadata: ["error": "\(error)", "slots": "\(waitingFor)"])
            }
            wake()
        }
    }
}
