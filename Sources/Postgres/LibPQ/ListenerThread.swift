import Foundation
import Logging
import NIOConcurrencyHelpers

/// Owns a dedicated thread and the session it listens on. The thread sleeps in `poll(2)` on the
/// session's socket (and a wake-up pipe), reads notifications as soon as they arrive, notices a
/// lost session the moment its socket closes, and reconnects with backoff.
///
/// `@unchecked Sendable`: the handle is touched only by the listener thread; the other state is
/// immutable or behind a lock.
final class ListenerThread: @unchecked Sendable {
    private let configuration: PostgresConfiguration
    private let channels: [String]
    /// Run before `LISTEN` at every (re)connect, again as long as it answers false; it may block
    /// (a lock wait), and `.listening` is reported after it. Before, so a session waiting in it
    /// holds back no notification queue.
    private let setup: (sql: String, parameters: [PostgresParameter])?
    /// Run on the session itself as soon as notifications arrive (see `PostgresClient.listen`),
    /// with the parameters its closure gives at each run.
    private let reaction: PostgresClient.Reaction?
    private let continuation: AsyncStream<PostgresListenerEvent>.Continuation
    private let logger: Logger
    /// A session opened ahead of this listener, for its first connect (`PostgresClient.warmUpListener`).
    private let early: EarlySession?
    private let wakePipe = WakePipe()
    private let stopped = NIOLockedValueBox(false)
    private let reactionRequested = NIOLockedValueBox(false)
    /// When the reaction now running started; nil between runs.
    private let reactionStarted = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    /// An idle session is probed this often, to notice a silently dead network.
    private let idleProbeMilliseconds: Int32 = 5_000

    init(
        configuration: PostgresConfiguration,
        channels: [String],
        setup: (sql: String, parameters: [PostgresParameter])?,
        reaction: PostgresClient.Reaction?,
        continuation: AsyncStream<PostgresListenerEvent>.Continuation,
        logger: Logger,
        early: EarlySession? = nil
    ) {
        self.configuration = configuration
        self.channels = channels
        self.setup = setup
        self.reaction = reaction
        self.continuation = continuation
        self.logger = logger
        self.early = early
    }

    func start() {
        Thread.startNamed("pg-listen") { [self] in run() }
    }

    /// Asks the thread to close its session and end the stream; returns at once.
    func stop() {
        stopped.withLockedValue { $0 = true }
        wakePipe.wake()
    }

    private var isStopped: Bool { stopped.withLockedValue { $0 } }

    /// Asks the thread to run the reaction (see `PostgresListener.react()`); returns at once.
    func requestReaction() {
        reactionRequested.withLockedValue { $0 = true }
        wakePipe.wake()
    }

    /// How long the reaction now running has run, or nil when none runs (see
    /// `PostgresListener.reactionRunningFor`).
    func reactionRunningFor(now: ContinuousClock.Instant = .now) -> Duration? {
        reactionStarted.withLockedValue { started in started.map { now - $0 } }
    }

    /// Whether a run was asked for since the last call.
    private func takeReactionRequest() -> Bool {
        reactionRequested.withLockedValue { requested in
            defer { requested = false }
            return requested
        }
    }

    private func run() {
        var failures = 0
        var wasListening = false
        var early = self.early
        while !isStopped {
            let handle: ConnectionHandle
            do {
                // The session opened ahead, once, if it connected: listening already, or still to
                // be set up (its setup answered false). A readable socket is no sign of its loss
                // here, as for an idle pooled session: notifications may be waiting, and are read
                // next. A session lost meanwhile is noticed there, as any later loss is.
                let opened = early?.take()
                early = nil
                // Stopped while the early session was still connecting: no second attempt.
                if isStopped { break }
                if let opened, opened.handle.isHealthy {
                    handle = opened.handle
                    if !opened.listening {
                        _ = try Self.prepare(handle, channels: channels, setup: setup, once: false) { [self] in isStopped }
                    }
                } else {
                    handle = try ConnectionHandle(configuration: configuration)
                    _ = try Self.prepare(handle, channels: channels, setup: setup, once: false) { [self] in isStopped }
                }
            } catch {
                failures += 1
                // Capped low: a restarted server is back within a second or two, and every
                // notification missed meanwhile waits for this reconnect.
                let delay = min(500, 50 << min(failures, 4))
                logger.warning(
                    "listener could not connect; retrying",
                    metadata: ["error": "\(error)", "retry_ms": "\(delay)"]
                )
                waitForStop(milliseconds: Int32(delay))
                continue
            }
            failures = 0
            if wasListening {
                logger.info("listener reconnected", metadata: [:])
            }
            continuation.yield(.listening(reconnected: wasListening))
            wasListening = true
            listen(on: handle)
            if !isStopped { continuation.yield(.interrupted) }
        }
        continuation.finish()
    }

    /// Runs `setup` on a new session, and again while it answers false (a wait in slices, since a
    /// statement that waits holds a snapshot, and the server's xmin horizon, while it waits),
    /// then listens on `channels`. With `once`, a setup answering false is not run again and
    /// false is returned, with nothing listened to yet.
    static func prepare(
        _ handle: ConnectionHandle,
        channels: [String],
        setup: (sql: String, parameters: [PostgresParameter])?,
        once: Bool,
        isStopped: () -> Bool
    ) throws -> Bool {
        while let setup, !isStopped(), try handle.exec(setup.sql, setup.parameters).first?.values.first == "f" {
            if once { return false }
        }
        for channel in channels {
            _ = try handle.execSimple("LISTEN \(try handle.escapeIdentifier(channel))")
        }
        return true
    }

    /// Reads notifications until the session is lost or the listener is stopped.
    private func listen(on handle: ConnectionHandle) {
        while !isStopped {
            if reaction != nil, takeReactionRequest(), !react(on: handle) { return }
            switch SocketWaiter.readable(handle.socket, wake: wakePipe.readEnd, timeoutMilliseconds: idleProbeMilliseconds) {
            case .woken:
                wakePipe.drain()
            case .readable:
                let alive = handle.consumeInput()
                let arrived = deliverNotifications(from: handle)
                if !alive {
                    logger.warning("listener lost its session", metadata: ["error": "\(handle.lastErrorMessage)"])
                    return
                }
                if arrived, !react(on: handle) { return }
            case .timeout:
                do {
                    _ = try handle.execSimple("SELECT 1")
                } catch {
                    logger.warning("listener probe failed", metadata: ["error": "\(error)"])
                    return
                }
                if deliverNotifications(from: handle), !react(on: handle) { return }
            case .error:
                logger.warning("listener socket failed", metadata: [:])
                return
            }
        }
    }

    /// Passes on what libpq has read, unless a reaction runs for it instead (see
    /// `PostgresClient.listen(on:reaction:)`); true when there was anything.
    private func deliverNotifications(from handle: ConnectionHandle) -> Bool {
        let notifications = handle.drainNotifications()
        if reaction == nil {
            for notification in notifications {
                continuation.yield(.notification(notification))
            }
        }
        return !notifications.isEmpty
    }

    /// Runs the reaction, and again while notifications (they may announce commits its snapshot
    /// did not see) or requests arrived during its run. False when the session was lost.
    private func react(on handle: ConnectionHandle) -> Bool {
        guard let reaction else { return true }
        var again = true
        while again, !isStopped {
            let clock = ContinuousClock()
            let started = clock.now
            reactionStarted.withLockedValue { $0 = started }
            let result: Result<PostgresRows, PostgresError>
            do {
                result = .success(try handle.execPrepared(reaction.sql, try reaction.parameters()))
            } catch {
                result = .failure(error)
            }
            reactionStarted.withLockedValue { $0 = nil }
            continuation.yield(.reacted(result, elapsed: clock.now - started))
            guard handle.isHealthy else {
                logger.warning("listener lost its session", metadata: ["error": "\(handle.lastErrorMessage)"])
                return false
            }
            // A failed reaction is the caller's to retry; only a successful one is repeated here.
            let arrived = deliverNotifications(from: handle)
            again = (takeReactionRequest() || arrived) && (try? result.get()) != nil
        }
        return true
    }

    private func waitForStop(milliseconds: Int32) {
        if SocketWaiter.readable(wakePipe.readEnd, timeoutMilliseconds: milliseconds) == .readable {
            wakePipe.drain()
        }
    }
}
