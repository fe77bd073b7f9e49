#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Waits for a socket to become readable with `poll(2)`, optionally also watching a wake-up pipe,
/// so a listener thread sleeps in the kernel until the server speaks or its owner stops it.
enum SocketWaiter {
    enum Outcome: Equatable {
        case readable
        case woken
        case timeout
        case error
    }

    static func readable(_ socket: Int32, wake: Int32 = -1, timeoutMilliseconds: Int32) -> Outcome {
        var fds = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0)]
        if wake >= 0 { fds.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0)) }
        while true {
            let n = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeoutMilliseconds) }
            if n < 0 {
                if errno == EINTR { continue }
                return .error
            }
            if n == 0 { return .timeout }
            if fds.count > 1, fds[1].revents != 0 { return .woken }
            if fds[0].revents & Int16(POLLIN) != 0 { return .readable }
            return .error
        }
    }
}

/// A pipe used to interrupt `poll(2)` from another thread. Owns both descriptors.
/// `@unchecked Sendable`: the descriptors are immutable after init and `write`/`read` on a pipe are
/// thread-safe system calls.
final class WakePipe: @unchecked Sendable {
    let readEnd: Int32
    private let writeEnd: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        let ok = fds.withUnsafeMutableBufferPointer { pipe($0.baseAddress!) } == 0
        precondition(ok, "pipe(2) failed: out of file descriptors")
        readEnd = fds[0]
        writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(writeEnd, F_SETFL, fcntl(writeEnd, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    func wake() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Empties the pipe so the next `poll` sleeps again.
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while buffer.withUnsafeMutableBytes({ read(readEnd, $0.baseAddress, $0.count) }) > 0 {}
    }
}
