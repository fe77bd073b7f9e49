/// Every failure of the client. Carries the server's SQLSTATE, message, detail and hint, never the
/// values bound to the statement. `description` (what logs print) leaves out `detail`, which can
/// quote row values (`Key (email)=(...) already exists`); read `detail` where it is safe to show.
public struct PostgresError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case connectionFailed, connectionLost, server, decoding, invalidInput, poolTimeout, closed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Could not open a connection (server down, bad address, authentication).
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection broke while in use; the statement may or may not have run.
        public static let connectionLost = Code(.connectionLost)
        /// The server rejected the statement; see `sqlState`.
        public static let server = Code(.server)
        /// A value could not be decoded as the requested Swift type.
        public static let decoding = Code(.decoding)
        /// A value could not be sent (for example a NUL character in text).
        public static let invalidInput = Code(.invalidInput)
        /// No pooled connection became free in time.
        public static let poolTimeout = Code(.poolTimeout)
        /// The client was shut down.
        public static let closed = Code(.closed)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The five-character SQLSTATE, e.g. `23505` for a unique violation, when the server sent one.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?

    public init(code: Code, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
    }

    /// True when the statement names a table, column, function, type or schema the database does
    /// not have, or a function it has more than one match for: the database's schema is not the
    /// one the statement was written for.
    public var isMissingDefinition: Bool {
        sqlState.map { SQLState.missingDefinition.contains($0) } ?? false
    }

    /// True when the database could not be reached or the connection broke: a 503, not a 500.
    public var isUnavailable: Bool {
        switch code {
        case .connectionFailed, .connectionLost, .poolTimeout, .closed: return true
        default: return sqlState?.hasPrefix("08") == true || sqlState?.hasPrefix("57P") == true
        }
    }

    public var description: String {
        var text = "PostgresError.\(code)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        if let hint { text += " (hint: \(hint))" }
        return text
    }
}

extension PostgresError {
    /// Well-known SQLSTATEs the services branch on.
    public enum SQLState {
        public static let uniqueViolation = "23505"
        public static let foreignKeyViolation = "23503"
        public static let checkViolation = "23514"
        public static let undefinedTable = "42P01"
        public static let undefinedColumn = "42703"
        public static let undefinedFunction = "42883"
        public static let ambiguousFunction = "42725"
        public static let undefinedObject = "42704"
        public static let insufficientPrivilege = "42501"
        public static let serializationFailure = "40001"
        public static let deadlockDetected = "40P01"
        public static let adminShutdown = "57P01"
        public static let lockNotAvailable = "55P03"
        public static let invalidSchemaName = "3F000"
        public static let queryCanceled = "57014"
        /// What `isMissingDefinition` means.
        static let missingDefinition: Set<String> = [
            undefinedTable, undefinedColumn, undefinedFunction, ambiguousFunction, undefinedObject, invalidSchemaName,
        ]
    }
}
