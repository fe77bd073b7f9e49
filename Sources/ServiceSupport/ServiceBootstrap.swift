import Foundation
import Logging
import Metrics
import NIOCore
import Prometheus

/// What both executables do before building their service: read the environment (exiting with a
/// clear message on bad values) and bootstrap logging and metrics, once, as both systems require.
public enum ServiceBootstrap {
    /// `defaultEventLoops`: the HTTP server's threads unless `HTTP_EVENT_LOOPS` (or, without it,
    /// NIO's own `NIO_SINGLETON_GROUP_LOOP_COUNT`) says otherwise; nil for NIO's default, one per
    /// core. Set here, before anything uses NIO's shared threads.
    public static func start(
        name: String,
        defaultPort: Int,
        role: String,
        defaultEventLoops: Int? = nil
    ) -> (ServiceConfiguration, PrometheusCollectorRegistry, Logger) {
        let environment = ProcessInfo.processInfo.environment
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration.fromEnvironment(
                environment,
                defaultPort: defaultPort,
                defaultDatabaseURL: "postgresql://\(role)@127.0.0.1:5432/ecst"
            )
        } catch {
            FileHandle.standardError.write(Data("\(name): \(error)\n".utf8))
            exit(2)
        }
        // A suggestion set here overrides NIO's variable, so the default yields to it.
        if let loops = configuration.eventLoops ?? (environment["NIO_SINGLETON_GROUP_LOOP_COUNT"] == nil ? defaultEventLoops : nil) {
            NIOSingletons.groupLoopCountSuggestion = loops
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
