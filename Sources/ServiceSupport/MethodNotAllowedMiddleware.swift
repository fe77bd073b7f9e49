import Hummingbird
import NIOConcurrencyHelpers

/// Turns the router's 404 for a known path requested with a method it does not serve into a 405
/// with an `Allow` header, whatever the method (Hummingbird's router only knows "no match").
/// Add it inside `JSONErrorMiddleware`, then call `learnRoutes(of:)` once every route is added.
public struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    struct Route: Sendable {
        var path: RouterPath
        var allow: String
    }

    /// Filled once, after the routes exist (middleware must be added before them).
    private let routes = NIOLockedValueBox<[Route]>([])

    public init() {}

    public func learnRoutes(of router: Router<Context>) {
        var methods: [String: (path: RouterPath, methods: Set<String>)] = [:]
        for route in router.routes {
            methods[route.path.description, default: (route.path, [])].methods.insert(route.method.rawValue)
        }
        // The router answers HEAD wherever it has GET (`.autoGenerateHeadEndpoints`, applied later).
        for (key, entry) in methods where entry.methods.contains("GET") { methods[key]?.methods.insert("HEAD") }
        let table = methods.values.map { Route(path: $0.path, allow: $0.methods.sorted().joined(separator: ", ")) }
        routes.withLockedValue { $0 = table }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            guard let allow = allowedMethods(path: request.uri.path) else { throw error }
            throw HTTPError(.methodNotAllowed, headers: [.allow: allow], message: "\(request.method) is not allowed on \(request.uri.path); use \(allow)")
        }
    }

    /// The methods of the best route for `path`: of those matching it, the one with the most
    /// literal segments, as the router itself prefers.
    func allowedMethods(path: String) -> String? {
        let segments = path.split(separator: "/")
        let table = routes.withLockedValue { $0 }
        var best: (literals: Int, allow: String)?
        for route in table where route.path.components.count == segments.count {
            var literals = 0
            var matches = true
            for (element, segment) in zip(route.path.components, segments) {
                guard element ~= segment else {
                    matches = false
                    break
                }
                // A capture matches anything, a literal not this.
                if !(element ~= "\u{0}") { literals += 1 }
            }
            if matches, literals > (best?.literals ?? -1) { best = (literals, route.allow) }
        }
        return best?.allow
    }
}
