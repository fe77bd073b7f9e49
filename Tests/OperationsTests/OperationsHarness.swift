import Foundation
import OrderService
import Postgres
import PostgresTestSupport
import ServiceTestSupport

let schemaPath = repositoryFile("schema.sql")

/// A fresh database with schema.sql, a superuser client (`admin`, as an operator with the owner's
/// connection), the order-service's client (`service`) and its event applier, driven by hand.
struct OperationsWorld: Sendable {
    let admin: PostgresClient
    let service: PostgresClient
    let applier: EventApplier

    /// Applies every committed event, as the consumer would.
    func catchUp() async throws {
        try await applier.register()
        while true {
            guard case .applied(let result, let more, _) = try await applier.applyNextChunk() else { continue }
            if result.events == 0 && !more { return }
        }
    }

    /// Orders whose embedded user or product differs from user_service's tables.
    func inconsistentOrders() async throws -> Int {
        try await SourceConsistency.inconsistentOrders(admin)
    }

    /// Two orders for each of the four seeded users, embedding nothing yet (the consumer or a
    /// rebuild fills them in).
    func addOrders() async throws {
        try await admin.query(
            """
            INSERT INTO order_service.purchase_orders (user_id, product_id, doc)
            SELECT u, 1 + u % 3, jsonb_build_object('user', '{}'::jsonb, 'product', '{}'::jsonb, 'price', 1)
            FROM generate_series(1, 4) u, generate_series(1, 2)
            """
        )
    }
}

func withOperationsWorld(_ body: @Sendable (OperationsWorld) async throws -> Void) async throws {
    let template = try await TestDatabases.shared.template(applyingSQLFile: schemaPath)
    try await TestDatabases.shared.withClient(template: template) { admin, database in
        try await PostgresClient.withClient(configuration: database.configuration(asUser: "order_service")) { service in
            try await body(
                OperationsWorld(
                    admin: admin, service: service,
                    applier: EventApplier(database: service, consumer: defaultConsumerName, identity: "test")
                ))
        }
    }
}
