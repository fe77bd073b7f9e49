import Postgres

/// `ecst dead-letters`: the events a consumer could not apply, listed, retried or discarded.
public struct DeadLetters: Sendable {
    public struct Entry: Codable, Sendable, Equatable {
        public var id: Int64
        public var consumer: String
        public var eventID: Int64
        public var eventType: String
        public var reason: String
        public var createdAt: String

        enum CodingKeys: String, CodingKey {
            case id, consumer, reason
            case eventID = "event_id"
            case eventType = "event_type"
            case createdAt = "created_at"
        }
    }

    /// What a retry did with one dead letter.
    public struct RetryOutcome: Codable, Sendable, Equatable {
        public enum Result: String, Codable, Sendable {
            /// Applicable now: its entity was brought up to date and the dead letter removed.
            case applied
            /// Still not applicable; kept.
            case stillInvalid = "still_invalid"
            /// Its event was pruned from the log; kept (discard it).
            case eventGone = "event_gone"
        }

        public var id: Int64
        public var eventID: Int64
        public var result: Result
        public var reason: String?

        enum CodingKeys: String, CodingKey {
            case id, result, reason
            case eventID = "event_id"
        }
    }

    /// Which dead letters: the given ids, or all of the consumer's.
    public enum Selection: Sendable {
        case ids([Int64])
        case all
    }

    public let database: PostgresClient
    public let consumer: String

    public init(database: PostgresClient, consumer: String) {
        self.database = database
        self.consumer = consumer
    }

    public func list(limit: Int = 100) async throws -> [Entry] {
        let rows = try await database.query(
            """
            SELECT id, consumer, event_id, event_type, reason, created_at::text
            FROM order_service.dead_letters WHERE consumer = $1 ORDER BY id LIMIT $2
            """,
            [consumer, limit]
        )
        return try rows.map { row in
            Entry(
                id: try row.decode(0), consumer: try row.decode(1), eventID: try row.decode(2),
                eventType: try row.decode(3), reason: try row.decode(4), createdAt: try row.decode(5)
            )
        }
    }

    /// Deletes the selected dead letters; returns how many there were.
    public func discard(_ selection: Selection) async throws -> Int {
        let (ids, all) = selection.parameters
        return try await database.query(
            """
            WITH gone AS (
                DELETE FROM order_service.dead_letters
                WHERE consumer = $1 AND ($3 OR id = ANY ($2)) RETURNING 1
            ) SELECT count(*) FROM gone
            """,
            [consumer, ids, all]
        )[0].decode(0, as: Int.self)
    }

    /// Checks each selected event again with the current rules (`order_service.event_problem`).
    /// An applicable one brings its entity to its latest valid state within the consumer's
    /// position, re-embeds it in its orders, and loses its dead letter, in one transaction that
    /// holds the consumer's position row (the consumer waits for it, as for one of its chunks).
    public func retry(_ selection: Selection) async throws -> [RetryOutcome] {
        let (ids, all) = selection.parameters
        return try await database.withTransaction { tx in
            guard
                let position = try await tx.query(
                    "SELECT snapshot::text FROM order_service.consumer_positions WHERE consumer = $1 FOR UPDATE", [consumer]
                ).single()
            else {
                throw OperationsError(.unknownConsumer, "no consumer named '\(consumer)' is registered")
            }
            let snapshot: String = try position.decode(0)
            let rows = try await tx.query(
                """
                SELECT d.id, d.event_id, e.id IS NULL AS gone, e.aggregate_type, e.aggregate_id,
                       order_service.event_problem(e.type, e.aggregate_type, e.payload) AS problem
                FROM order_service.dead_letters d
                LEFT JOIN user_service.events e ON e.id = d.event_id
                WHERE d.consumer = $1 AND ($3 OR d.id = ANY ($2))
                ORDER BY d.id
                FOR UPDATE OF d
                """,
                [consumer, ids, all]
            )
            var outcomes: [RetryOutcome] = []
            var users: [Int64] = []
            var products: [Int64] = []
            for row in rows {
                let id: Int64 = try row.decode("id")
                let eventID: Int64 = try row.decode("event_id")
                if try row.decode("gone", as: Bool.self) {
                    outcomes.append(RetryOutcome(id: id, eventID: eventID, result: .eventGone, reason: "event \(eventID) is no longer in the log"))
                } else if let problem = try row.decode("problem", as: String?.self) {
                    outcomes.append(RetryOutcome(id: id, eventID: eventID, result: .stillInvalid, reason: problem))
                } else {
                    let entity: Int64 = try row.decode("aggregate_id")
                    if try row.decode("aggregate_type", as: String.self) == "user" { users.append(entity) } else { products.append(entity) }
                    outcomes.append(RetryOutcome(id: id, eventID: eventID, result: .applied, reason: nil))
                }
            }
            let applied = outcomes.filter { $0.result == .applied }.map(\.id)
            if !applied.isEmpty {
                let refresh = ReplicaRefresh(connection: tx)
                try await refresh.refreshEntities(users: users, products: products, snapshot: snapshot)
                try await tx.query("DELETE FROM order_service.dead_letters WHERE id = ANY ($1)", [applied])
            }
            return outcomes
        }
    }
}

extension DeadLetters.Selection {
    var parameters: (ids: [Int64], all: Bool) {
        switch self {
        case .all: return ([], true)
        case .ids(let ids): return (ids, false)
        }
    }
}
