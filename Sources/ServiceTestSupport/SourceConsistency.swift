import Postgres

/// Whether the purchase orders embed what user_service's own tables hold: the end state every
/// propagation test waits for. Needs a client that may read both schemas (the tests' superuser).
public enum SourceConsistency {
    /// Orders whose embedded user or product differs from user_service's tables, built with the
    /// schema's own document functions.
    public static func inconsistentOrders(_ admin: PostgresClient) async throws -> Int {
        try await admin.query(
            """
            SELECT count(*) FROM order_service.purchase_orders po
            JOIN user_service.users u ON u.id = po.user_id
            JOIN user_service.products p ON p.id = po.product_id
            WHERE po.doc -> 'user' IS DISTINCT FROM order_service.user_document(u.id, u.firstname, u.lastname, u.email)
               OR po.doc -> 'product' IS DISTINCT FROM order_service.product_document(p.id, p.description)
            """
        )[0].decode(0)
    }
}
