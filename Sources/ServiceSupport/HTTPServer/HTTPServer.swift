import Hummingbird
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOHTTPTypesHTTP1
import NIOPosix
import ServiceLifecycle

/// HTTP/1.1 for both services: Hummingbird's router (routes, middlewares, controllers) behind a
/// NIO pipeline of our own, each request read whole, handled and answered on its connection's
/// event loop (docs/design.md#a-server-of-our-own). On graceful shutdown it stops accepting,
/// closes idle connections and lets each request in flight finish before its connection closes.
public final class HTTPServer<Responder: HTTPResponder>: Service where Responder.Context == AppRequestContext {
    let host: String
    let port: Int
    let idleTimeout: TimeAmount
    let connection: HTTPConnectionHandler<Responder>.Shared
    let onListening: @Sendable (Int) -> Void

    /// `onListening` gets the port bound (port 0 binds any free one).
    public init(
        host: String, port: Int, idleTimeoutSeconds: Int, serverName: String, responder: Responder, logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.onListening = onListening
        self.idleTimeout = .seconds(Int64(idleTimeoutSeconds))
        self.connection = .init(responder: responder, serverName: serverName, logger: logger, dates: HTTPDate())
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let quiescing = ServerQuiescingHelper(group: group)
        let (connection, idleTimeout) = (connection, idleTimeout)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                    try pipeline.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try pipeline.addHandler(HTTPConnectionHandler(shared: connection, eventLoop: channel.eventLoop))
                }
            }
            .bind(host: host, port: port)
            .get()
        connection.logger.info("server started", metadata: ["address": "\(host):\(channel.localAddress?.port ?? port)"])
        onListening(channel.localAddress?.port ?? port)
        // Until SIGTERM or SIGINT (or cancellation, which ends the same way, only sooner).
        try? await gracefulShutdown()
        let closed = group.any().makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: closed)
        try await closed.futureResult.get()
    }
}
