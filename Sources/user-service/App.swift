import Hummingbird
import ServiceSupport
import UserService

/// `user-service`: configured by DATABASE_URL, HOST, PORT, LOG_LEVEL; stops on SIGTERM/SIGINT.
@main
struct UserServiceApp {
    static func main() async throws {
        let (configuration, registry, logger) = ServiceBootstrap.start(
            name: "user-service",
            defaultPort: userServiceDefaultPort,
            role: userServiceRole,
            defaultEventLoops: userServiceDefaultEventLoops
        )
        let app = buildUserService(configuration: configuration, registry: registry, logger: logger)
        try await app.runService()
    }
}
