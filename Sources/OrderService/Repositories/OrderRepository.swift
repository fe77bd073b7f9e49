import Postgres

/// Purchase orders in `order_service.purchase_orders`, shown as `doc` plus the id as a string.
public struct OrderRepository: Sendable {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    /// All orders ordered by id, as a JSON array built by PostgreSQL.
    func listJSON() async throws -> String {
        let rows = try await database.prepared(
            """
            SELECT coalesce(jsonb_agg(order_service.order_document(id, doc) ORDER BY id), '[]')::text
            FROM order_service.purchase_orders
            """
        )
        return try rows[0].decode(0, as: String.self)
    }

    func findJSON(id: Int64) async throws -> String? {
        let rows = try await database.prepared(
            "SELECT order_service.order_document(id, doc)::text FROM order_service.purchase_orders WHERE id = $1",
            [id]
        )
        return try rows.single()?.decode(0, as: String.self)
    }

    enum CreateOutcome: Equatable {
        case created(json: String)
        case unknownUser
        case unknownProduct
    }

    /// Builds the order from the replica only, at the product's current price. The replica rows are
    /// locked FOR SHARE so the consumer cannot change them between our read and our commit: it
    /// waits, and then updates this order too.
    func create(userID: Int64, productID: Int64) async throws -> CreateOutcome {
        let rows = try await database.prepared(
            """
            WITH u AS (
                SELECT id, firstname, lastname, email FROM order_service.users
                WHERE id = $1 AND NOT deleted FOR SHARE
            ), p AS (
                SELECT id, description, price FROM order_service.products
                WHERE id = $2 AND NOT deleted FOR SHARE
            ), inserted AS (
                INSERT INTO order_service.purchase_orders (user_id, product_id, doc)
                SELECT u.id, p.id, jsonb_build_object(
                    'user', order_service.user_document(u.id, u.firstname, u.lastname, u.email),
                    'product', order_service.product_document(p.id, p.description),
                    'price', p.price)
                FROM u, p
                RETURNING id, doc
            )
            SELECT (SELECT count(*) FROM u) AS users, (SELECT count(*) FROM p) AS products,
                   (SELECT order_service.order_document(id, doc)::text FROM inserted) AS json
            """,
            [userID, productID]
        )
        let row = rows[0]
        if let json: String = try row.decode("json", as: String?.self) { return .created(json: json) }
        if try row.decode("users", as: Int.self) == 0 { return .unknownUser }
        return .unknownProduct
    }
}
