import Hummingbird
import Logging
import Postgres

/// Turns every error into the contract's JSON error body with the right status:
/// `APIError` as given, Hummingbird's `HTTPError` (404 route, 413 body) by its status, an
/// unreachable database as 503, and anything else as a logged 500 that reveals nothing (the log
/// line names a database whose schema is not this build's as the cause, where it is).
public struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return ErrorBody(status: error.status, message: error.message).response(status: error.status, headers: error.headers)
        } catch let error as HTTPError {
            let message = error.body ?? Self.defaultMessage(error.status, request: request)
            return ErrorBody(status: error.status, message: message).response(status: error.status, headers: error.headers)
        } catch let error as any HTTPResponseError {
            return ErrorBody(status: error.status, message: Self.defaultMessage(error.status, request: request)).response(status: error.status)
        } catch let error as PostgresError where error.isUnavailable {
            context.logger.warning("database unavailable", metadata: ["error": "\(error)"])
            return ErrorBody(status: .serviceUnavailable, message: "the database is unavailable; try again shortly")
                .response(status: .serviceUnavailable, headers: [.retryAfter: "1"])
        } catch {
            context.logger.error("request failed", metadata: (error as? PostgresError)?.logMetadata ?? ["error": "\(error)"])
            return ErrorBody(status: .internalServerError, message: "internal error").response(status: .internalServerError)
        }
    }

    static func defaultMessage(_ status: HTTPResponse.Status, request: Request) -> String {
        switch status {
        case .notFound: return "no route for \(request.method) \(request.uri.path)"
        case .contentTooLarge: return "the request body is larger than 1 MiB"
        default: return status.reasonPhrase
        }
    }
}
