import Postgres

/// The catalogue in `user_service.products`; writes fire the outbox triggers.
public struct ProductRepository: Sendable {
    let database: PostgresClient

    public init(database: PostgresClient) {
        self.database = database
    }

    func listJSON() async throws -> String {
        let rows = try await database.prepared(
            """
            SELECT coalesce(json_agg(json_build_object(
                     'id', id, 'description', description, 'price', price, 'qty_available', qty_available) ORDER BY id), '[]')
            FROM user_service.products
            """
        )
        return try rows[0].decode(0, as: String.self)
    }

    /// The updated product and the write's token, or nil when there is none.
    func update(_ product: Product) async throws -> Written<Product>? {
        let rows = try await database.prepared(
            """
            UPDATE user_service.products SET description = $2, price = $3, qty_available = $4 WHERE id = $1
            RETURNING id, description, price, qty_available, user_service.transaction_token()
            """,
            [product.id, product.description, product.price, product.qtyAvailable]
        )
        return try rows.single().map { row in
            Written(
                value: Product(id: try row.decode(0), description: try row.decode(1), price: try row.decode(2), qtyAvailable: try row.decode(3)),
                token: try row.decode(4)
            )
        }
    }
}
