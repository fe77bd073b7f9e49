/// What a listener reports to its caller.
public enum PostgresListenerEvent: Sendable, Equatable {
    /// `LISTEN` is in place. `reconnected` is true after the session was lost and re-established:
    /// notifications sent in between are gone, so a caller that must not miss work re-reads its table.
    case listening(reconnected: Bool)
    /// A notification on the channel (not reported to a listener with a reaction, which runs instead).
    case notification(PostgresNotification)
    /// The session was lost; the listener is reconnecting (and running its setup again), and
    /// notifications are missed until the next `.listening`.
    case interrupted
    /// The listener's reaction ran on its session (see `PostgresClient.listen(on:reaction:)`):
    /// its rows or its error, and how long it took.
    case reacted(Result<PostgresRows, PostgresError>, elapsed: Duration)
}
