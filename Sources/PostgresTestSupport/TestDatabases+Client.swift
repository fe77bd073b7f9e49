import Postgres

extension TestDatabases {
    /// A fresh database and a superuser client on it, both cleaned up after `body`.
    public func withClient<R: Sendable>(
        template: String? = nil,
        maximumConnections: Int = 4,
        acquireTimeout: Duration? = nil,
        _ body: @Sendable (PostgresClient, TestDatabase) async throws -> R
    ) async throws -> R {
        try await withTestDatabase(template: template) { database in
            var configuration = database.configuration
            configuration.maximumConnections = maximumConnections
            if let acquireTimeout { configuration.acquireTimeout = acquireTimeout }
            return try await PostgresClient.withClient(configuration: configuration) { client in
                try await body(client, database)
            }
        }
    }
}
