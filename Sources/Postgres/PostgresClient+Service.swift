import ServiceLifecycle

/// As a `Service`, the client lives until graceful shutdown, then closes its sessions. Put it
/// before the HTTP server in a `ServiceGroup` so it is closed after the server has drained.
extension PostgresClient: Service {
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}
