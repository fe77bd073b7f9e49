// swift-tools-version:6.0
// The benchmark's peer for issue 16: PUT /user-service/update written the way the Swift server
// ecosystem would by default, Hummingbird 2 with vapor/postgres-nio. Outside the main package so
// the product never depends on postgres-nio; scripts/bench builds it and ecst-bench runs it.
import PackageDescription

let package = Package(
    name: "peer",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .executableTarget(
            name: "peer",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        )
    ]
)
