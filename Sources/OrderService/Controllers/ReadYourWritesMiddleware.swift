import Hummingbird
import ServiceSupport

/// `ECST-After: <token>`: answers the request only once the write that token names (and
/// everything committed before it) is applied, waiting at most `ECST-Wait` seconds (default 2, at
/// most 30). docs/design.md#read-your-writes; the statuses are the contract's (docs/api.md).
struct ReadYourWritesMiddleware<Context: RequestContext>: RouterMiddleware {
    let watch: TokenWatch
    static var defaultWait: Double { 2 }
    static var maximumWait: Double { 30 }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // ECST-Wait is checked even alone: a bad header is an error whatever it goes with.
        let seconds = try Self.wait(request.headers[.ecstWait])
        guard let header = request.headers[.ecstAfter] else { return try await next(request, context) }
        let token = try Self.token(header, from: "header ECST-After")
        let state = try await watch.wait(for: token, timeout: .milliseconds(Int64(seconds * 1_000)))
        switch state {
        case .applied:
            return try await next(request, context)
        case .pending:
            context.logger.info("token not applied within its wait", metadata: ["token": "\(token)", "wait_s": "\(seconds)"])
            throw APIError(
                .serviceUnavailable, "the write of token \(token) is not applied yet (waited \(seconds) s); retry shortly",
                headers: [.retryAfter: "1"]
            )
        case .rolledBack:
            throw APIError(.conflict, "the transaction of token \(token) rolled back: it wrote nothing to wait for")
        case .unknown:
            throw APIError.unprocessable("token \(token) names no transaction of this database")
        }
    }

    /// `text` as a token, or the 400 naming where it came from.
    static func token(_ text: String, from source: String) throws -> ConsistencyToken {
        guard let token = ConsistencyToken(text) else {
            throw APIError.badRequest("\(source) must be a token from an ECST-Token header, got '\(text.prefix(40))'")
        }
        return token
    }

    /// Seconds from `ECST-Wait`: a non-negative number, capped at `maximumWait`.
    static func wait(_ header: String?) throws -> Double {
        guard let header else { return defaultWait }
        guard let seconds = Double(header), seconds.isFinite, seconds >= 0 else {
            throw APIError.badRequest("header ECST-Wait must be a number of seconds from 0 to \(Int(maximumWait)), got '\(header.prefix(40))'")
        }
        return min(seconds, maximumWait)
    }
}
