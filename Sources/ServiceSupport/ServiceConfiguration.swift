import Logging
import Postgres

/// The environment both services read: `DATABASE_URL`, `HOST`, `PORT`, `LOG_LEVEL`, and optionally
/// `DATABASE_USER` and `DATABASE_POOL_SIZE`.
public struct ServiceConfiguration: Sendable {
    public var databaseURL: String
    /// The role to connect as (`DATABASE_USER`), overriding the user named in `DATABASE_URL`.
    public var databaseUser: String?
    public var host: String
    public var port: Int
    public var logLevel: Logger.Level
    /// Pool size (`DATABASE_POOL_SIZE`).
    public var poolSize: Int

    public init(databaseURL: String, host: String = "127.0.0.1", port: Int, logLevel: Logger.Level = .info, poolSize: Int = 10) {
        self.databaseURL = databaseURL
        self.host = host
        self.port = port
        self.logLevel = logLevel
        self.poolSize = poolSize
    }

    /// The client configuration: the URL, with `DATABASE_USER` winning over the URL's user.
    public var postgres: PostgresConfiguration {
        PostgresConfiguration(
            connectionString: databaseURL,
            overrides: databaseUser.map { ["user": $0] } ?? [:],
            maximumConnections: poolSize
        )
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads the environment; `defaultDatabaseURL` applies when `DATABASE_URL` is unset.
    public static func fromEnvironment(
        _ environment: [String: String],
        defaultPort: Int,
        defaultDatabaseURL: String
    ) throws -> ServiceConfiguration {
        var configuration = ServiceConfiguration(databaseURL: defaultDatabaseURL, port: defaultPort)
        if let url = environment["DATABASE_URL"], !url.isEmpty { configuration.databaseURL = url }
        if let user = environment["DATABASE_USER"], !user.isEmpty { configuration.databaseUser = user }
        if let host = environment["HOST"], !host.isEmpty { configuration.host = host }
        if let text = environment["PORT"], !text.isEmpty {
            guard let port = Int(text), (1...65535).contains(port) else { throw Invalid(description: "PORT must be 1-65535, got '\(text)'") }
            configuration.port = port
        }
        if let text = environment["LOG_LEVEL"], !text.isEmpty {
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                throw Invalid(description: "LOG_LEVEL must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
            }
            configuration.logLevel = level
        }
        if let text = environment["DATABASE_POOL_SIZE"], !text.isEmpty {
            guard let size = Int(text), (1...200).contains(size) else { throw Invalid(description: "DATABASE_POOL_SIZE must be 1-200, got '\(text)'") }
            configuration.poolSize = size
        }
        return configuration
    }
}
