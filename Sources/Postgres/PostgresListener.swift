/// A running listener, as a `listen(on:reaction:)` body sees it.
public struct PostgresListener: Sendable {
    let thread: ListenerThread

    /// Asks the listener to run its reaction on its session as soon as its thread is free: at once
    /// when it is waiting for notifications, right after the current run otherwise (requests made
    /// meanwhile share that one run), after the next connect while it is reconnecting.
    public func react() {
        thread.requestReaction()
    }
}
