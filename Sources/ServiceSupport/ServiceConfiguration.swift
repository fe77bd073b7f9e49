import Logging
import Postgres

/// The environment the services read, all of it, in one place: `DATABASE_URL`, `HOST`, `PORT`,
/// `LOG_LEVEL`, optionally `DATABASE_USER`, `DATABASE_POOL_SIZE`, `HTTP_IDLE_TIMEOUT_SECONDS` and `HTTP_EVENT_LOOPS`, and the order-service's
/// `CONSUMER_*`. A value that is set but wrong stops the service with a message saying so.
public struct ServiceConfiguration: Sendable {
    public var databaseURL: String
    /// The role to connect as (`DATABASE_USER`), overriding the user named in `DATABASE_URL`.
    public var databaseUser: String?
    public var host: String
    public var port: Int
    public var logLevel: Logger.Level
    /// Pool size (`DATABASE_POOL_SIZE`).
    public var poolSize: Int
    /// Seconds a client connection may go without sending a whole request head or body part
    /// before it is closed (`HTTP_IDLE_TIMEOUT_SECONDS`): idle keep-alive connections and clients
    /// that trickle their headers or never send a declared body.
    public var idleTimeoutSeconds = 30
    /// Threads serving HTTP connections (`HTTP_EVENT_LOOPS`); nil: the service's default
    /// (README.md#configuration).
    public var eventLoops: Int?
    /// The order-service's event consumer; the user-service has none.
    public var consumer = Consumer()

    public struct Consumer: Sendable, Equatable {
        /// The position row it applies under (`CONSUMER_NAME`); nil: the service's default.
        public var name: String?
        /// Events read per wake-up, and entities applied per transaction while catching up (`CONSUMER_CHUNK_SIZE`).
        public var chunkSize = 5_000
        /// The safety poll: a read even without a wake-up (`CONSUMER_POLL_SECONDS`).
        public var pollSeconds = 5

        public init(name: String? = nil, chunkSize: Int = 5_000, pollSeconds: Int = 5) {
            self.name = name
            self.chunkSize = chunkSize
            self.pollSeconds = pollSeconds
        }
    }

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
        configuration.poolSize = try integer("DATABASE_POOL_SIZE", in: 1...200, environment) ?? configuration.poolSize
        configuration.idleTimeoutSeconds =
            try integer("HTTP_IDLE_TIMEOUT_SECONDS", in: 1...3_600, environment) ?? configuration.idleTimeoutSeconds
        configuration.eventLoops = try integer("HTTP_EVENT_LOOPS", in: 1...256, environment)
        if let name = environment["CONSUMER_NAME"], !name.isEmpty { configuration.consumer.name = name }
        configuration.consumer.chunkSize = try integer("CONSUMER_CHUNK_SIZE", in: 1...1_000_000, environment) ?? configuration.consumer.chunkSize
        configuration.consumer.pollSeconds = try integer("CONSUMER_POLL_SECONDS", in: 1...3_600, environment) ?? configuration.consumer.pollSeconds
        return configuration
    }

    private static func integer(_ name: String, in range: ClosedRange<Int>, _ environment: [String: String]) throws -> Int? {
        guard let text = environment[name], !text.isEmpty else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw Invalid(description: "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
        }
        return value
    }
}
