import NIOCore

/// The bookkeeping of a bounded pool: idle sessions, how many are open, and callers waiting in
/// arrival order. Opening and closing sessions happens outside, on the thread pool.
actor ConnectionPool {
    /// What a caller gets: an idle session, or the right to open a new one.
    enum Lease: Sendable {
        case connection(ConnectionHandle)
        case slot
    }

    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Lease, any Error>
        let deadline: ContinuousClock.Instant
    }

    private let maximum: Int
    private let acquireTimeout: Duration
    private var idle: [ConnectionHandle] = []
    private var open = 0
    private var waiters = CircularBuffer<Waiter>()
    private var nextWaiterID = 0
    private var closed = false
    /// Fails waiters whose acquire timeout has passed. One task for all of them: a sleeping task
    /// per waiter, even cancelled at once, keeps its timer until the deadline, and under load
    /// (thousands of waits a second, 5 s each) those timers held tens of megabytes.
    private var sweeper: Task<Void, Never>?

    init(maximum: Int, acquireTimeout: Duration) {
        self.maximum = maximum
        self.acquireTimeout = acquireTimeout
    }

    var openCount: Int { open }
    var idleCount: Int { idle.count }

    func acquire() async throws -> Lease {
        if closed { throw PostgresError(code: .closed, message: "the client is closed") }
        // Newest idle first: it is the least likely to have been dropped by a server-side timeout.
        while let handle = idle.popLast() {
            if handle.checkIdleHealth() { return .connection(handle) }
            open -= 1  // killed while idle: dropped here, so no caller ever sees the failure
        }
        if open < maximum {
            open += 1
            return .slot
        }
        let id = nextWaiterID
        nextWaiterID += 1
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.append(Waiter(id: id, continuation: continuation, deadline: .now + acquireTimeout))
                if sweeper == nil {
                    sweeper = Task { await self.sweep() }
                }
            }
        } onCancel: {
            Task { await self.fail(waiter: id, with: CancellationError()) }
        }
    }

    /// Returns a session; a broken one is dropped and its slot handed to the next waiter.
    func release(_ handle: ConnectionHandle, reusable: Bool) {
        if reusable, !closed {
            if let waiter = popWaiter() {
                waiter.continuation.resume(returning: .connection(handle))
            } else {
                idle.append(handle)
            }
        } else {
            releaseSlot()
        }
    }

    /// A slot whose connection could not be opened, or was dropped.
    func releaseSlot() {
        open -= 1
        if !closed, let waiter = popWaiter() {
            open += 1
            waiter.continuation.resume(returning: .slot)
        }
    }

    /// Drops idle sessions and fails waiters; sessions in use are dropped when returned.
    func close() {
        closed = true
        open -= idle.count
        idle.removeAll()
        while let waiter = popWaiter() {
            waiter.continuation.resume(throwing: PostgresError(code: .closed, message: "the client is closed"))
        }
        sweeper?.cancel()
    }

    /// Sleeps until the oldest waiter's deadline (waiters queue in arrival order and share one
    /// timeout, so it is the earliest), fails those past it, and ends when nobody waits.
    private func sweep() async {
        while let oldest = waiters.first {
            if oldest.deadline <= .now {
                fail(waiter: oldest.id, with: timeoutError())
                continue
            }
            do {
                try await Task.sleep(until: oldest.deadline, clock: .continuous)
            } catch {
                break  // closed
            }
        }
        sweeper = nil
    }

    private func popWaiter() -> Waiter? {
        guard !waiters.isEmpty else { return nil }
        return waiters.removeFirst()
    }

    private func fail(waiter id: Int, with error: any Error) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = waiters.remove(at: index)
        waiter.continuation.resume(throwing: error)
    }

    private nonisolated func timeoutError() -> PostgresError {
        PostgresError(code: .poolTimeout, message: "no database connection became free within \(acquireTimeout)")
    }
}
