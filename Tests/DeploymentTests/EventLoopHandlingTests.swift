import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import ServiceSupport
import Testing

/// Both services serve each HTTP connection on its own event loop
/// (docs/design.md#one-thread-per-request): the handler starts there and comes back there after
/// work on another thread, as after every database call.
@Suite("HTTP handlers run on their connection's event loop")
struct EventLoopHandlingTests {
    @Test func aHandlerStartsAndResumesOnTheEventLoopOfItsConnection() async throws {
        let router = Router()
        router.get("where") { _, _ -> String in
            let before = MultiThreadedEventLoopGroup.currentEventLoop.map { ObjectIdentifier($0) }
            // A hop to another thread and back, as `PostgresConnection` makes for each statement.
            let elsewhere = try await NIOThreadPool.singleton.runIfActive {
                MultiThreadedEventLoopGroup.currentEventLoop == nil
            }
            let after = MultiThreadedEventLoopGroup.currentEventLoop.map { ObjectIdentifier($0) }
            return "\(before != nil) \(elsewhere) \(before == after)"
        }
        let app = Application(router: router, server: .http1OnEventLoops(configuration: .init()))
        try await app.test(.live) { client in
            for _ in 0..<20 {
                let answer = try await client.execute(uri: "/where", method: .get) { String(buffer: $0.body) }
                #expect(answer == "true true true", "on an event loop at first, elsewhere in the hop, the same loop after")
            }
        }
    }
}
