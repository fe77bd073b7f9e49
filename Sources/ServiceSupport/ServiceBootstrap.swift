import Foundation
import Logging
import Metrics
import Prometheus

/// What both executables do before building their service: read the environment (exiting with a
/// clear message on bad values) and bootstrap logging and metrics, once, as both systems require.
public enum ServiceBootstrap {
    public static func start(
        name: String,
        defaultPort: Int,
        role: String
    ) -> (ServiceConfiguration, PrometheusCollectorRegistry, Logger) {
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration.fromEnvironment(
                ProcessInfo.processInfo.environment,
                defaultPort: defaultPort,
                defaultDatabaseURL: "postgresql://\(role)@127.0.0.1:5432/ecst"
            )
        } catch {
            FileHandle.standardError.write(Data("\(name): \(error)\n".utf8))
            exit(2)
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = DeferredMetadataLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return (configuration, registry, Logger(label: name))
    }
}
