import Foundation
import Postgres
import PostgresTestSupport
import Testing

/// A database per service on two throwaway clusters of its own (docs/replication.md): the users'
/// server (wal_level = logical) with `schema.sql -v part=users`, the orders' server with
/// `-v part=orders`, joined by the real `ecst replication publish` and `subscribe`.
struct SplitStack: Sendable {
    let usersCluster: LocalCluster
    let ordersCluster: LocalCluster
    /// Superuser clients on each server's `ecst` database.
    let users: PostgresClient
    let orders: PostgresClient

    var usersURL: String { "postgresql://postgres@127.0.0.1:\(usersCluster.port)/ecst" }
    var ordersURL: String { "postgresql://postgres@127.0.0.1:\(ordersCluster.port)/ecst" }

    func userService() async throws -> RunningService {
        try await RunningService.start("user-service", databaseURL: usersURL, role: "user_service")
    }

    /// With the safety poll at its longest, so that only the replicated rows' NOTIFY wakes it.
    func orderService() async throws -> RunningService {
        try await RunningService.start("order-service", databaseURL: ordersURL, role: "order_service", extra: ["CONSUMER_POLL_SECONDS": "3600"])
    }

    /// Runs `ecst` with `arguments`; fails the test unless it exits 0. Returns its output.
    @discardableResult
    static func ecst(_ arguments: [String]) async throws -> String {
        let process = try ChildProcess(executable: "ecst", arguments: arguments, environment: [:])
        let status = try await process.waitForExit(timeout: .seconds(60))
        guard status == 0 else { throw EndToEndError("ecst \(arguments.first ?? "") exited with \(status): \(process.log)") }
        return process.log
    }

    /// Waits until the orders' copy holds exactly the users' server's events (by id), and the
    /// consumer has applied them all.
    func waitUntilCopied(timeout: Duration = .seconds(60)) async throws {
        try await eventually(timeout: timeout, "the orders' copy to hold every event and apply it") {
            (try? await copiedAndApplied()) ?? false  // a server just restarted answers again soon
        }
    }

    private func copiedAndApplied() async throws -> Bool {
        let published: [Int64] = try await users.query("SELECT id FROM user_service.events ORDER BY id").map { try $0.decode(0) }
        let copied: [Int64] = try await orders.query("SELECT id FROM user_service.events ORDER BY id").map { try $0.decode(0) }
        guard published == copied else { return false }
        // caught_up() looks for one pending event where consumer_lag counts them all, and is false
        // until the consumer (the executable's default name) has registered.
        return try await orders.scalar("SELECT order_service.caught_up('order-service')")
    }

    /// Waits for the orders' server to hold every event and apply it, and expects the copy to be the
    /// users' log once over, the consumer to have applied each event once, and every order to embed
    /// the users' server's data.
    func expectEveryEventCopiedAndAppliedOnce(timeout: Duration = .seconds(120)) async throws {
        try await waitUntilCopied(timeout: timeout)
        let copy = try await orders.query("SELECT count(*), count(DISTINCT id) FROM user_service.events")[0]
        #expect(try copy.decode(0, as: Int.self) == copy.decode(1, as: Int.self))
        let applied: Int = try await orders.scalar("SELECT applied_events::int FROM order_service.consumer_positions")
        #expect(applied == (try copy.decode(0, as: Int.self)))
        #expect(try await inconsistentOrders() == 0)
    }

    /// Purchase orders whose embedded user or product differs from the users' server's tables.
    func inconsistentOrders() async throws -> Int {
        var expected: [String: String] = [:]
        for row in try await users.query("SELECT 'u' || id, firstname || '|' || lastname || '|' || email FROM user_service.users") {
            expected[try row.decode(0)] = try row.decode(1)
        }
        for row in try await users.query("SELECT 'p' || id, description FROM user_service.products") {
            expected[try row.decode(0)] = try row.decode(1)
        }
        let embedded = try await orders.query(
            """
            SELECT 'u' || user_id, doc->'user'->>'firstname' || '|' || (doc->'user'->>'lastname') || '|' || (doc->'user'->>'email'),
                   'p' || product_id, doc->'product'->>'description'
            FROM order_service.purchase_orders
            """)
        var wrong = 0
        for row in embedded {
            let (user, userDoc, product, productDoc): (String, String, String, String) = (
                try row.decode(0), try row.decode(1), try row.decode(2), try row.decode(3)
            )
            if expected[user] != userDoc || expected[product] != productDoc { wrong += 1 }
        }
        return wrong
    }
}

func withSplitStack(_ body: (SplitStack) async throws -> Void) async throws {
    let usersCluster = try await LocalCluster.start(extraSettings: ["wal_level=logical"])
    let ordersCluster = try await LocalCluster.start()
    for (cluster, part) in [(usersCluster, "users"), (ordersCluster, "orders")] {
        try await PostgresClient.withClient(configuration: .init(connectionString: cluster.url)) { bootstrap in
            _ = try await bootstrap.query("CREATE DATABASE ecst")
        }
        try await SQLFile.apply(schemaPath, connectionString: cluster.url, database: "ecst", variables: ["part": part])
    }
    let stackURLs = (
        users: "postgresql://postgres@127.0.0.1:\(usersCluster.port)/ecst", orders: "postgresql://postgres@127.0.0.1:\(ordersCluster.port)/ecst"
    )
    try await SplitStack.ecst(["replication", "publish", "--database-url", stackURLs.users, "--replication-password", "s3cret"])
    try await SplitStack.ecst([
        "replication", "subscribe", "--database-url", stackURLs.orders,
        "--publisher", "host=127.0.0.1 port=\(usersCluster.port) dbname=ecst user=ecst_replication password=s3cret",
    ])
    try await PostgresClient.withClient(configuration: .init(connectionString: stackURLs.users)) { users in
        try await PostgresClient.withClient(configuration: .init(connectionString: stackURLs.orders)) { orders in
            try await body(SplitStack(usersCluster: usersCluster, ordersCluster: ordersCluster, users: users, orders: orders))
        }
    }
}
