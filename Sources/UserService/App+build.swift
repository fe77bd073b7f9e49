import Hummingbird
import Logging
import Postgres
import Prometheus
import ServiceLifecycle
import ServiceSupport

/// The user-service's role in the database.
public let userServiceRole = "user_service"
/// `application_name` of the user-service's sessions.
public let userServiceSessionName = "user-service"
/// The port user-service listens on unless `PORT` says otherwise.
public let userServiceDefaultPort = 8080
/// One thread serves all its HTTP connections unless `HTTP_EVENT_LOOPS` says otherwise: its
/// requests are short and the database is its limit (docs/design.md#one-thread-per-request).
public let userServiceDefaultEventLoops = 1

/// The router: `/user-service/...`, `/health`, `/metrics`, `/openapi.json`, with JSON errors, request ids and
/// request metrics.
public func buildUserServiceRouter(
    database: PostgresClient,
    registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
) -> Router<AppRequestContext> {
    Router.service(
        database: database, registry: registry, openAPIDocument: userServiceOpenAPIDocument,
        replication: ReplicationMetrics(database: database, side: .publisher)
    ) { router in
        // Products first: "products" is a constant path and wins over the user-id parameter anyway.
        ProductController(repository: ProductRepository(database: database))
            .addRoutes(to: router.group("user-service/products"))
        UserController(repository: UserRepository(database: database))
            .addRoutes(to: router.group("user-service"))
    }
}

/// `Resources/openapi.json`, the API's contract, compiled in.
public var userServiceOpenAPIDocument: [UInt8] { PackageResources.openapi_json }

/// The whole service: the database client and the HTTP server, shut down in reverse order.
public func buildUserService(
    configuration: ServiceConfiguration,
    registry: PrometheusCollectorRegistry,
    logger: Logger
) -> some ApplicationProtocol {
    let database = PostgresClient(configuration: configuration.postgres.named(userServiceSessionName), logger: logger)
    let router = buildUserServiceRouter(database: database, registry: registry)
    var app = Application(
        router: router,
        server: .http1OnEventLoops(configuration: .init(idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "user-service"),
        logger: logger
    )
    app.addServices(database)
    return app
}
