import NIOCore

/// Runs a task's jobs on one NIO event loop: the loop that owns the task's HTTP connection, so a
/// request is read, handled and answered on one thread, and only the database call leaves it
/// (docs/design.md#one-thread-per-request). The loop must outlive every task that prefers it (a job
/// sent to a loop that has shut down never runs): the servers run on NIO's singleton group, which
/// is never shut down.
///
/// Sendable without a checked box: it holds one immutable reference to an event loop, which is
/// Sendable itself.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
