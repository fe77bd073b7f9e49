import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceSupport
import UserService

/// `user-service`: configured by DATABASE_URL, HOST, PORT, LOG_LEVEL; stops on SIGTERM/SIGINT.
@main
struct UserServiceApp {
    static func main() async throws {
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration.fromEnvironment(
                ProcessInfo.processInfo.environment,
                defaultPort: userServiceDefaultPort,
                defaultDatabaseURL: "postgresql://\(userServiceRole)@127.0.0.1:5432/ecst"
            )
        } catch {
            FileHandle.standardError.write(Data("user-service: \(error)\n".utf8))
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
        let logger = Logger(label: "user-service")
        let app = buildUserService(configuration: configuration, registry: registry, logger: logger)
        try await app.runService()
    }
}
