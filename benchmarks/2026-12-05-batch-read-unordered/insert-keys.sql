-- start_batch's insert into tables keyed three ways and one without a key, each twice, in a database
-- made by ../2026-12-04-batch-by-entity/shape.sh (consumer c with its batch pending). psql -f.
SET jit=off; SET work_mem='64MB'; SET max_parallel_workers_per_gather=0;
CREATE TEMP TABLE snap AS SELECT snapshot AS since, pg_current_snapshot() AS upto FROM order_service.consumer_positions WHERE consumer='c';
CREATE TEMP TABLE agg AS SELECT 'c'::text AS consumer, b.aggregate_type, b.aggregate_id, (max(ARRAY[b.version, b.id]) FILTER (WHERE b.problem IS NULL))[2] AS event_id, count(*)::int AS events, (count(*) FILTER (WHERE b.problem IS NOT NULL))::int AS unusable_events, max(b.id) AS highest_event_id
 FROM (SELECT e.id, e.aggregate_type, e.aggregate_id, e.version, order_service.event_problem(e.type, e.aggregate_type, e.payload) AS problem FROM snap, order_service.pending_event_set(snap.since, snap.upto) e OFFSET 0) b GROUP BY 2,3;
CREATE TABLE t_a (LIKE order_service.batch_entities INCLUDING ALL);
CREATE TABLE t_d (LIKE order_service.batch_entities); ALTER TABLE t_d ADD PRIMARY KEY (aggregate_id, aggregate_type, consumer);
CREATE TABLE t_e (LIKE order_service.batch_entities); CREATE UNIQUE INDEX ON t_e (consumer COLLATE "C", aggregate_id, aggregate_type COLLATE "C");
CREATE TABLE t_n (LIKE order_service.batch_entities);
\timing on
\echo a
INSERT INTO t_a SELECT * FROM agg;
\echo d
INSERT INTO t_d SELECT * FROM agg;
\echo e
INSERT INTO t_e SELECT * FROM agg;
\echo n
INSERT INTO t_n SELECT * FROM agg;
\timing off
TRUNCATE t_a, t_d, t_e, t_n;
\timing on
\echo a
INSERT INTO t_a SELECT * FROM agg;
\echo d
INSERT INTO t_d SELECT * FROM agg;
\echo e
INSERT INTO t_e SELECT * FROM agg;
\echo n
INSERT INTO t_n SELECT * FROM agg;
\timing off
DROP TABLE t_a, t_d, t_e, t_n;
