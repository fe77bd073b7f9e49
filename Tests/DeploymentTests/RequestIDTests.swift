import Hummingbird
import Logging
import ServiceSupport
import Testing

/// A request's log lines carry its id once, as `request_id`, and its response returns it.
@Suite("request ids in log lines")
struct RequestIDTests {
    @Test func aRequestsLinesCarryOneRequestID() async throws {
        var logger = Logger(label: "test")
        // As Hummingbird's server sets it on every request's logger.
        logger[metadataKey: "hb.request.id"] = "5f0e"
        var seen: Logger.Metadata = [:]
        let context = RouterRequest.context(logger: logger)
        let response = try await RequestIDMiddleware<AppRequestContext>().handle(RouterRequest.get("/"), context: context) { _, context in
            seen["request_id"] = context.logger[metadataKey: "request_id"]
            seen["hb.request.id"] = context.logger[metadataKey: "hb.request.id"]
            return Response(status: .ok)
        }
        #expect(seen["request_id"] == "5f0e")
        #expect(seen["hb.request.id"] == nil)
        #expect(response.headers[.requestID] == "5f0e")
    }
}
