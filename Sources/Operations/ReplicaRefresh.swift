import Postgres

/// Brings replica rows to their entity's latest valid state in the event log, as far as a given
/// snapshot sees, and re-embeds them in the purchase orders: the Swift face of
/// `order_service.refresh_replica()` (schema.sql). Runs inside the caller's transaction.
struct ReplicaRefresh {
    let connection: PostgresConnection

    struct Changed {
        var users: [Int64]
        var products: [Int64]
        var entities: Int
        var rowsChanged: Int
    }

    /// Only moves forward (the version guard), for a few entities: `ecst dead-letters retry`.
    func refreshEntities(users: [Int64], products: [Int64], snapshot: String) async throws {
        let changed = try await refresh(users: users, products: products, snapshot: snapshot, overwrite: false)
        if !changed.users.isEmpty || !changed.products.isEmpty {
            try await connection.query("SELECT order_service.embed_orders($1, $2)", [changed.users, changed.products])
        }
    }

    /// Every entity of the log, overwriting whatever the replica holds: `ecst rebuild`.
    func upsertAll(snapshot: String) async throws -> Changed {
        try await refresh(users: nil, products: nil, snapshot: snapshot, overwrite: true)
    }

    private func refresh(users: [Int64]?, products: [Int64]?, snapshot: String, overwrite: Bool) async throws -> Changed {
        let row = try await connection.query(
            """
            SELECT changed_users, changed_products, entities, rows_changed
            FROM order_service.refresh_replica($1::pg_snapshot, $2, $3, $4)
            """,
            [snapshot, users, products, overwrite]
        )[0]
        return Changed(
            users: try row.decode("changed_users"), products: try row.decode("changed_products"),
            entities: try row.decode("entities"), rowsChanged: try row.decode("rows_changed")
        )
    }
}
