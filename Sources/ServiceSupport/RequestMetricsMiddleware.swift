import Dispatch
import Hummingbird
import Metrics

/// Counts and times every request by route, method and status: the metrics of Hummingbird's
/// `MetricsMiddleware`, under the same names and dimensions, recorded when the handler's response
/// is ready instead of once its body is written. Hummingbird's wraps every body in a closure to
/// learn when it was written, and a wrapped body loses the single write that head, body and end
/// get together; every answer of ours is one buffer in memory, so the difference is the socket
/// write (docs/design.md#one-write-per-response).
public struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics = RequestMetrics()

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let active = metrics.activeRequests(method: request.method)
        active.increment()
        defer { active.decrement() }
        do {
            let response = try await next(request, context)
            let endpoint = metrics.endpoint(route: context.endpointPath ?? "Unknown", method: request.method, status: response.status)
            endpoint.requests.increment()
            endpoint.duration.recordNanoseconds(Int64(clamping: DispatchTime.now().uptimeNanoseconds - start))
            return response
        } catch {
            // Reached only by errors no inner middleware turned into a response.
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            let endpoint = metrics.endpoint(route: context.endpointPath ?? "NotFound", method: request.method, status: status)
            endpoint.requests.increment()
            endpoint.errors.increment()
            throw error
        }
    }
}
