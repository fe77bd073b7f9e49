-- start_batch's read, aggregate and insert by hash aggregate and by sort, alternated, each rolled
-- back, in a shape.sh database. psql -f.
SET jit=off; SET work_mem='64MB'; SET max_parallel_workers_per_gather=0; SET enable_bitmapscan=off;
CREATE TEMP TABLE snap AS SELECT snapshot AS since, pg_current_snapshot() AS upto FROM order_service.consumer_positions WHERE consumer='c';
\set ins 'INSERT INTO order_service.batch_entities AS w (consumer, aggregate_type, aggregate_id, event_id, events, unusable_events, highest_event_id) SELECT ''c'', b.aggregate_type, b.aggregate_id, (max(ARRAY[b.version, b.id]) FILTER (WHERE b.problem IS NULL))[2], count(*), count(*) FILTER (WHERE b.problem IS NOT NULL), max(b.id) FROM (SELECT e.id, e.aggregate_type, e.aggregate_id, e.version, order_service.event_problem(e.type, e.aggregate_type, e.payload) AS problem FROM snap, order_service.pending_event_set(snap.since, snap.upto) e OFFSET 0) b GROUP BY b.aggregate_type, b.aggregate_id'
\timing on
BEGIN;
\echo hash
:ins;
ROLLBACK;
BEGIN;
SET LOCAL enable_hashagg=off;
\echo sorted
:ins;
ROLLBACK;
BEGIN;
\echo hash
:ins;
ROLLBACK;
BEGIN;
SET LOCAL enable_hashagg=off;
\echo sorted
:ins;
ROLLBACK;
