/// A running listener, as a `listen(on:reaction:)` body sees it.
public struct PostgresListener: Sendable {
    let thread: ListenerThread

    /// Asks the listener to run its reaction on its session as soon as its thread is free: at once
    /// when it is waiting for notifications, right after the current run otherwise (requests made
    /// meanwhile share that one run), after the next connect while it is reconnecting.
    public func react() {
        thread.requestReaction()
    }

    /// How long the reaction now running has run, or nil when none runs: for a caller that reports
    /// on long work while the run, on the listener's thread, has nothing to report yet.
    public var reactionRunningFor: Duration? {
        thread.reactionRunningFor()
    }
}
