// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ecst",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Postgres", targets: ["Postgres"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // libpq's C API, found through pkg-config; nothing but the module map and a one-line shim.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // A safe Swift client over libpq: knows nothing of users or orders; exposes no C types.
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // A throwaway PostgreSQL cluster per test run (or DATABASE_URL), one database per test.
        .target(
            name: "PostgresTestSupport",
            dependencies: ["Postgres"]
        ),
        .testTarget(
            name: "PostgresTests",
            dependencies: ["Postgres", "PostgresTestSupport"]
        ),
    ]
)
