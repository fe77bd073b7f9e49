import Hummingbird
import Postgres
import Prometheus

extension Router where Context == AppRequestContext {
    /// A router with what every endpoint of both services gets: request ids, request logs and
    /// metrics, JSON errors, `/health`, `/metrics` and `/openapi.json`. `routes` adds the service's
    /// own endpoints; any other method on a known path then answers 405 with `Allow`.
    public static func service(
        database: PostgresClient,
        registry: PrometheusCollectorRegistry,
        openAPIDocument: [UInt8],
        replication: ReplicationMetrics? = nil,
        routes: (Router<AppRequestContext>) -> Void
    ) -> Router<AppRequestContext> {
        // HEAD wherever GET is, as HTTP expects.
        let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
        let methodNotAllowed = MethodNotAllowedMiddleware<AppRequestContext>()
        router.addMiddleware {
            RequestIDMiddleware()
            LogRequestsMiddleware(.debug)
            RequestMetricsMiddleware()
            JSONErrorMiddleware()
            DeclaredBodySizeMiddleware()
            methodNotAllowed
        }
        router.addOperationalRoutes(database: database, registry: registry, openAPIDocument: openAPIDocument, replication: replication)
        routes(router)
        methodNotAllowed.learnRoutes(of: router)
        return router
    }
}

extension Router {
    /// `GET /health`: 200 when the database answers a `SELECT 1`, 503 otherwise.
    /// `GET /metrics`: the Prometheus text format of `registry`, with `replication`'s gauges read
    /// first.
    /// `GET /openapi.json`: the service's OpenAPI document.
    public func addOperationalRoutes(
        database: PostgresClient, registry: PrometheusCollectorRegistry, openAPIDocument: [UInt8], replication: ReplicationMetrics? = nil
    ) {
        get("/health") { _, _ -> Response in
            let reachable = await Self.databaseAnswers(database)
            let status: HTTPResponse.Status = reachable ? .ok : .serviceUnavailable
            if reachable {
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok","database":"reachable"}"#))
                )
            }
            return ErrorBody(status: status, message: "the database is unreachable").response(status: status)
        }
        get("/metrics") { _, _ -> Response in
            await replication?.refresh()
            var buffer: [UInt8] = []
            buffer.reserveCapacity(8192)
            registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
        let document = ByteBuffer(bytes: openAPIDocument)
        get("/openapi.json") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: document))
        }
    }

    /// Bounded by the pool's acquire timeout and libpq's connect timeout.
    private static func databaseAnswers(_ database: PostgresClient) async -> Bool {
        (try? await database.query("SELECT 1")) != nil
    }
}
