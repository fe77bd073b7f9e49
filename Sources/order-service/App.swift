import Hummingbird
import OrderService
import ServiceSupport

/// `order-service`: configured by DATABASE_URL, HOST, PORT, LOG_LEVEL, and CONSUMER_NAME,
/// CONSUMER_CHUNK_SIZE and CONSUMER_POLL_SECONDS for its event consumer; stops on SIGTERM/SIGINT.
@main
struct OrderServiceApp {
    static func main() async throws {
        let (configuration, registry, logger) = ServiceBootstrap.start(
            name: "order-service",
            defaultPort: orderServiceDefaultPort,
            role: orderServiceRole
        )
        let service = buildOrderService(
            configuration: configuration,
            consumer: configuration.consumer.name ?? defaultConsumerName,
            chunkSize: configuration.consumer.chunkSize,
            pollInterval: .seconds(configuration.consumer.pollSeconds),
            registry: registry,
            logger: logger
        )
        try await service.run()
    }
}
