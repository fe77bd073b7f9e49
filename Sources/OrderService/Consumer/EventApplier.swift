import Postgres

/// Applies the events of `user_service.events` to the replica and the purchase orders, one
/// bounded chunk per transaction, in commit order without skipping or stalling.
///
/// The position is a PgQ-style batch: everything visible in the stored snapshot has been applied;
/// the next batch is the events whose transactions are visible in a fresh snapshot and were not in
/// the stored one. An event whose transaction took a small id but commits late is in the batch
/// after it commits; events of later transactions are applied while it is still open. A large
/// batch is applied in chunks ordered by (xid, id), with the cursor stored alongside. Each chunk's
/// effects and the new position commit together, so a crash loses and repeats nothing.
public struct EventApplier: Sendable {
    public let database: PostgresClient
    public let consumer: String
    public let chunkSize: Int
    /// Who applies, recorded on the position row (host:pid).
    public let identity: String

    public init(database: PostgresClient, consumer: String, chunkSize: Int = 5_000, identity: String) {
        self.database = database
        self.consumer = consumer
        self.chunkSize = chunkSize
        self.identity = identity
    }

    public enum Outcome: Sendable, Equatable {
        /// Applied a chunk; `more` is true when another may follow at once. `relyingWriters`: the
        /// pending slots held, just before this chunk was read, by writers committing in reliance on
        /// another writer's NOTIFY (see docs/wake-ups.md); if this was the last read, wait for them
        /// and read again.
        case applied(ChunkResult, more: Bool, relyingWriters: [Int32] = [])
        /// Another consumer holds the position row: it is applying, we stand by.
        case busy
    }

    public struct ChunkResult: Sendable, Equatable {
        public var events: Int
        public var ordersUpdated: Int
        public var deadLetters: [DeadLetter]
        public var lastEventID: Int64?
    }

    public struct DeadLetter: Sendable, Equatable, Decodable {
        public var eventID: Int64
        public var reason: String

        enum CodingKeys: String, CodingKey {
            case eventID = "event_id"
            case reason
        }
    }

    /// Creates the position row at the very beginning of the log if it is missing.
    public func register() async throws {
        try await database.query(
            "INSERT INTO order_service.consumer_positions (consumer) VALUES ($1) ON CONFLICT (consumer) DO NOTHING",
            [consumer]
        )
    }

    /// Applies at most one chunk: four round trips (five when orders or the position change),
    /// every statement prepared with a generic plan (the consumer's sessions force them; see
    /// `consumerConfiguration`).
    public func applyNextChunk() async throws -> Outcome {
        try await database.withTransaction { tx in
            let position = try await tx.prepared(Self.lockPosition, [consumer])
            guard let row = try position.single() else { return .busy }
            let snapshot: String = try row.decode(0)
            // A batch in progress keeps its snapshot; a new one runs up to now (taken by the
            // chunk statement itself, after the position row is ours).
            let storedBatch = try row.decode(1, as: String?.self)
            let cursorXID: String? = try row.decode(2)
            let cursorID: Int64? = try row.decode(3)
            let relyingWriters: [Int32] = try row.decode(4, as: String.self)
                .trimmingCharacters(in: ["{", "}"]).split(separator: ",").compactMap { Int32($0) }

            // 1. The chunk, its replica upserts and its dead letters.
            let chunk = try await tx.prepared(
                Self.applyReplica,
                [snapshot, storedBatch, cursorXID, cursorID, chunkSize, consumer]
            )[0]
            let batchSnapshot: String = try chunk.decode("batch_snapshot")
            let events: Int = try chunk.decode("events")
            let lastXID: String? = try chunk.decode("last_xid")
            let lastID: Int64? = try chunk.decode("last_id")
            let maxID: Int64? = try chunk.decode("max_id")
            let userIDs: String = try chunk.decode("user_ids")
            let productIDs: String = try chunk.decode("product_ids")
            let deadLetters = try chunk.decode("dead_letters", as: PostgresJSON.self).decoded(as: [DeadLetter].self)

            // 2. The purchase orders of what changed, and the new position. A separate statement,
            //    so it sees orders created by transactions that waited on the replica rows upserted
            //    above. A read that found nothing outside a batch stores nothing: the newer
            //    snapshot would change nothing.
            let batchDone = events < chunkSize
            let storePosition = events > 0 || storedBatch != nil
            var ordersUpdated = 0
            if storePosition || userIDs != "{}" || productIDs != "{}" {
                ordersUpdated = try await tx.prepared(
                    productIDs == "{}" ? Self.applyUserOrdersAndPosition : Self.applyAllOrdersAndPosition,
                    [userIDs, productIDs, consumer, batchSnapshot, events, maxID, identity, batchDone, lastXID, lastID, storePosition]
                )[0].decode(0, as: Int.self)
            }
            let result = ChunkResult(events: events, ordersUpdated: ordersUpdated, deadLetters: deadLetters, lastEventID: maxID)
            return .applied(result, more: !batchDone, relyingWriters: relyingWriters)
        }
    }

    /// The position row, and the writers still committing in reliance on another's NOTIFY: taken
    /// here, before the chunk statement takes its snapshot, so a slot found free means its writer's
    /// events are visible to that statement.
    static let lockPosition = """
        SELECT snapshot::text, batch_snapshot::text, cursor_xid::text, cursor_id, user_service.relying_writer_slots()::text
        FROM order_service.consumer_positions
        WHERE consumer = $1
        FOR UPDATE SKIP LOCKED
        """

    /// $1 stored snapshot, $2 batch snapshot, $3/$4 cursor (xid, id) or NULL, $5 chunk size,
    /// $6 consumer. The index ranges are PgQ's: xmax(prev)..xmax(cur) plus prev's in-progress
    /// xids, written as a UNION ALL of plain index conditions (an OR, or a row comparison against
    /// a possibly-NULL cursor, turns them into a scan of the whole index).
    static let applyReplica = """
        WITH current AS MATERIALIZED (
            SELECT coalesce($2::pg_snapshot, pg_current_snapshot()) AS snapshot
        ),
        batch AS (
            SELECT e.id, e.xid, e.aggregate_type, e.aggregate_id, e.version, e.type, e.payload
            FROM (
                -- Transactions that started after the stored snapshot: one index range from
                -- xmax(prev), or from the cursor once the batch has passed xmax(prev), read in
                -- index order and only as far as the chunk needs (the visibility test must come
                -- before the limit), so a long backlog costs each chunk its own rows only.
                (SELECT * FROM user_service.events
                 WHERE (xid, id) > (CASE WHEN $3::xid8 >= pg_snapshot_xmax($1::pg_snapshot) THEN $3::xid8
                                         ELSE pg_snapshot_xmax($1::pg_snapshot) END,
                                    CASE WHEN $3::xid8 >= pg_snapshot_xmax($1::pg_snapshot) THEN $4::bigint ELSE 0 END)
                   AND xid < pg_snapshot_xmax((SELECT snapshot FROM current))
                   AND pg_visible_in_snapshot(xid, (SELECT snapshot FROM current))
                   AND NOT pg_visible_in_snapshot(xid, $1::pg_snapshot)
                 ORDER BY xid, id
                 LIMIT $5)
                UNION ALL
                -- Transactions in progress at the stored snapshot (all below its xmax): one probe
                -- of the (xid, id) index each. OFFSET 0 keeps it a per-xid probe (flattened, it
                -- becomes a hash join over the whole table), and the cursor applies afterwards (as
                -- an id bound it invites a walk of the primary key).
                SELECT ev.* FROM unnest(ARRAY(SELECT pg_snapshot_xip($1::pg_snapshot))) AS x(xid)
                CROSS JOIN LATERAL (
                    SELECT * FROM user_service.events e2 WHERE e2.xid = x.xid OFFSET 0
                ) ev
                WHERE x.xid >= coalesce($3::xid8, '0'::xid8)
                  AND (ev.xid, ev.id) > (coalesce($3::xid8, '0'::xid8), coalesce($4::bigint, 0))
            ) e
            WHERE pg_visible_in_snapshot(e.xid, (SELECT snapshot FROM current))
              AND NOT pg_visible_in_snapshot(e.xid, $1::pg_snapshot)
            ORDER BY e.xid, e.id
            LIMIT $5
        ),
        classified AS (
            SELECT b.*, order_service.event_problem(b.type, b.aggregate_type, b.payload) AS problem
            FROM batch b
        ),
        -- Each entity of the chunk jumps to its latest valid state visible in the batch snapshot,
        -- so a backlog re-embeds each entity once; its older events in later chunks then fail the
        -- version guard and cost no order update.
        latest_users AS (
            SELECT l.* FROM (
                -- Entities whose replica already holds this chunk's versions need no look-up.
                SELECT k.aggregate_id FROM classified k
                WHERE k.problem IS NULL AND k.aggregate_type = 'user'
                GROUP BY k.aggregate_id
                HAVING max(k.version) > coalesce((SELECT r.version FROM order_service.users r WHERE r.id = k.aggregate_id), 0)
            ) c
            CROSS JOIN LATERAL (
                SELECT e.aggregate_id AS id, e.version, e.type = 'UserDeleted' AS deleted,
                       e.payload ->> 'firstname' AS firstname, e.payload ->> 'lastname' AS lastname, e.payload ->> 'email' AS email
                FROM user_service.events e
                WHERE e.aggregate_type = 'user' AND e.aggregate_id = c.aggregate_id
                  AND pg_visible_in_snapshot(e.xid, (SELECT snapshot FROM current))
                  AND order_service.event_problem(e.type, e.aggregate_type, e.payload) IS NULL
                ORDER BY e.version DESC
                LIMIT 1
            ) l
        ),
        upserted_users AS (
            INSERT INTO order_service.users AS r (id, firstname, lastname, email, version, deleted)
            SELECT id, firstname, lastname, email, version, deleted FROM latest_users
            ON CONFLICT (id) DO UPDATE
                SET firstname = EXCLUDED.firstname, lastname = EXCLUDED.lastname, email = EXCLUDED.email,
                    version = EXCLUDED.version, deleted = EXCLUDED.deleted, updated_at = now()
                WHERE r.version < EXCLUDED.version
            RETURNING r.id
        ),
        latest_products AS (
            SELECT l.* FROM (
                SELECT k.aggregate_id FROM classified k
                WHERE k.problem IS NULL AND k.aggregate_type = 'product'
                GROUP BY k.aggregate_id
                HAVING max(k.version) > coalesce((SELECT r.version FROM order_service.products r WHERE r.id = k.aggregate_id), 0)
            ) c
            CROSS JOIN LATERAL (
                SELECT e.aggregate_id AS id, e.version, e.type = 'ProductDeleted' AS deleted,
                       e.payload ->> 'description' AS description, (e.payload ->> 'price')::integer AS price
                FROM user_service.events e
                WHERE e.aggregate_type = 'product' AND e.aggregate_id = c.aggregate_id
                  AND pg_visible_in_snapshot(e.xid, (SELECT snapshot FROM current))
                  AND order_service.event_problem(e.type, e.aggregate_type, e.payload) IS NULL
                ORDER BY e.version DESC
                LIMIT 1
            ) l
        ),
        upserted_products AS (
            INSERT INTO order_service.products AS r (id, description, price, version, deleted)
            SELECT id, description, price, version, deleted FROM latest_products
            ON CONFLICT (id) DO UPDATE
                SET description = EXCLUDED.description, price = EXCLUDED.price,
                    version = EXCLUDED.version, deleted = EXCLUDED.deleted, updated_at = now()
                WHERE r.version < EXCLUDED.version
            RETURNING r.id
        ),
        dead AS (
            INSERT INTO order_service.dead_letters (consumer, event_id, event_type, payload, reason)
            SELECT $6, id, type, payload, problem FROM classified WHERE problem IS NOT NULL
            ON CONFLICT (consumer, event_id) DO NOTHING
            RETURNING event_id, reason
        ),
        last_event AS (
            SELECT xid, id FROM batch ORDER BY xid DESC, id DESC LIMIT 1
        )
        SELECT (SELECT snapshot::text FROM current) AS batch_snapshot,
               (SELECT count(*) FROM batch) AS events,
               (SELECT xid::text FROM last_event) AS last_xid,
               (SELECT id FROM last_event) AS last_id,
               (SELECT max(id) FROM batch) AS max_id,
               (SELECT coalesce(array_agg(id), '{}') FROM upserted_users)::text AS user_ids,
               (SELECT coalesce(array_agg(id), '{}') FROM upserted_products)::text AS product_ids,
               (SELECT coalesce(json_agg(json_build_object('event_id', event_id, 'reason', reason)), '[]') FROM dead) AS dead_letters
        """

    /// $1 changed user ids, $2 changed product ids: embeds the replica's current data. A deleted
    /// entity's replica row holds its last state, so its orders keep the last data it had, however
    /// the update and the delete were batched.
    public static let updateOrders = """
        WITH \(ordersCTEs)
        SELECT count(*) FROM updated
        """

    /// The common table expressions of `updateOrders`, ending in `updated`.
    static let ordersCTEs = """
        \(changedUsersCTE),
        changed_products AS (
            SELECT p.id, jsonb_build_object('productId', p.id, 'description', p.description) AS doc
            FROM order_service.products p WHERE p.id = ANY ($2::bigint[])
        ),
        -- The cardinality tests gate each branch in a generic plan, which cannot know that an
        -- array is empty: without them the product branch, planned for three products' worth of
        -- orders, scans them all for every user change.
        touched AS (
            SELECT po.id, po.user_id, po.product_id FROM order_service.purchase_orders po
            WHERE cardinality($1::bigint[]) > 0 AND po.user_id = ANY ($1::bigint[])
            UNION
            SELECT po.id, po.user_id, po.product_id FROM order_service.purchase_orders po
            WHERE cardinality($2::bigint[]) > 0 AND po.product_id = ANY ($2::bigint[])
        ),
        updated AS (
            UPDATE order_service.purchase_orders po
            SET doc = po.doc
                || CASE WHEN cu.doc IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('user', cu.doc) END
                || CASE WHEN cp.doc IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('product', cp.doc) END
            FROM touched t
            LEFT JOIN changed_users cu ON cu.id = t.user_id
            LEFT JOIN changed_products cp ON cp.id = t.product_id
            WHERE po.id = t.id
            RETURNING 1
        )
        """

    /// `updateOrders` and the position, together: $1/$2 as there, $3 consumer, $4 batch snapshot,
    /// $5 events in this chunk, $6 max id, $7 who, $8 batch done, $9/$10 cursor (xid, id),
    /// $11 store the position at all. A finished batch becomes the stored snapshot; an unfinished
    /// one keeps its snapshot and cursor beside it.
    ///
    /// Two variants, as two prepared statements with generic plans: one for chunks that changed
    /// no product, whose plan reaches a user's orders through the user_id index, and the general
    /// one, whose plan must expect a product change to touch a third of all orders.
    static func applyOrdersAndPosition(productsChanged: Bool) -> String {
        """
        WITH \(productsChanged ? ordersCTEs : userOrdersCTEs),
        position AS (
            UPDATE order_service.consumer_positions
            SET snapshot = CASE WHEN $8 THEN $4::pg_snapshot ELSE snapshot END,
                batch_snapshot = CASE WHEN $8 THEN NULL ELSE $4::pg_snapshot END,
                cursor_xid = CASE WHEN $8 THEN NULL ELSE $9::xid8 END,
                cursor_id = CASE WHEN $8 THEN NULL ELSE $10::bigint END,
                applied_events = applied_events + $5,
                applied_batches = applied_batches + CASE WHEN $5::int > 0 THEN 1 ELSE 0 END,
                last_event_id = greatest(last_event_id, coalesce($6::bigint, 0)),
                last_applied_at = CASE WHEN $5::int > 0 THEN now() ELSE last_applied_at END,
                applied_by = $7
            WHERE consumer = $3 AND $11
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM updated), (SELECT count(*) FROM position), cardinality($2::bigint[])
        """
    }

    static let applyUserOrdersAndPosition = applyOrdersAndPosition(productsChanged: false)
    static let applyAllOrdersAndPosition = applyOrdersAndPosition(productsChanged: true)

    /// The replica's current data of the changed users ($1), as orders embed it.
    static let changedUsersCTE = """
        changed_users AS (
            SELECT u.id, jsonb_build_object('id', u.id, 'firstname', u.firstname, 'lastname', u.lastname, 'email', u.email) AS doc
            FROM order_service.users u WHERE u.id = ANY ($1::bigint[])
        )
        """

    /// `ordersCTEs` for changed users only ($1).
    static let userOrdersCTEs = """
        \(changedUsersCTE),
        updated AS (
            UPDATE order_service.purchase_orders po
            SET doc = po.doc || jsonb_build_object('user', cu.doc)
            FROM changed_users cu
            WHERE po.user_id = cu.id
            RETURNING 1
        )
        """
}
