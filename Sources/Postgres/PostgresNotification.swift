/// One `NOTIFY` received on a listened channel.
public struct PostgresNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    /// The backend that sent it.
    public var backendPID: Int32
}
