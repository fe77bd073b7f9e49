-- The batch chunk's statement of apply_next_chunk() and its parts, timed in one psql session on a
-- copy of catch-up-shape.sh's database after three chunks of psql-catch-up.sh (so mid-batch: the
-- stored snapshot, the batch's snapshot and the cursor are read from consumer_positions). Each
-- variant reads the same 5,000 events; run with psql -f, read the Time: lines after the first (the
-- listing of the executions) in order.
--   flattened: the statement before 74aecc8 (its rows' subquery flattened: event_problem() at each use)
--   whole: the statement now (OFFSET 0); joined: whole, the replica version by a join, not a subplan
--   no_problem / no_probe: flattened without the problem / without the replica look-up
--   scan, problem_once, probe, xids, ids, last_event: each part alone
SET plan_cache_mode=force_generic_plan; SET jit=off; SET enable_seqscan=off;
SELECT snapshot AS sn, batch_snapshot AS up, cursor_xid AS cx, cursor_id AS ci FROM order_service.consumer_positions \gset
PREPARE flattened(pg_snapshot, pg_snapshot, xid8, bigint, int) AS
SELECT count(*)::integer AS events, (max(ARRAY[(b.xid, b.id)::order_service.event_position]))[1] AS last_event,
       max(b.id) AS max_id, array_agg(DISTINCT b.xid) AS xids, bool_or(b.problem IS NOT NULL) AS any_unusable,
       array_agg(DISTINCT b.aggregate_id) FILTER (
           WHERE b.aggregate_type = 'user' AND b.problem IS NULL
             AND b.version > coalesce((SELECT r.version FROM order_service.users r WHERE r.id = b.aggregate_id), 0)) AS user_ids,
       array_agg(DISTINCT b.aggregate_id) FILTER (
           WHERE b.aggregate_type = 'product' AND b.problem IS NULL
             AND b.version > coalesce((SELECT r.version FROM order_service.products r WHERE r.id = b.aggregate_id), 0)) AS product_ids
FROM (SELECT e.id, e.xid, e.aggregate_type, e.aggregate_id, e.version,
             order_service.event_problem(e.type, e.aggregate_type, e.payload) AS problem
      FROM order_service.pending_events($1, $2, $3, $4, $5) e) b;
PREPARE no_problem(pg_snapshot, pg_snapshot, xid8, bigint, int) AS
SELECT count(*)::integer AS events, (max(ARRAY[(b.xid, b.id)::order_service.event_position]))[1] AS last_event,
       max(b.id) AS max_id, array_agg(DISTINCT b.xid) AS xids, bool_or(b.problem IS NOT NULL) AS any_unusable,
       array_agg(DISTINCT b.aggregate_id) FILTER (
           WHERE b.aggregate_type = 'user' AND b.problem IS NULL
             AND b.version > coalesce((SELECT r.version FROM order_service.users r WHERE r.id = b.aggregate_id), 0)) AS user_ids,
       array_agg(DISTINCT b.aggregate_id) FILTER (
           WHERE b.aggregate_type = 'product' AND b.problem IS NULL
             AND b.version > coalesce((SELECT r.version FROM order_service.products r WHERE r.id = b.aggregate_id), 0)) AS product_ids
FROM (SELECT e.id, e.xid, e.aggregate_type, e.aggregate_id, e.version,
             NULL::text AS problem
      FROM order_service.pending_events($1, $2, $3, $4, $5) e) b;
PREPARE no_probe(pg_snapshot, pg_snapshot, xid8, bigint, int) AS
SELECT count(*)::integer AS events, (max(ARRAY[(b.xid, b.id)::order_service.event_position]))[1] AS last_event,
       max(b.id) AS max_id, array_agg(DISTINCT b.xid) AS xids, bool_or(b.problem IS NOT NULL) AS any_unusable,
       array_agg(DISTINCT b.aggregate_id) FILTER (
           WHERE b.aggregate_type = 'user' AND b.problem IS NULL) AS user_ids,
       array_agg(DISTINCT b.aggregate_id) FILTER (
           WHERE b.aggregate_type = 'product' AND b.problem IS NULL) AS product_ids
FROM (SELECT e.id, e.xid, e.aggregate_type, e.aggregate_id, e.version,
             order_service.event_problem(e.type, e.aggregate_type, e.payload) AS problem
      FROM order_service.pending_events($1, $2, $3, $4, $5) e) b;
PREPARE scan(pg_snapshot, pg_snapshot, xid8, bigint, int) AS
SELECT count(*), max(e.id) FROM order_service.pending_events($1, $2, $3, $4, $5) e;
PREPARE whole(pg_snapshot, pg_snapshot, xid8, bigint, int) AS
SELECT count(*)::integer AS events, (max(ARRAY[(b.xid, b.id)::order_service.event_position]))[1] AS last_event,
       max(b.id) AS max_id, array_agg(DISTINCT b.xid) AS xids, bool_or(b.problem IS NOT NULL) AS any_unusable,
       array_agg(DISTINCT b.aggregate_id) FILTER (
           WHERE b.aggregate_type = 'user' AND b.problem IS NULL
             AND b.version > coalesce((SELECT r.version FROM order_service.users r WHERE r.id = b.aggregate_id), 0)) AS user_ids,
       array_agg(DISTINCT b.aggregate_id) FILTER (
           WHERE b.aggregate_type = 'product' AND b.problem IS NULL
             AND b.version > coalesce((SELECT r.version FROM order_service.products r WHERE r.id = b.aggregate_id), 0)) AS product_ids
FROM (SELECT e.id, e.xid, e.aggregate_type, e.aggregate_id, e.version,
             order_service.event_problem(e.type, e.aggregate_type, e.payload) AS problem
      FROM order_service.pending_events($1, $2, $3, $4, $5) e OFFSET 0) b;
PREPARE problem_once(pg_snapshot, pg_snapshot, xid8, bigint, int) AS
SELECT count(*), bool_or(b.problem IS NOT NULL)
FROM (SELECT e.id, order_service.event_problem(e.type, e.aggregate_type, e.payload) AS problem
      FROM order_service.pending_events($1, $2, $3, $4, $5) e OFFSET 0) b;
PREPARE probe(pg_snapshot, pg_snapshot, xid8, bigint, int) AS
SELECT count(*) FILTER (WHERE b.version > coalesce((SELECT r.version FROM order_service.users r WHERE r.id = b.aggregate_id), 0))
FROM order_service.pending_events($1, $2, $3, $4, $5) b;
PREPARE xids(pg_snapshot, pg_snapshot, xid8, bigint, int) AS
SELECT array_agg(DISTINCT b.xid) FROM order_service.pending_events($1, $2, $3, $4, $5) b;
PREPARE ids(pg_snapshot, pg_snapshot, xid8, bigint, int) AS
SELECT array_agg(DISTINCT b.aggregate_id) FROM order_service.pending_events($1, $2, $3, $4, $5) b;
PREPARE last_event(pg_snapshot, pg_snapshot, xid8, bigint, int) AS
SELECT (max(ARRAY[(b.xid, b.id)::order_service.event_position]))[1] FROM order_service.pending_events($1, $2, $3, $4, $5) b;
PREPARE joined(pg_snapshot, pg_snapshot, xid8, bigint, int) AS
SELECT count(*)::integer AS events, (max(ARRAY[(b.xid, b.id)::order_service.event_position]))[1] AS last_event,
       max(b.id) AS max_id, array_agg(DISTINCT b.xid) AS xids, bool_or(b.problem IS NOT NULL) AS any_unusable,
       array_agg(DISTINCT b.aggregate_id) FILTER (
           WHERE b.aggregate_type = 'user' AND b.problem IS NULL AND b.version > coalesce(r.version, 0)) AS user_ids,
       array_agg(DISTINCT b.aggregate_id) FILTER (
           WHERE b.aggregate_type = 'product' AND b.problem IS NULL AND b.version > coalesce(p.version, 0)) AS product_ids
FROM (SELECT e.id, e.xid, e.aggregate_type, e.aggregate_id, e.version,
             order_service.event_problem(e.type, e.aggregate_type, e.payload) AS problem
      FROM order_service.pending_events($1, $2, $3, $4, $5) e OFFSET 0) b
LEFT JOIN order_service.users r ON b.aggregate_type = 'user' AND r.id = b.aggregate_id
LEFT JOIN order_service.products p ON b.aggregate_type = 'product' AND p.id = b.aggregate_id;
\timing on
-- 15 rounds, each executing the variants in this order (\gexec runs each row as a statement).
SELECT format('EXECUTE %s(%L, %L, %L, %L, 5000)', v.name, :'sn', :'up', :'cx', :'ci')
FROM generate_series(1, 15) AS round,
     unnest(ARRAY['flattened', 'whole', 'joined', 'no_problem', 'no_probe', 'scan', 'problem_once', 'probe', 'xids', 'ids',
                  'last_event']) WITH ORDINALITY AS v(name, position)
ORDER BY round, v.position \gexec
