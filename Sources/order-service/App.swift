import Foundation
import Hummingbird
import Logging
import Metrics
import OrderService
import Prometheus
import ServiceSupport

/// `order-service`: configured by DATABASE_URL, HOST, PORT, LOG_LEVEL (and CONSUMER_NAME);
/// stops on SIGTERM/SIGINT.
@main
struct OrderServiceApp {
    static func main() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration.fromEnvironment(
                environment,
                defaultPort: orderServiceDefaultPort,
                defaultDatabaseURL: "postgresql://\(orderServiceRole)@127.0.0.1:5432/ecst"
            )
        } catch {
            FileHandle.standardError.write(Data("order-service: \(error)\n".utf8))
            exit(2)
        }
        // Bootstrapped once, here: both systems trap when bootstrapped twice.
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "order-service")
        let consumer = environment["CONSUMER_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultConsumerName
        let chunkSize = environment["CONSUMER_CHUNK_SIZE"].flatMap(Int.init).map { max(1, $0) } ?? 5_000
        let app = buildOrderService(
            configuration: configuration,
            consumer: consumer,
            chunkSize: chunkSize,
            registry: registry,
            logger: logger
        )
        try await app.runService()
    }
}
