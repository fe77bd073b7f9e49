import ServiceSupport
import Testing

/// The environment both services read, in one place: defaults, the order-service's consumer
/// settings, and a clear refusal of a value that is set but wrong.
@Suite("Service configuration from the environment")
struct ServiceConfigurationTests {
    func read(_ environment: [String: String]) throws -> ServiceConfiguration {
        try ServiceConfiguration.fromEnvironment(environment, defaultPort: 8081, defaultDatabaseURL: "postgresql://x@127.0.0.1/ecst")
    }

    @Test func defaults() throws {
        let configuration = try read([:])
        #expect(configuration.port == 8081)
        #expect(configuration.poolSize == 10)
        #expect(configuration.idleTimeoutSeconds == 30)
        #expect(configuration.eventLoops == nil)
        #expect(configuration.consumer == .init(name: nil, chunkSize: 5_000, pollSeconds: 5))
    }

    @Test func consumerSettings() throws {
        let configuration = try read(["CONSUMER_NAME": "replica-b", "CONSUMER_CHUNK_SIZE": "500", "CONSUMER_POLL_SECONDS": "60"])
        #expect(configuration.consumer == .init(name: "replica-b", chunkSize: 500, pollSeconds: 60))
    }

    @Test func idleTimeout() throws {
        #expect(try read(["HTTP_IDLE_TIMEOUT_SECONDS": "5"]).idleTimeoutSeconds == 5)
    }

    @Test func eventLoops() throws {
        #expect(try read(["HTTP_EVENT_LOOPS": "3"]).eventLoops == 3)
    }

    @Test(arguments: [
        ("PORT", "0"), ("PORT", "http"), ("LOG_LEVEL", "loud"), ("DATABASE_POOL_SIZE", "0"),
        ("CONSUMER_CHUNK_SIZE", "many"), ("CONSUMER_CHUNK_SIZE", "0"), ("CONSUMER_POLL_SECONDS", "-1"), ("CONSUMER_POLL_SECONDS", "1.5"),
        ("HTTP_IDLE_TIMEOUT_SECONDS", "0"), ("HTTP_IDLE_TIMEOUT_SECONDS", "forever"), ("HTTP_EVENT_LOOPS", "0"), ("HTTP_EVENT_LOOPS", "all"),
    ])
    func aWrongValueIsRefusedByName(_ name: String, _ value: String) {
        #expect {
            _ = try read([name: value])
        } throws: { error in
            "\(error)".contains(name) && "\(error)".contains(value)
        }
    }
}
