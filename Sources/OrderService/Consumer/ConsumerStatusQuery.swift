import Postgres

/// Where a consumer stands: the highest event id it has applied, the log's head, and how many
/// committed events it has yet to apply (ids commit out of order, so lag is counted, not subtracted).
public struct ConsumerStatus: Codable, Sendable, Equatable {
    public var consumer: String
    public var position: Int64
    public var head: Int64
    public var lag: Int
    public var appliedEvents: Int64
    public var snapshot: String
    public var lastAppliedAt: String?
    public var appliedBy: String?
    public var deadLetters: Int
    /// Only when asked for one: a consistency token's state.
    public var token: TokenState?

    public struct TokenState: Codable, Sendable, Equatable {
        public var token: String
        public var state: ConsistencyToken.State

        public init(token: String, state: ConsistencyToken.State) {
            self.token = token
            self.state = state
        }
    }

    enum CodingKeys: String, CodingKey {
        case consumer, position, head, lag, snapshot, token
        case appliedEvents = "applied_events"
        case lastAppliedAt = "last_applied_at"
        case appliedBy = "applied_by"
        case deadLetters = "dead_letters"
    }
}

public struct ConsumerStatusQuery: Sendable {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    /// Nil when the consumer has never run.
    public func status(consumer: String) async throws -> ConsumerStatus? {
        try Self.status(consumer: consumer, in: try await database.prepared(Self.sql, [consumer]))
    }

    /// The same on a session the caller holds (the lag gauge times the count alone, not the wait
    /// for a pooled session).
    static func status(consumer: String, on connection: PostgresConnection) async throws -> ConsumerStatus? {
        try status(consumer: consumer, in: try await connection.prepared(sql, [consumer]))
    }

    private static func status(consumer: String, in rows: PostgresRows) throws -> ConsumerStatus? {
        guard let row = try rows.single() else { return nil }
        return ConsumerStatus(
            consumer: consumer,
            position: try row.decode("position"),
            head: try row.decode("head"),
            lag: try row.decode("lag"),
            appliedEvents: try row.decode("applied_events"),
            snapshot: try row.decode("snapshot"),
            lastAppliedAt: try row.decode("last_applied_at"),
            appliedBy: try row.decode("applied_by"),
            deadLetters: try row.decode("dead_letters")
        )
    }

    /// SQL for the ISO 8601 text, in UTC, of a `timestamptz` expression (a constant of the caller's,
    /// never input): the one form of every time the status reports, whatever the session's zone.
    public static func utcText(_ expression: String) -> String {
        #"to_char((\#(expression)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"#
    }

    /// The `order_service.consumer_lag` view (schema.sql), with its timestamp in UTC.
    static let sql = """
        SELECT position, head, lag, applied_events, snapshot::text AS snapshot,
               \(utcText("last_applied_at")) AS last_applied_at,
               applied_by, dead_letters
        FROM order_service.consumer_lag
        WHERE consumer = $1
        """
}
