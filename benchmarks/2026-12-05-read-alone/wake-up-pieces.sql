-- A one-event wake-up's statement cut into its pieces, each a statement of its own (ad hoc, ad-hoc.log item 7): pgbench -n -M prepared -r -T 10 -f wake-up-pieces.sql, with PGOPTIONS as the consumer's sessions, on a caught-up copy of s100k_t.
\set id random(5, 10004)
UPDATE user_service.users SET email = 'w' || :id || '@x.io' WHERE id = :id;
BEGIN;
SELECT p.snapshot AS snap, p.batch_snapshot, p.cursor_xid, p.cursor_id, p.entity_cursor_type, p.entity_cursor_id FROM order_service.consumer_positions p WHERE p.consumer = 'order-service' FOR UPDATE SKIP LOCKED \gset
SELECT pg_current_snapshot() AS upto, user_service.writers_may_rely(pg_current_snapshot()) \gset
WITH chunk_events AS MATERIALIZED (
    SELECT e.id, e.xid, e.type, e.aggregate_type, e.aggregate_id, e.version, e.payload,
           order_service.event_problem(e.type, e.aggregate_type, e.payload) AS problem
    FROM order_service.pending_event_sample(:snap::pg_snapshot, :upto::pg_snapshot, 5000) e
),
upserted_users AS (
    INSERT INTO order_service.users AS r (id, firstname, lastname, email, version, deleted)
    SELECT DISTINCT ON (c.aggregate_id) c.aggregate_id, c.payload ->> 'firstname', c.payload ->> 'lastname',
           c.payload ->> 'email', c.version, c.type = 'UserDeleted'
    FROM chunk_events c
    WHERE c.aggregate_type = 'user' AND c.problem IS NULL AND (SELECT count(*) FROM chunk_events) < 5000
    ORDER BY c.aggregate_id, c.version DESC
    ON CONFLICT (id) DO UPDATE
        SET firstname = EXCLUDED.firstname, lastname = EXCLUDED.lastname, email = EXCLUDED.email,
            version = EXCLUDED.version, deleted = EXCLUDED.deleted, updated_at = now()
        WHERE r.version < EXCLUDED.version
    RETURNING r.id
)
SELECT count(*)::integer AS events, max(c.id) AS max_id, array_agg(DISTINCT c.xid) AS xids, bool_or(c.problem IS NOT NULL) AS any_unusable,
       (SELECT array_agg(u.id) FROM upserted_users u) AS user_ids,
       array_agg(DISTINCT c.aggregate_id) FILTER (WHERE c.aggregate_type = 'product' AND c.problem IS NULL) AS product_ids
FROM chunk_events c;
SELECT order_service.embed_orders(ARRAY[:id]::bigint[], '{}');
UPDATE order_service.consumer_positions p SET snapshot = :upto::pg_snapshot, batch_snapshot = NULL, cursor_xid = NULL, cursor_id = NULL, entity_cursor_type = NULL, entity_cursor_id = NULL, applied_events = p.applied_events + 1, applied_batches = p.applied_batches + 1, last_event_id = greatest(p.last_event_id, 0), last_applied_at = now(), applied_by = 'bench' WHERE p.consumer = 'order-service';
SELECT pg_try_advisory_xact_lock(1162040150, 0);
COMMIT;
SELECT 1;
