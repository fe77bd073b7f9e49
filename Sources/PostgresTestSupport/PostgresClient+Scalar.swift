import Postgres

extension PostgresClient {
    /// The first column of the first row, for short assertions in tests.
    public func scalar<T: PostgresDecodable>(_ sql: String, _ parameters: [any PostgresEncodable] = [], as type: T.Type = T.self) async throws -> T {
        try await withConnection { try await $0.scalar(sql, parameters, as: type) }
    }
}

extension PostgresConnection {
    /// The first column of the first row, for short assertions in tests.
    public func scalar<T: PostgresDecodable>(_ sql: String, _ parameters: [any PostgresEncodable] = [], as type: T.Type = T.self) async throws -> T {
        let rows = try await query(sql, parameters)
        guard let row = rows.first else { throw PostgresError(code: .decoding, message: "no row for scalar query") }
        return try row.decode(0, as: type)
    }
}
