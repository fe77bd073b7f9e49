import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import OrderService
import Postgres
import PostgresTestSupport
import ServiceSupport
import ServiceTestSupport
import Testing

let schemaPath = repositoryFile("schema.sql")

/// One test's world: a fresh database with schema.sql, a superuser client to write users as
/// anyone with psql would, the order-service's own client, and consumers started and stopped at will.
final class OrderWorld: Sendable {
    let admin: PostgresClient
    let database: TestDatabase
    let service: PostgresClient
    private let consumers = Mailbox<RunningConsumer>()

    init(admin: PostgresClient, database: TestDatabase) {
        self.admin = admin
        self.database = database
        self.service = PostgresClient(configuration: database.configuration(asUser: "order_service"))
    }

    /// Brings the replica up to date with a consumer, then stops it: what is written next stays
    /// pending for the test to apply as it chooses.
    func catchUpAndStop() async throws {
        let consumer = await startConsumer()
        try await waitUntilCaughtUp()
        await consumer.stop()
    }

    /// Starts a consumer on its own client (as a separate process would), polling slowly so tests
    /// prove that notifications drive it.
    @discardableResult
    func startConsumer(
        identity: String = "test", chunkSize: Int = 5_000, pollInterval: Duration = .seconds(30), tokens: TokenWatch? = nil
    ) async -> RunningConsumer {
        let client = PostgresClient(configuration: consumerConfiguration(database.configuration(asUser: "order_service")))
        let applier = EventApplier(database: client, consumer: defaultConsumerName, chunkSize: chunkSize, identity: identity)
        var logger = Logger(label: "consumer-\(identity)")
        logger.logLevel = .critical
        let consumer = EventConsumer(applier: applier, database: client, logger: logger, pollInterval: pollInterval, tokens: tokens)
        let task = Task { try await consumer.run() }
        let running = RunningConsumer(task: task, client: client, applier: applier, consumer: consumer)
        await consumers.append(running)
        return running
    }

    func close() async {
        for consumer in await consumers.items { await consumer.stop() }
        await service.close()
    }

    /// Orders whose embedded user or product differs from user_service's tables.
    func inconsistentOrders() async throws -> Int {
        try await SourceConsistency.inconsistentOrders(admin)
    }

    func status() async throws -> ConsumerStatus? {
        try await ConsumerStatusQuery(database: service).status(consumer: defaultConsumerName)
    }

    /// The replica's users up to `id`, each as "id email version", in id order.
    func replicaUsers(upTo id: Int) async throws -> [String] {
        try await admin.query("SELECT id, email, version FROM order_service.users WHERE id <= $1 ORDER BY id", [id])
            .map { "\(try $0.decode(0, as: Int.self)) \(try $0.decode(1, as: String.self)) \(try $0.decode(2, as: Int.self))" }
    }

    /// What an order embeds: "user-email product-description".
    func embedded(inOrder id: Int) async throws -> String {
        try await admin.scalar(
            "SELECT (doc -> 'user' ->> 'email') || ' ' || (doc -> 'product' ->> 'description') FROM order_service.purchase_orders WHERE id = $1",
            [id]
        )
    }

    func eventCount() async throws -> Int {
        try await admin.scalar("SELECT count(*) FROM user_service.events")
    }

    /// Waits until the consumer has applied every committed event.
    func waitUntilCaughtUp(timeout: Duration = .seconds(30)) async throws {
        try await eventually(timeout: timeout, "lag 0") {
            guard let status = try await self.status() else { return false }
            return status.lag == 0
        }
    }
}

struct RunningConsumer: Sendable {
    let task: Task<Void, any Error>
    let client: PostgresClient
    let applier: EventApplier
    let consumer: EventConsumer

    /// Stops it like a shutdown or a crash would: any transaction in flight rolls back.
    func stop() async {
        task.cancel()
        _ = await task.result
        await client.close()
    }
}

func withOrderWorld(_ body: @Sendable (OrderWorld) async throws -> Void) async throws {
    let template = try await TestDatabases.shared.template(applyingSQLFile: schemaPath)
    try await TestDatabases.shared.withClient(template: template, maximumConnections: 6) { admin, database in
        let world = OrderWorld(admin: admin, database: database)
        do {
            try await body(world)
            await world.close()
        } catch {
            await world.close()
            throw error
        }
    }
}

/// The router on the world's order_service client, or on `database` (`tokens`: the watch its
/// ECST-After waits with).
func withRouter(
    _ world: OrderWorld, tokens: TokenWatch? = nil, database: PostgresClient? = nil, _ body: @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    let database = database ?? world.service
    let tokens = tokens ?? TokenWatch(database: database, consumer: defaultConsumerName, logger: Logger(label: "tokens"))
    let app = Application(router: buildOrderServiceRouter(database: database, tokens: tokens))
    do {
        try await app.test(.router) { client in try await body(client) }
    } catch {
        await tokens.stop()
        throw error
    }
    await tokens.stop()
}

/// The order JSON of the contract.
struct Order: Decodable, Equatable {
    struct User: Decodable, Equatable {
        var id: Int64
        var firstname: String
        var lastname: String
        var email: String
    }
    struct Product: Decodable, Equatable {
        var productId: Int64
        var description: String
    }
    var id: String
    var user: User
    var product: Product
    var price: Int
}
