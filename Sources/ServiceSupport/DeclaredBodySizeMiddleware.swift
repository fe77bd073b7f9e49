import Hummingbird

/// Answers 413 as soon as a request's head declares a `Content-Length` over the context's cap,
/// without waiting for a body that may never come. (Reading the body would only find out once
/// the cap was crossed; a chunked body still is cut off there, by `collectBody(upTo:)`.) The
/// connection is then closed by the idle timeout if the client never sends that body.
public struct DeclaredBodySizeMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > context.maxUploadSize {
            throw HTTPError(.contentTooLarge)
        }
        return try await next(request, context)
    }
}
