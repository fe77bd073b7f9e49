/// Where and how to connect: a libpq connection string or URI (as in `DATABASE_URL`), plus keyword
/// overrides that win over it (for example `user` to connect as a service's own role).
public struct PostgresConfiguration: Sendable {
    public var connectionString: String
    public var overrides: [String: String]
    /// Upper bound on the pool's connections.
    public var maximumConnections: Int
    /// How long a caller waits for a pooled connection before `PostgresError.poolTimeout`.
    public var acquireTimeout: Duration
    public var connectTimeoutSeconds: Int

    public init(
        connectionString: String,
        overrides: [String: String] = [:],
        maximumConnections: Int = 8,
        acquireTimeout: Duration = .seconds(5),
        connectTimeoutSeconds: Int = 5
    ) {
        self.connectionString = connectionString
        self.overrides = overrides
        self.maximumConnections = max(1, maximumConnections)
        self.acquireTimeout = acquireTimeout
        self.connectTimeoutSeconds = max(1, connectTimeoutSeconds)
    }

    /// The same server, with sessions that say who they are in `pg_stat_activity`
    /// (`application_name`).
    public func named(_ applicationName: String) -> PostgresConfiguration {
        with(["application_name": applicationName])
    }

    /// The same server with some keywords replaced (another user, another database).
    public func with(_ more: [String: String]) -> PostgresConfiguration {
        var copy = self
        copy.overrides.merge(more) { _, new in new }
        return copy
    }
}
