import Hummingbird
import Metrics
import NIOConcurrencyHelpers

/// The metric handles of each method and of each route, method and status, made by the metrics
/// factory once and then found in a dictionary.
final class RequestMetrics: Sendable {
    struct Endpoint: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: HTTPResponse.Status
    }

    struct EndpointHandles: Sendable {
        let requests: Counter
        let duration: Metrics.Timer
        let errors: Counter

        init(_ endpoint: Endpoint) {
            let dimensions = [
                ("http.route", endpoint.route),
                ("http.request.method", endpoint.method.rawValue),
                ("http.response.status_code", String(endpoint.status.code)),
            ]
            requests = Counter(label: "hb.requests", dimensions: dimensions)
            duration = Metrics.Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds)
            errors = Counter(
                label: "hb.request.errors",
                dimensions: [
                    ("http.route", endpoint.route),
                    ("http.request.method", endpoint.method.rawValue),
                    ("error.type", String(endpoint.status.code)),
                ]
            )
        }
    }

    private let active = NIOLockedValueBox<[HTTPRequest.Method: Meter]>([:])
    private let endpoints = NIOLockedValueBox<[Endpoint: EndpointHandles]>([:])

    func activeRequests(method: HTTPRequest.Method) -> Meter {
        active.withLockedValue { meters in
            if let meter = meters[method] { return meter }
            let meter = Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.rawValue)])
            meters[method] = meter
            return meter
        }
    }

    func endpoint(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status) -> EndpointHandles {
        let key = Endpoint(route: route, method: method, status: status)
        return endpoints.withLockedValue { handles in
            if let found = handles[key] { return found }
            let made = EndpointHandles(key)
            handles[key] = made
            return made
        }
    }
}
