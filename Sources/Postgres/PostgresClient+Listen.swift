import Logging

extension PostgresClient {
    /// Listens on `channel` on a session of its own for as long as `body` runs, then unlistens.
    ///
    /// The sequence first yields `.listening(reconnected: false)`. If the session is lost (backend
    /// terminated, server restarted), it reconnects with backoff and yields
    /// `.listening(reconnected: true)`: notifications may have been missed in between. Notifications
    /// are wake-ups: when the caller falls behind, the oldest are dropped beyond `bufferSize`.
    /// `applicationName` names the listening session in `pg_stat_activity` (the client's own name
    /// otherwise).
    public func listen<R>(
        on channel: String,
        applicationName: String? = nil,
        bufferSize: Int = 1024,
        _ body: (AsyncStream<PostgresListenerEvent>) async throws -> R
    ) async throws -> R {
        try await listen(on: [channel], applicationName: applicationName, bufferSize: bufferSize, body)
    }

    /// Listens on several channels on one session, as `listen(on:)` does on one. `setup` (with
    /// `setupParameters` bound) runs on the session before `LISTEN`, at every (re)connect, and may
    /// block: for a lock the session must hold while it listens. While it answers `false` it is run
    /// again: wait in slices (a statement holds its snapshot, and the server's xmin horizon, for
    /// as long as it waits). `.listening` follows both.
    public func listen<R>(
        on channels: [String],
        applicationName: String? = nil,
        setup: String? = nil,
        setupParameters: [any PostgresEncodable] = [],
        bufferSize: Int = 1024,
        _ body: (AsyncStream<PostgresListenerEvent>) async throws -> R
    ) async throws -> R {
        try await listen(
            on: channels, applicationName: applicationName, setup: setup, setupParameters: setupParameters, reaction: nil, bufferSize: bufferSize
        ) { stream, _ in try await body(stream) }
    }

    /// Listens as `listen(on:applicationName:setup:)` does, and runs `reaction` (with
    /// `reactionParameters` bound) on the listening session itself, on the listener's thread: as
    /// soon as notifications arrive (once for all that arrived together), whenever the body asks
    /// (`PostgresListener.react()`), and again as long as more notifications or requests came while
    /// it ran (a notification may announce a commit its snapshot missed). Each run is reported as
    /// `.reacted`; a failed run is not repeated (retrying is the caller's). The notifications
    /// themselves are not reported: the reaction reads what they announce, and passing each on
    /// would wake the body's task for nothing (a thread switch per notification, on the consumer's
    /// path at every wake-up). Reacting where the notification is read spares the hops between
    /// threads and sessions that a caller's own statement would take.
    public func listen<R>(
        on channels: [String],
        applicationName: String? = nil,
        setup: String? = nil,
        setupParameters: [any PostgresEncodable] = [],
        reaction: String,
        reactionParameters: [any PostgresEncodable] = [],
        bufferSize: Int = 1024,
        _ body: (AsyncStream<PostgresListenerEvent>, PostgresListener) async throws -> R
    ) async throws -> R {
        let bound = try Self.bound(reactionParameters)
        return try await listen(
            on: channels, applicationName: applicationName, setup: setup, setupParameters: setupParameters,
            reaction: Reaction(sql: reaction, parameters: { bound }), bufferSize: bufferSize, body
        )
    }

    /// The same, with parameters that may change from one run to the next: `reactionParameters` is
    /// called on the listener's thread before each run, so it must be quick and must not block.
    public func listen<R>(
        on channels: [String],
        applicationName: String? = nil,
        setup: String? = nil,
        setupParameters: [any PostgresEncodable] = [],
        reaction: String,
        reactionParameters: @escaping @Sendable () -> [any PostgresEncodable],
        bufferSize: Int = 1024,
        _ body: (AsyncStream<PostgresListenerEvent>, PostgresListener) async throws -> R
    ) async throws -> R {
        try await listen(
            on: channels, applicationName: applicationName, setup: setup, setupParameters: setupParameters,
            reaction: Reaction(sql: reaction, parameters: { () throws(PostgresError) in try Self.bound(reactionParameters()) }),
            bufferSize: bufferSize, body
        )
    }

    /// A listening session's settings: its own session, outside the pool's limits, whose loss
    /// the keepalives reveal within seconds.
    func listenerConfiguration(applicationName: String?) -> PostgresConfiguration {
        let configuration = configuration.with(["keepalives_idle": "5", "keepalives_interval": "2", "keepalives_count": "2"])
        return applicationName.map { configuration.named($0) } ?? configuration
    }

    private static func bound(_ parameters: [any PostgresEncodable]) throws(PostgresError) -> [PostgresParameter] {
        var bound: [PostgresParameter] = []
        for parameter in parameters { bound.append(try parameter.postgresParameter.validated()) }
        return bound
    }

    /// A listener's reaction: its statement, and its parameters as of each run.
    struct Reaction: Sendable {
        let sql: String
        let parameters: @Sendable () throws(PostgresError) -> [PostgresParameter]
    }

    private func listen<R>(
        on channels: [String],
        applicationName: String?,
        setup: String?,
        setupParameters: [any PostgresEncodable],
        reaction: Reaction?,
        bufferSize: Int,
        _ body: (AsyncStream<PostgresListenerEvent>, PostgresListener) async throws -> R
    ) async throws -> R {
        let (stream, continuation) = AsyncStream.makeStream(
            of: PostgresListenerEvent.self,
            bufferingPolicy: .bufferingNewest(bufferSize)
        )
        var listenerLogger = logger
        listenerLogger[metadataKey: "channel"] = "\(channels.joined(separator: ","))"
        let setupParameters = setupParameters.map(\.postgresParameter)
        let listener = ListenerThread(
            configuration: listenerConfiguration(applicationName: applicationName),
            channels: channels,
            setup: setup.map { ($0, setupParameters) },
            reaction: reaction,
            continuation: continuation,
            logger: listenerLogger,
            early: applicationName.flatMap {
                takeEarlyListenerSession(.init(applicationName: $0, channels: channels, setup: setup, setupParameters: setupParameters))
            }
        )
        continuation.onTermination = { _ in listener.stop() }
        listener.start()
        defer { listener.stop() }
        return try await body(stream, PostgresListener(thread: listener))
    }
}
