import Foundation

/// One `NOTIFY` received on a listened channel.
public struct PostgresNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    /// The backend that sent it.
    public var backendPID: Int32
    /// When the listener's thread read it from the session, before any hop to its consumer (a
    /// benchmark's floor compares it with the sender's commit timestamp).
    public var received: Date
}
