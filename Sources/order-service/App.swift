import Foundation
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
        let environment = ProcessInfo.processInfo.environment
        let consumer = environment["CONSUMER_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultConsumerName
        let chunkSize = environment["CONSUMER_CHUNK_SIZE"].flatMap(Int.init).map { max(1, $0) } ?? 5_000
        let pollSeconds = environment["CONSUMER_POLL_SECONDS"].flatMap(Int.init).map { max(1, $0) } ?? 5
        let app = buildOrderService(
            configuration: configuration,
            consumer: consumer,
            chunkSize: chunkSize,
            pollInterval: .seconds(pollSeconds),
            registry: registry,
            logger: logger
        )
        try await app.runService()
    }
}
