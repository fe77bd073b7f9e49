import HTTPTypes
import Hummingbird
import Logging

/// Gives every request an id, taken from `X-Request-Id` when the client sends a sane one, puts it
/// in the request's log metadata and returns it in the response.
public struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = request.headers[.requestID].flatMap(Self.accept) ?? context.id
        var context = context
        // One id per line: Hummingbird's own (which `context.id` reads) is replaced by ours.
        context.logger[metadataKey: "hb.request.id"] = nil
        context.logger[metadataKey: "request_id"] = "\(id)"
        var response = try await next(request, context)
        response.headers[.requestID] = id
        return response
    }

    /// Up to 128 visible ASCII characters; anything else is replaced by our own id.
    static func accept(_ value: String) -> String? {
        guard !value.isEmpty, value.utf8.count <= 128, value.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { return nil }
        return value
    }
}

extension HTTPField.Name {
    public static let requestID = Self("X-Request-Id")!
}
