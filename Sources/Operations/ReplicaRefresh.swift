import OrderService
import Postgres

/// Brings replica rows to their entity's latest valid state in the event log, as far as a given
/// snapshot sees, and re-embeds them in the purchase orders. Runs inside the caller's transaction.
struct ReplicaRefresh {
    let connection: PostgresConnection

    struct Changed {
        var users: String
        var products: String
        var entities: Int
        var rowsChanged: Int
    }

    /// Only moves forward (the version guard), for a few entities: `ecst dead-letters retry`.
    func refreshEntities(users: [Int64], products: [Int64], snapshot: String) async throws {
        let changed = try await upsert(users: users.postgresArray, products: products.postgresArray, snapshot: snapshot, overwrite: false)
        if changed.users != "{}" || changed.products != "{}" {
            try await connection.query(EventApplier.updateOrders, [changed.users, changed.products])
        }
    }

    /// Every entity of the log, overwriting whatever the replica holds: `ecst rebuild`.
    func upsertAll(snapshot: String) async throws -> Changed {
        try await upsert(users: nil, products: nil, snapshot: snapshot, overwrite: true)
    }

    private func upsert(users: String?, products: String?, snapshot: String, overwrite: Bool) async throws -> Changed {
        let row = try await connection.query(Self.upsert, [users, products, snapshot, overwrite])[0]
        return Changed(users: try row.decode("users"), products: try row.decode("products"), entities: try row.decode("entities"), rowsChanged: try row.decode("changed"))
    }

    /// $1 user ids or NULL for all, $2 product ids or NULL for all, $3 snapshot, $4 overwrite
    /// (else only newer versions win). Rows that would not change are not written.
    static let upsert = """
        WITH latest_users AS (
            SELECT DISTINCT ON (e.aggregate_id)
                   e.aggregate_id AS id, e.version, e.type = 'UserDeleted' AS deleted,
                   e.payload ->> 'firstname' AS firstname, e.payload ->> 'lastname' AS lastname, e.payload ->> 'email' AS email
            FROM user_service.events e
            WHERE e.aggregate_type = 'user' AND ($1::bigint[] IS NULL OR e.aggregate_id = ANY ($1::bigint[]))
              AND pg_visible_in_snapshot(e.xid, $3::pg_snapshot)
              AND order_service.event_problem(e.type, e.aggregate_type, e.payload) IS NULL
            ORDER BY e.aggregate_id, e.version DESC
        ),
        upserted_users AS (
            INSERT INTO order_service.users AS r (id, firstname, lastname, email, version, deleted)
            SELECT id, firstname, lastname, email, version, deleted FROM latest_users
            ON CONFLICT (id) DO UPDATE
                SET firstname = EXCLUDED.firstname, lastname = EXCLUDED.lastname, email = EXCLUDED.email,
                    version = EXCLUDED.version, deleted = EXCLUDED.deleted, updated_at = now()
                WHERE r.version < EXCLUDED.version
                   OR ($4 AND (r.firstname, r.lastname, r.email, r.version, r.deleted)
                              IS DISTINCT FROM (EXCLUDED.firstname, EXCLUDED.lastname, EXCLUDED.email, EXCLUDED.version, EXCLUDED.deleted))
            RETURNING r.id
        ),
        latest_products AS (
            SELECT DISTINCT ON (e.aggregate_id)
                   e.aggregate_id AS id, e.version, e.type = 'ProductDeleted' AS deleted,
                   e.payload ->> 'description' AS description, (e.payload ->> 'price')::integer AS price
            FROM user_service.events e
            WHERE e.aggregate_type = 'product' AND ($2::bigint[] IS NULL OR e.aggregate_id = ANY ($2::bigint[]))
              AND pg_visible_in_snapshot(e.xid, $3::pg_snapshot)
              AND order_service.event_problem(e.type, e.aggregate_type, e.payload) IS NULL
            ORDER BY e.aggregate_id, e.version DESC
        ),
        upserted_products AS (
            INSERT INTO order_service.products AS r (id, description, price, version, deleted)
            SELECT id, description, price, version, deleted FROM latest_products
            ON CONFLICT (id) DO UPDATE
                SET description = EXCLUDED.description, price = EXCLUDED.price,
                    version = EXCLUDED.version, deleted = EXCLUDED.deleted, updated_at = now()
                WHERE r.version < EXCLUDED.version
                   OR ($4 AND (r.description, r.price, r.version, r.deleted)
                              IS DISTINCT FROM (EXCLUDED.description, EXCLUDED.price, EXCLUDED.version, EXCLUDED.deleted))
            RETURNING r.id
        )
        SELECT (SELECT coalesce(array_agg(id), '{}') FROM upserted_users)::text AS users,
               (SELECT coalesce(array_agg(id), '{}') FROM upserted_products)::text AS products,
               (SELECT count(*) FROM latest_users) + (SELECT count(*) FROM latest_products) AS entities,
               (SELECT count(*) FROM upserted_users) + (SELECT count(*) FROM upserted_products) AS changed
        """
}
