/// What an operation refuses to do, and why, in words an operator can act on.
public struct OperationsError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case unknownConsumer
        case noConsumers
        case notSuperuser
        case logIncomplete
        case invalidArgument
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
