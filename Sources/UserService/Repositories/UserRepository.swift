import Postgres

/// users in `user_service.users`. Every write fires the outbox triggers in the same transaction.
public struct UserRepository: Sendable {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    /// All users ordered by id, as a JSON array built by PostgreSQL.
    func listJSON() async throws -> String {
        let rows = try await database.prepared(
            """
            SELECT coalesce(json_agg(json_build_object(
                     'id', id, 'firstname', firstname, 'lastname', lastname, 'email', email) ORDER BY id), '[]')
            FROM user_service.users
            """
        )
        return try rows[0].decode(0, as: String.self)
    }

    func find(id: Int64) async throws -> User? {
        let rows = try await database.prepared("SELECT id, firstname, lastname, email FROM user_service.users WHERE id = $1", [id])
        return try rows.single().map(Self.user)
    }

    /// The new user and the write's consistency token.
    func create(firstname: String, lastname: String, email: String) async throws -> Written<User> {
        let rows = try await database.prepared(
            """
            INSERT INTO user_service.users (firstname, lastname, email) VALUES ($1, $2, $3)
            RETURNING id, firstname, lastname, email, user_service.transaction_token()
            """,
            [firstname, lastname, email]
        )
        return Written(value: try Self.user(rows[0]), token: try rows[0].decode(4))
    }

    /// The updated user and the write's token, or nil when there is no such user. Changing nothing
    /// writes no event (the token is still good to wait for).
    func update(_ user: User) async throws -> Written<User>? {
        let rows = try await database.prepared(
            """
            UPDATE user_service.users SET firstname = $2, lastname = $3, email = $4 WHERE id = $1
            RETURNING id, firstname, lastname, email, user_service.transaction_token()
            """,
            [user.id, user.firstname, user.lastname, user.email]
        )
        return try rows.single().map { Written(value: try Self.user($0), token: try $0.decode(4)) }
    }

    private static func user(_ row: PostgresRow) throws -> User {
        User(
            id: try row.decode(0),
            firstname: try row.decode(1),
            lastname: try row.decode(2),
            email: try row.decode(3)
        )
    }
}
