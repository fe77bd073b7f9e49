import Hummingbird

/// An error meant for the client: an HTTP status and a message saying what is wrong.
/// Rendered by `JSONErrorMiddleware` as `{"error": {"status": 400, "message": "..."}}`.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    /// Sent with the error body (for example `Retry-After`).
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public static func badRequest(_ message: String) -> APIError { .init(.badRequest, message) }
    public static func notFound(_ message: String) -> APIError { .init(.notFound, message) }
    public static func unprocessable(_ message: String) -> APIError { .init(.unprocessableContent, message) }

    public var description: String { "\(status.code) \(message)" }
}
