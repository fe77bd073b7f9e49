import AsyncHTTPClient
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import ServiceSupport
import Testing

/// Both services serve each HTTP connection on its own event loop
/// (docs/design.md#a-server-of-our-own): the handler starts there and comes back there after
/// work on another thread, as after every database call.
@Suite("HTTP handlers run on their connection's event loop")
struct EventLoopHandlingTests {
    @Test func aHandlerStartsAndResumesOnTheEventLoopOfItsConnection() async throws {
        let router = Router(context: AppRequestContext.self)
        router.get("where") { _, _ -> String in
            let before = MultiThreadedEventLoopGroup.currentEventLoop.map { ObjectIdentifier($0) }
            // A hop to another thread and back, as `PostgresConnection` makes for each statement.
            let elsewhere = try await NIOThreadPool.singleton.runIfActive {
                MultiThreadedEventLoopGroup.currentEventLoop == nil
            }
            let after = MultiThreadedEventLoopGroup.currentEventLoop.map { ObjectIdentifier($0) }
            return "\(before != nil) \(elsewhere) \(before == after)"
        }
        try await withServer(router) { port in
            for _ in 0..<20 {
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/where"), timeout: .seconds(10))
                let answer = String(buffer: try await response.body.collect(upTo: 1 << 16))
                #expect(answer == "true true true", "on an event loop at first, elsewhere in the hop, the same loop after")
            }
        }
    }
}

/// `router` served by `HTTPServer` on a free port for `body`, then shut down gracefully.
func withServer(_ router: Router<AppRequestContext>, _ body: (Int) async throws -> Void) async throws {
    let (ports, listening) = AsyncStream.makeStream(of: Int.self)
    let server = HTTPServer(
        host: "127.0.0.1", port: 0, idleTimeoutSeconds: 30, serverName: "test", responder: router.buildResponder(),
        logger: Logger(label: "test"), onListening: { listening.yield($0) })
    let group = ServiceGroup(configuration: .init(services: [server], logger: Logger(label: "test")))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { return }
        do {
            try await body(port)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}
