// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ecst",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "user-service", targets: ["user-service"]),
        .executable(name: "order-service", targets: ["order-service"]),
        .executable(name: "ecst", targets: ["ecst"]),
        .executable(name: "ecst-bench", targets: ["ecst-bench"]),
        .library(name: "Postgres", targets: ["Postgres"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // libpq's C API, found through pkg-config; nothing but the module map and a one-line shim.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // Linux's epoll, for the thread that waits on every statement's result.
        .systemLibrary(name: "CEpoll"),
        // A safe Swift client over libpq: knows nothing of users or orders; exposes no C types.
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                .target(name: "CEpoll", condition: .when(platforms: [.linux])),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // HTTP plumbing both services share: configuration, JSON errors, request ids, health, metrics.
        .target(
            name: "ServiceSupport",
            dependencies: [
                "Postgres",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // user-service: users and products, each change carried into the outbox by trigger.
        .target(
            name: "UserService",
            dependencies: [
                "Postgres",
                "ServiceSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The OpenAPI document, compiled into the binary: nothing to ship beside it.
            resources: [.embedInCode("Resources/openapi.json")]
        ),
        .executableTarget(
            name: "user-service",
            dependencies: [
                "UserService",
                "ServiceSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
        ),
        // order-service: purchase orders kept current by the event consumer.
        .target(
            name: "OrderService",
            dependencies: [
                "Postgres",
                "ServiceSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.embedInCode("Resources/openapi.json")]
        ),
        .executableTarget(
            name: "order-service",
            dependencies: [
                "OrderService",
                "ServiceSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
        ),
        // Operating the system: status, dead letters, rebuilding the replica, pruning the log.
        .target(
            name: "Operations",
            dependencies: ["Postgres", "OrderService", "ServiceSupport"]
        ),
        // `ecst`, the operators' command line over Operations.
        .executableTarget(
            name: "ecst",
            dependencies: [
                "Operations",
                "OrderService",
                "Postgres",
                "ServiceSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
        ),
        // The benchmark: both services against a durable throwaway cluster, next to pgbench.
        .executableTarget(
            name: "ecst-bench",
            dependencies: [
                "Postgres",
                "PostgresTestSupport",
                "OrderService",
                "Operations",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // A throwaway PostgreSQL cluster per test run (or DATABASE_URL), one database per test.
        .target(
            name: "PostgresTestSupport",
            dependencies: ["Postgres"]
        ),
        // What the service test targets share: JSON bodies, and orders checked against the source.
        .target(
            name: "ServiceTestSupport",
            dependencies: [
                "Postgres",
                "ServiceSupport",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "PostgresTests",
            dependencies: ["Postgres", "PostgresTestSupport"]
        ),
        .testTarget(
            name: "UserServiceTests",
            dependencies: [
                "UserService",
                "ServiceSupport",
                "PostgresTestSupport",
                "ServiceTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "OrderServiceTests",
            dependencies: [
                "OrderService",
                "ServiceSupport",
                "PostgresTestSupport",
                "ServiceTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "OperationsTests",
            dependencies: ["Operations", "OrderService", "Postgres", "PostgresTestSupport", "ServiceTestSupport"]
        ),
        // The built executables as real processes against real PostgreSQL (or, with
        // USER_SERVICE_URL and ORDER_SERVICE_URL, a running stack such as docker compose's).
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "Postgres",
                "PostgresTestSupport",
                "ServiceTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The configuration the services read and their OpenAPI documents against the router.
        // (The Dockerfile and docker-compose.yml are built and run for real: scripts/compose-test.)
        .testTarget(
            name: "DeploymentTests",
            dependencies: [
                "UserService",
                "OrderService",
                "Postgres",
                "ServiceSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ]
)
