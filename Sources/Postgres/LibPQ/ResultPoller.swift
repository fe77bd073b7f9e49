#if os(Linux)
    import CEpoll
    import Foundation
    import Glibc
    import NIOConcurrencyHelpers

    /// Waits for the results of every statement in flight in the process on one thread, so that a
    /// statement wakes no other thread to be sent (docs/design.md#statements-without-a-hop).
    ///
    /// The caller sends its statement itself, without blocking (libpq's non-blocking mode), and
    /// adds the session's socket to this poller's epoll set: `epoll_ctl` from any thread reaches a
    /// waiting `epoll_wait` without waking it. This thread wakes when the server answers, reads the
    /// result, and resumes the caller. Handing the statement to a pooled thread instead cost a
    /// wake-up of that thread before the statement was even sent.
    ///
    /// `@unchecked Sendable`: the epoll descriptor is immutable and its calls are thread-safe; the
    /// waiting statements are behind a lock, and each session is touched by one thread at a time
    /// (its caller until the socket is armed, then this thread until the caller is resumed).
    final class ResultPoller: @unchecked Sendable {
        static let shared = ResultPoller()

        private struct Waiter {
            let handle: ConnectionHandle
            let continuation: CheckedContinuation<PostgresRows, any Error>
            /// libpq still holds bytes of the statement to send.
            var writing = false
        }

        private let epoll: Int32
        /// Statements in flight, by their session's socket (one statement per session at a time).
        private let waiting = NIOLockedValueBox<[Int32: Waiter]>([:])

        private init() {
            epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
            precondition(epoll >= 0, "epoll_create1 failed: out of file descriptors")
            Thread.startNamed("pg-results") { [self] in run() }
        }

        /// Sends `statement` on `handle` and returns its result once the server has answered.
        func run(_ handle: ConnectionHandle, _ statement: ConnectionHandle.Statement) async throws -> PostgresRows {
            try await withCheckedThrowingContinuation { continuation in
                proceed(Waiter(handle: handle, continuation: continuation), handle.start(statement))
            }
        }

        private func proceed(_ waiter: Waiter, _ progress: ConnectionHandle.Progress) {
            var waiter = waiter
            switch progress {
            case .done(let result):
                waiter.continuation.resume(with: result.mapError { $0 })
                return
            case .wantsRead:
                waiter.writing = false
            case .wantsWrite:
                waiter.writing = true
            }
            let socket = waiter.handle.socket
            let armed = waiter
            waiting.withLockedValue { $0[socket] = armed }
            // One-shot: the socket is reported once per arming, so no two threads ever see it ready.
            var event = epoll_event()
            event.events = EPOLLIN.rawValue | EPOLLONESHOT.rawValue | (waiter.writing ? EPOLLOUT.rawValue : 0)
            event.data.fd = socket
            // Armed again for each statement; added the first time (a closed socket leaves the set
            // by itself, and its number may come back for a new session).
            var status = epoll_ctl(epoll, EPOLL_CTL_MOD, socket, &event)
            if status != 0, errno == ENOENT {
                status = epoll_ctl(epoll, EPOLL_CTL_ADD, socket, &event)
            }
            if status != 0 {
                let reason = String(cString: strerror(errno))
                if let waiter = waiting.withLockedValue({ $0.removeValue(forKey: socket) }) {
                    waiter.continuation.resume(
                        throwing: PostgresError(code: .connectionLost, message: "cannot wait on the session's socket: \(reason)")
                    )
                }
            }
        }

        private func run() {
            let capacity: Int32 = 64
            var events = [epoll_event](repeating: epoll_event(), count: Int(capacity))
            while true {
                let count = events.withUnsafeMutableBufferPointer { epoll_wait(epoll, $0.baseAddress, capacity, -1) }
                if count < 0 {
                    if errno == EINTR { continue }
                    fatalError("epoll_wait failed: \(String(cString: strerror(errno)))")
                }
                for index in 0..<Int(count) {
                    let socket = events[index].data.fd
                    guard let waiter = waiting.withLockedValue({ $0.removeValue(forKey: socket) }) else { continue }
                    proceed(waiter, waiter.handle.advance(flushing: waiter.writing))
                }
            }
        }
    }
#endif
