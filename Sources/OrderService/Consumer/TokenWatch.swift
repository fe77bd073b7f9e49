import Logging
import NIOConcurrencyHelpers
import Postgres

/// Says whether consistency tokens are applied, and lets requests wait for theirs without a query
/// per request: every waiting token is checked in one query (`order_service.token_states()`), when
/// this process's consumer has stored a new position (which its own statement answers for the
/// tokens waiting when it ran, so those need no query at all), when another process's has (its
/// `ecst_applied` notification, listened for only while tokens wait here and this process is not
/// the one applying), and every `recheckInterval` (a write that changed nothing has no event, so no
/// new position announces it). Nothing runs while nobody waits. docs/design.md#read-your-writes.
public actor TokenWatch {
    public static let channel = "ecst_applied"
    /// `application_name` of the session that listens for other processes' positions.
    public static let listenerName = "order-service/watch"

    let database: PostgresClient
    let consumer: String
    let logger: Logger
    let recheckInterval: Duration
    /// How long the listening session stays open after the last waiter left (bursts of waiters
    /// should not open and close a session each).
    let listenerLinger: Duration

    private struct Waiter {
        let token: ConsistencyToken
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<ConsistencyToken.State, any Error>
        /// Known committed (`order_service.token_committed()`): applied once a position of this
        /// process's consumer sees it finished.
        var committed = false
    }

    /// Changed only through `add` and `remove`, which keep `waitingTokens` in step.
    private var waiters: [Int: Waiter] = [:]
    /// The tokens waited for (and by how many requests), readable from any thread without a hop to
    /// the actor: the consumer's statement (run on the listener's thread too) asks for their states.
    private let waitingTokens = NIOLockedValueBox([ConsistencyToken: Int]())
    private var nextWaiter = 0
    private var checker: Task<Void, Never>?
    private var listener: Task<Void, Never>?
    /// True while this process's consumer is the one applying (then its own commits announce its
    /// positions), as far as its last reads showed.
    public private(set) var appliesHere = false
    private var stopped = false
    private var lastNeeded = ContinuousClock.now
    // The checker's pause: resumed by a new position or by its timer, whichever comes first.
    private var pause: CheckedContinuation<Void, Never>?
    private var pauseGeneration = 0
    private var advancedMeanwhile = false
    /// The newest stored position heard of (from this process's consumer or another's
    /// notification): a token found committed by a check that began before it was stored is
    /// answered from it at once, without another check.
    private var lastPosition: PostgresSnapshot?
    /// The tokens the latest positions heard of applied (at most `recentLimit`, oldest dropped
    /// first): a request arriving just after its write was applied is answered without a check.
    private var recentlyApplied: Set<ConsistencyToken> = []
    private var recentOrder: [ConsistencyToken] = []
    private static let recentLimit = 4_096
    /// Queries issued so far (each checks every token waiting then), and requests waiting now.
    public private(set) var checks = 0
    public var waiting: Int { waiters.count }
    /// Of those, the ones whose token is known to have committed.
    public var waitingKnownCommitted: Int { waiters.values.count(where: \.committed) }

    public init(
        database: PostgresClient, consumer: String, logger: Logger, recheckInterval: Duration = .milliseconds(50),
        listenerLinger: Duration = .seconds(10)
    ) {
        self.database = database
        self.consumer = consumer
        self.logger = logger
        self.recheckInterval = recheckInterval
        self.listenerLinger = listenerLinger
    }

    /// The state of each token now, in one query.
    public func states(of tokens: [ConsistencyToken]) async throws -> [ConsistencyToken: ConsistencyToken.State] {
        checks += 1
        return try await Self.states(of: tokens, consumer: consumer, database: database)
    }

    /// The waiters' check: each token's state, and for those pending whether they committed.
    private func statesAndCommits(of tokens: [ConsistencyToken]) async throws -> [ConsistencyToken: TokenCheck] {
        checks += 1
        return try await Self.check(tokens, consumer: consumer, database: database)
    }

    /// `order_service.token_states()`: also what `ecst token` asks.
    public static func states(
        of tokens: [ConsistencyToken], consumer: String, database: PostgresClient
    ) async throws -> [ConsistencyToken: ConsistencyToken.State] {
        try await check(tokens, consumer: consumer, database: database).mapValues(\.state)
    }

    /// A token's state, and whether it is known committed (`order_service.token_committed()`,
    /// asked of the pending ones).
    typealias TokenCheck = (state: ConsistencyToken.State, committed: Bool)

    /// Every token's state in one query.
    static func check(_ tokens: [ConsistencyToken], consumer: String, database: PostgresClient) async throws -> [ConsistencyToken: TokenCheck] {
        let rows = try await database.prepared(
            """
            SELECT t.token::text, t.state, t.state = 'pending' AND order_service.token_committed(t.token)
            FROM order_service.token_states($1, $2::text[]::xid8[]) t
            """,
            [consumer, tokens.map(\.text)]
        )
        var checked: [ConsistencyToken: TokenCheck] = [:]
        for row in rows {
            guard let token = ConsistencyToken(try row.decode(0, as: String.self)),
                let state = ConsistencyToken.State(rawValue: try row.decode(1, as: String.self))
            else { continue }
            checked[token] = (state, try row.decode(2, as: Bool.self))
        }
        return checked
    }

    /// Returns once `token` is no longer pending, or `.pending` when `timeout` has passed.
    /// Its first check is the next one of the watch's (at once, or right after the one running), so
    /// requests arriving together share it too.
    public func wait(for token: ConsistencyToken, timeout: Duration) async throws -> ConsistencyToken.State {
        if recentlyApplied.contains(token) { return .applied }
        let id = nextWaiter
        nextWaiter += 1
        let deadline = ContinuousClock.now + timeout
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                guard !Task.isCancelled, !stopped else { return continuation.resume(throwing: CancellationError()) }
                add(id, Waiter(token: token, deadline: deadline, continuation: continuation))
                if checker == nil { checker = Task { await self.checkWhileWaiting() } }
                wakeChecker()
                updateListener()
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    /// The tokens requests wait for now, for the consumer's next statement to answer.
    public nonisolated var tokensWaiting: [ConsistencyToken] { waitingTokens.withLockedValue { Array($0.keys) } }

    /// This process's consumer stored a new position (or found nothing new), and its statement said
    /// the state of the tokens in `decided` (those waiting when it ran), the snapshot `position`
    /// everything visible in which is applied, and the tokens in `applied` whose events it applied:
    /// answer the tokens no longer pending, those in `applied` (even those that arrived while it
    /// ran), and those known committed that `position` sees, and check the others in one query.
    /// Only a read that applied events shows that this process is the one applying: a standby's
    /// reads find the position row free between the active one's transactions, and nothing new.
    public func positionStored(
        appliedEvents: Bool, decided: [ConsistencyToken: ConsistencyToken.State] = [:], position: PostgresSnapshot? = nil,
        applied: Set<ConsistencyToken> = []
    ) {
        if appliedEvents { appliesHere = true }
        if let position { lastPosition = position }
        remember(applied)
        var undecided = false
        for (id, waiter) in waiters {
            switch decided[waiter.token] {
            case nil where applied.contains(waiter.token):
                remove(id)?.continuation.resume(returning: .applied)
            case nil where waiter.committed && position?.isVisible(waiter.token.xid) == true:
                remove(id)?.continuation.resume(returning: .applied)
            case nil:
                undecided = true
            case .pending?:
                break  // as of that commit; the next position, or the timer, checks it again
            case let state?:
                remove(id)?.continuation.resume(returning: state)
            }
        }
        if undecided { wakeChecker() }
    }

    private func remember(_ applied: Set<ConsistencyToken>) {
        for token in applied where recentlyApplied.insert(token).inserted {
            recentOrder.append(token)
        }
        if recentOrder.count > Self.recentLimit {
            let dropped = recentOrder.count - Self.recentLimit
            recentlyApplied.subtract(recentOrder[..<dropped])
            recentOrder.removeFirst(dropped)
        }
    }

    /// This process's consumer found another one applying: listen for its positions.
    public func standingBy() {
        guard appliesHere else { return }
        appliesHere = false
        updateListener()
    }

    /// Ends the listening and fails whoever still waits (at shutdown, after the HTTP server drained).
    public func stop() {
        stopped = true
        listener?.cancel()
        checker?.cancel()
        for id in Array(waiters.keys) { remove(id)?.continuation.resume(throwing: CancellationError()) }
        wakeChecker()
    }

    private func add(_ id: Int, _ waiter: Waiter) {
        waiters[id] = waiter
        waitingTokens.withLockedValue { $0[waiter.token, default: 0] += 1 }
    }

    private func remove(_ id: Int) -> Waiter? {
        guard let waiter = waiters.removeValue(forKey: id) else { return nil }
        waitingTokens.withLockedValue { counts in
            counts[waiter.token] = counts[waiter.token].flatMap { $0 > 1 ? $0 - 1 : nil }
        }
        return waiter
    }

    private var isListenerNeeded: Bool { !stopped && !waiters.isEmpty && !appliesHere }

    private func cancel(_ id: Int) {
        remove(id)?.continuation.resume(throwing: CancellationError())
    }

    private func wakeChecker() {
        if let pause {
            self.pause = nil
            pause.resume()
        } else if !waiters.isEmpty {
            advancedMeanwhile = true
        }
    }

    private func checkWhileWaiting() async {
        while let nearest = waiters.values.map(\.deadline).min() {
            await pause(until: min(ContinuousClock.now + recheckInterval, nearest))
            await checkWaiters()
        }
        checker = nil
        advancedMeanwhile = false
    }

    private func pause(until instant: ContinuousClock.Instant) async {
        if advancedMeanwhile {
            advancedMeanwhile = false
            return
        }
        pauseGeneration += 1
        let generation = pauseGeneration
        let timer = Task {
            try? await Task.sleep(until: instant)
            self.timerFired(generation)
        }
        await withCheckedContinuation { pause = $0 }
        timer.cancel()
    }

    private func timerFired(_ generation: Int) {
        guard generation == pauseGeneration, let pause else { return }
        self.pause = nil
        pause.resume()
    }

    private func checkWaiters() async {
        let tokens = Array(Set(waiters.values.map(\.token)))
        guard !tokens.isEmpty else { return }
        // Waiters arriving during the query are decided by the next check (the arrival asked for one).
        let checkedBelow = nextWaiter
        let states: [ConsistencyToken: TokenCheck]
        do {
            states = try await statesAndCommits(of: tokens)
        } catch {
            // The requests fail as any query of theirs would (503 when the database is away).
            logger.warning("checking consistency tokens failed", metadata: ["error": "\(error)", "waiting": "\(waiters.count)"])
            for (id, _) in waiters where id < checkedBelow {
                remove(id)?.continuation.resume(throwing: error)
            }
            return
        }
        let now = ContinuousClock.now
        for (id, waiter) in waiters where id < checkedBelow {
            let (state, committed) = states[waiter.token] ?? (.pending, false)
            if state != .pending || waiter.deadline <= now {
                remove(id)?.continuation.resume(returning: state)
            } else if committed, lastPosition?.isVisible(waiter.token.xid) == true {
                // The consumer stored a position that sees it while this check ran.
                remove(id)?.continuation.resume(returning: .applied)
            } else if committed {
                waiters[id]?.committed = true
            }
        }
    }

    /// Another process applies: hear of its positions while anyone waits here (and a little longer).
    private func updateListener() {
        if isListenerNeeded { lastNeeded = .now }
        guard isListenerNeeded, listener == nil else { return }
        listener = Task.detached { await self.listenForOtherAppliers() }
    }

    private nonisolated func listenForOtherAppliers() async {
        logger.debug("listening for the applying order-service's positions")
        do {
            try await database.listen(
                on: [Self.channel], applicationName: Self.listenerName, setup: "SELECT order_service.watch_applied()"
            ) { events in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // `.listening` comes once the watch lock is held (after any apply in
                        // flight committed): check then, and at every notification.
                        for await event in events { await self.heard(event) }
                    }
                    group.addTask { await self.lingerWhileNeeded() }
                    await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            logger.warning("listening for positions failed", metadata: ["error": "\(error)"])
        }
        await listenerEnded()
    }

    /// Another process's consumer stored a position (its notification says which, and the tokens
    /// it applied, when they fit: '<snapshot> <tokens> <consumer>'), or the listening began: answer
    /// what that position decides, check the rest.
    private func heard(_ event: PostgresListenerEvent) {
        guard case .notification(let notification) = event else { return wakeChecker() }
        let parts = notification.payload.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2] == consumer, let position = PostgresSnapshot(String(parts[0])) else { return wakeChecker() }
        let applied = Set(parts[1].split(separator: ",").compactMap { ConsistencyToken(String($0)) })
        positionStored(appliedEvents: false, position: position, applied: applied)
    }

    private func listenerEnded() {
        listener = nil
        updateListener()
    }

    private func lingerWhileNeeded() async {
        while (try? await Task.sleep(for: .milliseconds(500))) != nil {
            if isListenerNeeded { lastNeeded = .now }
            if ContinuousClock.now - lastNeeded >= listenerLinger { return }
        }
    }
}
