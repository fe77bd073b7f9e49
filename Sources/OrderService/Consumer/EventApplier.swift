import Postgres

/// Applies the events of `user_service.events` to the replica and the purchase orders, one
/// bounded chunk per transaction, in commit order without skipping or stalling: the Swift face of
/// `order_service.apply_next_chunk()` (schema.sql). Each chunk's effects and the new position
/// commit together, so a crash loses and repeats nothing.
public struct EventApplier: Sendable {
    public let database: PostgresClient
    public let consumer: String
    public let chunkSize: Int
    /// Who applies, recorded on the position row (host:pid).
    public let identity: String

    public init(database: PostgresClient, consumer: String, chunkSize: Int = 5_000, identity: String) {
        self.database = database
        self.consumer = consumer
        self.chunkSize = chunkSize
        self.identity = identity
    }

    public enum Outcome: Sendable, Equatable {
        /// Applied a chunk (perhaps of no events); `more` is true when another follows at once.
        /// `relyingWriters`: the pending slots held, just before this chunk was read, by writers
        /// committing in reliance on another writer's NOTIFY (see docs/design.md#wake-ups); if no chunk
        /// follows, wait for them and read again.
        case applied(ChunkResult, more: Bool, relyingWriters: [Int32])
        /// Another consumer holds the position row: it is applying, we stand by.
        case busy
    }

    public struct ChunkResult: Sendable, Equatable {
        public var events: Int
        public var ordersUpdated: Int
        public var deadLetters: [DeadLetter]
        /// The chunk's highest event id (not necessarily its last: ids do not follow commit order).
        public var highestEventID: Int64?
        /// The state, as of this chunk's commit, of the tokens it was asked about (when it ended a
        /// batch; none otherwise).
        public var tokenStates: [ConsistencyToken: ConsistencyToken.State] = [:]
        /// When it ended a batch: the snapshot everything visible in which is applied.
        public var position: PostgresSnapshot?
        /// When it ended a batch: the tokens of the writes whose events this chunk applied, which
        /// are applied with it (`order_service.event_tokens()`).
        public var appliedTokens: Set<ConsistencyToken> = []
    }

    public struct DeadLetter: Sendable, Equatable, Decodable {
        public var eventID: Int64
        public var reason: String

        enum CodingKeys: String, CodingKey {
            case eventID = "event_id"
            case reason
        }
    }

    /// Creates the position row at the very beginning of the log if it is missing.
    public func register() async throws {
        try await database.query(
            "INSERT INTO order_service.consumer_positions (consumer) VALUES ($1) ON CONFLICT (consumer) DO NOTHING",
            [consumer]
        )
    }

    /// Applies at most one chunk, in one statement: `order_service.apply_next_chunk()` in
    /// schema.sql, which documents how. Its statements run with generic plans (the consumer's
    /// sessions force them; see `consumerConfiguration`).
    /// `tokens`: consistency tokens to say the state of, if the chunk ends a batch.
    public func applyNextChunk(tokens: [ConsistencyToken] = []) async throws -> Outcome {
        try Self.outcome(of: try await database.prepared(Self.applyNextChunk, applyNextChunkParameters(tokens: tokens)))
    }

    /// The statement of `applyNextChunk()` and its parameters, for a session that runs it by
    /// itself (the listening session, at every wake-up), and its outcome read from its rows.
    func applyNextChunkParameters(tokens: [ConsistencyToken]) -> [any PostgresEncodable] {
        [consumer, chunkSize, identity, tokens.map(\.text)]
    }

    static func outcome(of rows: PostgresRows) throws -> Outcome {
        let row = rows[0]
        if try row.decode("busy", as: Bool.self) { return .busy }
        let result = ChunkResult(
            events: try row.decode("events"),
            ordersUpdated: try row.decode("orders_updated"),
            deadLetters: try row.decode("dead_letters", as: PostgresJSON.self).decoded(as: [DeadLetter].self),
            highestEventID: try row.decode("highest_event_id"),
            tokenStates: try Self.tokenStates(try row.decode("token_states", as: PostgresJSON.self).decoded(as: [String: String].self)),
            position: try row.decode("position_snapshot", as: String?.self).flatMap(PostgresSnapshot.init),
            appliedTokens: Set((try row.decode("applied_tokens", as: [String]?.self) ?? []).compactMap(ConsistencyToken.init))
        )
        return .applied(result, more: try row.decode("more"), relyingWriters: try row.decode("relying_writers"))
    }

    private static func tokenStates(_ states: [String: String]) throws -> [ConsistencyToken: ConsistencyToken.State] {
        var decided: [ConsistencyToken: ConsistencyToken.State] = [:]
        for (text, state) in states {
            guard let token = ConsistencyToken(text), let state = ConsistencyToken.State(rawValue: state) else {
                throw PostgresError(code: .decoding, message: "apply_next_chunk answered a token state it should not: \(state)")
            }
            decided[token] = state
        }
        return decided
    }

    /// Helps with the batch in progress from a second session: applies the next `helperChunkSize`
    /// of its users below `before` (nil: from the top), down to the applier's cursor, and returns
    /// the lowest id applied, or nil when nothing is left to help with (`order_service.help_batch()`).
    public func helpBatch(before: Int64?) async throws -> Int64? {
        try await database.prepared("SELECT order_service.help_batch($1, $2, $3::integer)", [consumer, before, helperChunkSize])[0].decode(0)
    }

    /// The helper's chunk, a fifth of the applier's: where the two meet, the applier waits for the
    /// helper's chunk in flight, so the smaller that chunk the less it waits
    /// (docs/design.md#reading-the-log-in-commit-order).
    var helperChunkSize: Int { max(1, chunkSize / 5) }

    /// Waits (up to a second) for another consumer's transaction on the position row to end; true
    /// once it has, false when it still holds the row (a long `ecst rebuild`).
    public func waitForPosition() async throws -> Bool {
        try await database.prepared("SELECT order_service.wait_for_position($1)", [consumer])[0].decode(0)
    }

    static let applyNextChunk = """
        SELECT busy, events, orders_updated, more, highest_event_id, dead_letters, relying_writers, token_states,
               position_snapshot, applied_tokens::text[] AS applied_tokens
        FROM order_service.apply_next_chunk($1, $2::integer, $3, $4::text[]::xid8[])
        """
}
