import Hummingbird

/// An error meant for the client: an HTTP status and a message saying what is wrong.
/// Rendered by `JSONErrorMiddleware` as `{"error": {"status": 400, "message": "..."}}`.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public static func badRequest(_ message: String) -> APIError { .init(.badRequest, message) }
    public static func notFound(_ message: String) -> APIError { .init(.notFound, message) }
    public static func unprocessable(_ message: String) -> APIError { .init(.unprocessableContent, message) }

    public var description: String { "\(status.code) \(message)" }
}
