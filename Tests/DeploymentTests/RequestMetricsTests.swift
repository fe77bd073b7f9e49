import Hummingbird
import NIOCore
import ServiceSupport
import Testing

/// Request metrics must leave a response's body as the handler made it: Hummingbird writes head,
/// body and end in one write only for a body that is a single buffer
/// (docs/design.md#one-write-per-response).
@Suite("request metrics keep one write per response")
struct RequestMetricsTests {
    @Test func aMeasuredResponseKeepsItsSingleBufferBody() async throws {
        #expect(try await bodyKind(through: RequestMetricsMiddleware()) == "byteBuffer")
        // The check can tell: Hummingbird's own metrics middleware wraps the body in a closure.
        #expect(try await bodyKind(through: MetricsMiddleware()) == "closure")
    }

    /// The case of `ResponseBody`'s backing after `middleware`, by name.
    private func bodyKind(through middleware: some RouterMiddleware<AppRequestContext>) async throws -> String {
        let router = Router(context: AppRequestContext.self)
        router.add(middleware: middleware)
        router.get("/answer") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "{}"))) }
        let response = try await respond(router, path: "/answer")
        #expect(response.status == .ok)
        let backing = try #require(Mirror(reflecting: response.body).descendant("_backing"))
        return String(describing: backing).prefix { $0.isLetter }.description
    }

    private func respond(_ router: Router<AppRequestContext>, path: String) async throws -> Response {
        try await router.buildResponder().respond(to: RouterRequest.get(path), context: RouterRequest.context())
    }
}
