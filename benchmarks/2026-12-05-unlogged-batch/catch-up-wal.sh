#!/bin/bash
# A whole catch-up of a fresh copy of database s1 (../2026-12-04-batch-by-entity/shape.sh s1 1) in
# one psql session, with the order-service's settings (asynchronous commits, generic plans, no JIT,
# no sequential scans) and chunks of 5,000, timed from a checkpoint; prints the seconds, the WAL it
# wrote, and whether it caught up with no stale order. SCHEMA's functions and tables replace s1's.
# PGHOST/PGPORT/PGUSER as psql reads them, a superuser. Usage: SCHEMA=path/to/schema.sql catch-up-wal.sh
psql -qc "drop database if exists t1" -c "create database t1 template s1" >/dev/null
psql -q -v ON_ERROR_STOP=1 -d t1 -f "$SCHEMA" >/dev/null
psql -q -d t1 -c "vacuum analyze" -c "checkpoint" >/dev/null
lsn0=$(psql -Atq -d t1 -c "select pg_current_wal_insert_lsn()")
start=$(date +%s.%N)
psql -q -d t1 <<'S' >/dev/null
SET synchronous_commit=off; SET plan_cache_mode=force_generic_plan; SET jit=off; SET enable_seqscan=off;
DO $$ DECLARE r record; BEGIN LOOP SELECT * INTO r FROM order_service.apply_next_chunk('c', 5000); COMMIT; EXIT WHEN NOT r.more; END LOOP; END $$;
S
end=$(date +%s.%N)
wal=$(psql -Atq -d t1 -c "select round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn0') / 1048576.0, 1)")
echo "catch-up $(echo "$end - $start" | bc) s; WAL $wal MB; caught up $(psql -Atq -d t1 -c "select order_service.caught_up('c')"), stale orders $(psql -Atq -d t1 -c "select count(*) from order_service.stale_orders")"
