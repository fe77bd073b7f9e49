import Foundation
import Hummingbird
import Logging
import Postgres
import Prometheus
import ServiceLifecycle
import ServiceSupport

/// The order-service's role in the database.
public let orderServiceRole = "order_service"
/// The port order-service listens on unless `PORT` says otherwise.
public let orderServiceDefaultPort = 8081

/// The consumer name order-service stores its position under.
public let defaultConsumerName = "order-service"

/// The router: `/order-service/...`, `/health`, `/metrics`, `/openapi.json`.
public func buildOrderServiceRouter(
    database: PostgresClient,
    consumer: String = defaultConsumerName,
    registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    tokens: TokenWatch? = nil
) -> Router<AppRequestContext> {
    let tokens = tokens ?? TokenWatch(database: database, consumer: consumer, logger: Logger(label: "order-service"))
    return Router.service(
        database: database, registry: registry, openAPIDocument: orderServiceOpenAPIDocument,
        replication: ReplicationMetrics(database: database, side: .subscriber)
    ) { router in
        OrderController(
            repository: OrderRepository(database: database), status: ConsumerStatusQuery(database: database), consumer: consumer, tokens: tokens
        )
        .addRoutes(to: router.group("order-service"))
    }
}

/// `Resources/openapi.json`, the API's contract, compiled in.
public var orderServiceOpenAPIDocument: [UInt8] { PackageResources.openapi_json }

/// The consumer's sessions: its own small pool (so HTTP load cannot starve it, nor it the
/// requests), with generic plans for its prepared statements (planning cost more than running
/// them; their plans are index-driven whatever the values) and without JIT (a generic plan's
/// estimates are for the largest case its branches allow, above `jit_above_cost`: JIT then
/// compiled for 45 ms a call that runs in 3), without sequential scans where an index serves
/// (a generic plan is made once per session, from the statistics of that moment: made while the
/// replica or the orders were still empty, or analyzed empty, it scanned the whole table per entity
/// ever after, 12 ms a call once the replica held 10,000 users; docs/design.md#the-consumers-plans),
/// committing without waiting for the WAL flush. That is safe for derived state: a
/// crash can lose only a whole apply transaction (replica, orders and position together), whose
/// events are still in the log and are applied again. Requests keep durable commits.
/// The consumer's pooled sessions are named `order-service/apply` (`application_name`); its
/// listening session `order-service/listen`; the HTTP side's `order-service`.
public func consumerConfiguration(_ base: PostgresConfiguration) -> PostgresConfiguration {
    let options = "-c synchronous_commit=off -c plan_cache_mode=force_generic_plan -c jit=off -c enable_seqscan=off"
    var configuration = base.with(["options": options]).named("order-service/apply")
    configuration.maximumConnections = 4
    return configuration
}

/// The whole service: database clients, event consumer and HTTP server, run side by side; on
/// SIGTERM or SIGINT the server drains first, then the consumer stops, then the clients close.
/// The consumer runs beside the HTTP application rather than as one of its services, so that it
/// starts before the application sets its server up (docs/design.md#a-start-that-connects-while-it-builds).
public func buildOrderService(
    configuration: ServiceConfiguration,
    consumer: String,
    chunkSize: Int = 5_000,
    pollInterval: Duration = .seconds(5),
    registry: PrometheusCollectorRegistry,
    logger: Logger
) -> ServiceGroup {
    let database = PostgresClient(configuration: configuration.postgres.named("order-service"), logger: logger)
    let consumerDatabase = PostgresClient(configuration: consumerConfiguration(configuration.postgres), logger: logger)
    let identity = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    let applier = EventApplier(database: consumerDatabase, consumer: consumer, chunkSize: chunkSize, identity: identity)
    var consumerLogger = logger
    consumerLogger[metadataKey: "consumer"] = "\(consumer)"
    let tokens = TokenWatch(database: database, consumer: consumer, logger: consumerLogger)
    let eventConsumer = EventConsumer(
        applier: applier, database: consumerDatabase, logger: consumerLogger, pollInterval: pollInterval, tokens: tokens
    )
    // Its sessions connect and listen while the rest of the service is built.
    eventConsumer.warmUp()
    let app = Application(
        router: buildOrderServiceRouter(database: database, consumer: consumer, registry: registry, tokens: tokens),
        server: .http1OnEventLoops(configuration: .init(idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "order-service"),
        logger: logger
    )
    // Stopped in the reverse order.
    return ServiceGroup(
        configuration: .init(
            services: [database, consumerDatabase, eventConsumer, app],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
    )
}
