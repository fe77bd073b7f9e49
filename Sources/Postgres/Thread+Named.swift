import Foundation

extension Thread {
    /// Starts `body` on a new thread that `top -H`, `perf` and `/proc/PID/task/*/comm` show as
    /// `name` (Linux keeps 15 bytes of it). Foundation's `name`, set before `start()`, does not reach
    /// the kernel on Linux: such a thread showed the name of whichever thread created it (a NIO
    /// event loop's, or Swift's cooperative pool's). The thread names itself through
    /// `/proc/thread-self/comm` (glibc's `pthread_setname_np` is not visible to Swift).
    static func startNamed(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            #if os(Linux)
                try? name.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
            #endif
            body()
        }
        thread.name = name
        thread.start()
    }
}
