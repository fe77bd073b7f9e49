-- The floor of a catch-up's whole work, one set-based statement: the events after id $1 read, each
-- checked as the consumer checks it, each user's latest usable version upserted into the replica
-- (every row written: the catch-up has already brought them to these values, so a version test
-- would skip them all), and the orders rewritten from the upserted rows. ecst-bench's catch-up
-- phase runs it (BenchRun.swift), and so do the ad hoc psql scripts beside it (PREPARE ... AS).
WITH latest AS (
    SELECT DISTINCT ON (e.aggregate_id) e.aggregate_id AS id, e.version, e.type = 'UserDeleted' AS deleted,
           e.payload ->> 'firstname' AS firstname, e.payload ->> 'lastname' AS lastname, e.payload ->> 'email' AS email
    FROM user_service.events e
    WHERE e.id > $1 AND e.aggregate_type = 'user'
      AND order_service.event_problem(e.type, e.aggregate_type, e.payload) IS NULL
    ORDER BY e.aggregate_id, e.version DESC
),
upserted AS (
    INSERT INTO order_service.users AS r (id, firstname, lastname, email, version, deleted)
    SELECT l.id, l.firstname, l.lastname, l.email, l.version, l.deleted FROM latest l
    ON CONFLICT (id) DO UPDATE
        SET firstname = EXCLUDED.firstname, lastname = EXCLUDED.lastname, email = EXCLUDED.email,
            version = EXCLUDED.version, deleted = EXCLUDED.deleted, updated_at = now()
    RETURNING r.id, r.firstname, r.lastname, r.email
)
UPDATE order_service.purchase_orders po
SET doc = po.doc || jsonb_build_object('user', order_service.user_document(u.id, u.firstname, u.lastname, u.email))
FROM upserted u WHERE po.user_id = u.id
