import Logging
import NIOConcurrencyHelpers
import NIOPosix

/// A bounded pool of sessions to one database, and the entry point of this module.
///
/// ```swift
/// let client = PostgresClient(configuration: .init(connectionString: url), logger: logger)
/// let rows = try await client.withConnection { try await $0.query("SELECT $1::int", [42]) }
/// ```
/// Call `close()` (or run it as a `Service`) when done.
public final class PostgresClient: Sendable {
    public let configuration: PostgresConfiguration
    let logger: Logger
    private let pool: ConnectionPool
    /// One thread per possible session, so a slow statement never waits for a thread.
    private let threadPool: NIOThreadPool
    /// Listening sessions opened ahead by `warmUpListener`, by application name, until a listener
    /// takes one.
    private let earlyListenerSessions = NIOLockedValueBox<[String: EarlySession]>([:])

    public init(configuration: PostgresConfiguration, logger: Logger = Logger(label: "postgres")) {
        self.configuration = configuration
        self.logger = logger
        self.pool = ConnectionPool(maximum: configuration.maximumConnections, acquireTimeout: configuration.acquireTimeout)
        self.threadPool = NIOThreadPool(numberOfThreads: configuration.maximumConnections)
        threadPool.start()
    }

    /// Lends one session to `body`. A session that broke during `body`, or was left inside a
    /// transaction, is closed rather than pooled, so a killed backend fails at most the call that
    /// found it broken and no caller inherits another's transaction.
    public func withConnection<R>(_ body: (PostgresConnection) async throws -> R) async throws -> R {
        let handle: ConnectionHandle
        switch try await pool.acquire() {
        case .connection(let pooled):
            handle = pooled
        case .slot:
            do {
                handle = try await threadPool.runIfActive { [configuration] in
                    try ConnectionHandle(configuration: configuration)
                }
            } catch {
                await pool.releaseSlot()
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                logger.warning("could not connect to the database", metadata: ["error": "\(error)"])
                if error is PostgresError { throw error }
                throw PostgresError(code: .closed, message: "the client is closed")
            }
        }
        let connection = PostgresConnection(handle: handle, threadPool: threadPool)
        do {
            let result = try await body(connection)
            await pool.release(handle, reusable: handle.isReusable)
            return result
        } catch {
            await pool.release(handle, reusable: handle.isReusable)
            throw error
        }
    }

    /// One statement on a pooled session.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresEncodable] = []) async throws -> PostgresRows {
        try await withConnection { try await $0.query(sql, parameters) }
    }

    /// One prepared statement on a pooled session (see `PostgresConnection.prepared`).
    @discardableResult
    public func prepared(_ sql: String, _ parameters: [any PostgresEncodable] = []) async throws -> PostgresRows {
        try await withConnection { try await $0.prepared(sql, parameters) }
    }

    /// A client for the length of `body`, closed when it returns or throws.
    public static func withClient<R>(
        configuration: PostgresConfiguration,
        logger: Logger = Logger(label: "postgres"),
        _ body: (PostgresClient) async throws -> R
    ) async throws -> R {
        let client = PostgresClient(configuration: configuration, logger: logger)
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    /// A transaction on a pooled session: committed when `body` returns, rolled back otherwise.
    public func withTransaction<R>(
        isolation: PostgresConnection.IsolationLevel = .readCommitted,
        _ body: (PostgresConnection) async throws -> R
    ) async throws -> R {
        try await withConnection { try await $0.withTransaction(isolation: isolation, body) }
    }

    /// Starts opening, in the background, the session of a later `listen` with the same
    /// application name, channels and setup, and returns at once: connected, set up once and
    /// listening by the time that `listen` starts, if the process has that long
    /// (docs/design.md#a-start-that-connects-while-it-builds). A setup answering false is run
    /// again by the listener; a session that fails is opened again by it, which reports the failure.
    public func warmUpListener(
        on channels: [String], applicationName: String, setup: String? = nil, setupParameters: [any PostgresEncodable] = []
    ) {
        let plan = EarlySession.Plan(
            applicationName: applicationName, channels: channels, setup: setup, setupParameters: setupParameters.map(\.postgresParameter)
        )
        let early = EarlySession(plan: plan, configuration: listenerConfiguration(applicationName: applicationName))
        earlyListenerSessions.withLockedValue { $0.updateValue(early, forKey: applicationName)?.drop() }
    }

    /// The session `warmUpListener` opened for this listener, once; one opened for another plan
    /// under the same name is closed.
    func takeEarlyListenerSession(_ plan: EarlySession.Plan) -> EarlySession? {
        guard let early = earlyListenerSessions.withLockedValue({ $0.removeValue(forKey: plan.applicationName) }) else { return nil }
        guard early.plan == plan else {
            early.drop()
            return nil
        }
        return early
    }

    /// Sessions open right now (idle or lent), for tests and metrics.
    public var openConnections: Int {
        get async { await pool.openCount }
    }

    /// Closes idle sessions, fails waiters, and stops the threads. Idempotent.
    public func close() async {
        let early = earlyListenerSessions.withLockedValue { sessions in
            defer { sessions = [:] }
            return Array(sessions.values)
        }
        for session in early { session.drop() }
        await pool.close()
        try? await threadPool.shutdownGracefully()
    }
}
