#!/bin/bash
# Writer commit to the order-service's applying commit, per update, at an offered rate, with the
# consumer's functions timed by PostgreSQL (track_functions = 'pl'), and the latency split into
# buckets: the wait before the applying statement started against the statement's own run.
# Usage: propagation.sh ORDER_SERVICE_BINARY RATE SECONDS LABEL
# Environment: PGHOST, PGPORT (a superuser, PGUSER) and DB, a database with schema.sql, users with
# one order each, the consumer caught up, track_commit_timestamp on, and the benchmark's probe
# (ecst-bench's bench_applied trigger on order_service.users; setup.sql here). The writers run
# the write ceiling's update.sql (the benchmark's UPDATE).
set -e
bin=$1; rate=$2; secs=$3; label=$4; here=$(cd "$(dirname "$0")" && pwd)
DATABASE_URL="postgresql://${PGHOST_TCP:-127.0.0.1}:$PGPORT/$DB" DATABASE_USER=order_service PORT=18381 HOST=127.0.0.1 LOG_LEVEL=info "$bin" > "order-service-${label//[^A-Za-z0-9]/-}.log" 2>&1 &
pid=$!
for i in $(seq 1 100); do curl -sf localhost:18381/health >/dev/null && break; sleep 0.1; done
psql -d "$DB" -qAtc "select pg_stat_reset(); truncate public.bench_applied" >/dev/null
start=$(psql -d "$DB" -qAtc "select coalesce(max(id),0) from user_service.events")
pgbench -n -M prepared -c 16 -j 2 -R "$rate" -T "$secs" -f "$here/../2026-12-05-write-ceiling/update.sql" -U user_service "$DB" 2>&1 | grep -E '^tps|latency average' | tr '\n' ' '; echo
for i in $(seq 1 100); do [ "$(psql -d "$DB" -qAtc 'select lag from order_service.consumer_lag')" = 0 ] && break; sleep 0.1; done
psql -d "$DB" -qAt <<SQL
CREATE TEMP TABLE lat AS
WITH written AS (
  SELECT e.payload ->> 'email' AS email, pg_xact_commit_timestamp(e.xid::text::xid) AS committed
  FROM user_service.events e WHERE e.id > $start AND e.type = 'UserUpdated'
), applied AS (
  SELECT DISTINCT ON (email) email, xid, pg_xact_commit_timestamp(xid::text::xid) AS applied, started
  FROM public.bench_applied ORDER BY email, pg_xact_commit_timestamp(xid::text::xid)
)
SELECT extract(epoch FROM a.applied - w.committed) * 1000 AS ms, extract(epoch FROM a.started - w.committed) * 1000 AS st,
       extract(epoch FROM a.applied - a.started) * 1000 AS run, a.xid
FROM written w JOIN applied a USING (email);
CREATE TEMP TABLE per_tx AS SELECT xid, count(*) AS n FROM lat GROUP BY xid;
SELECT '$label: ' || count(*) || ' updates in ' || (SELECT count(*) FROM per_tx) || ' applies (' || round(avg(n), 2) || ' an apply)'
  || ', p50 ' || round((percentile_disc(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 3)
  || ', p90 ' || round((percentile_disc(0.9) WITHIN GROUP (ORDER BY ms))::numeric, 3)
  || ', p99 ' || round((percentile_disc(0.99) WITHIN GROUP (ORDER BY ms))::numeric, 3)
  || ' ms; the applying statement started after p50 ' || round((percentile_disc(0.5) WITHIN GROUP (ORDER BY st))::numeric, 3) || ' ms'
FROM lat JOIN per_tx USING (xid);
SELECT '  ' || funcname || ': ' || calls || ' calls, ' || round(total_time::numeric / greatest(calls, 1), 3) || ' ms each'
FROM pg_stat_user_functions
WHERE funcname IN ('apply_next_chunk', 'wait_for_relying_writers', 'relying_writer_slots', 'embed_orders') ORDER BY 1;
SELECT '  ' || (ARRAY['under 0.5', '0.5-1', '1-2', '2-3', '3-5', '5-10', '10 and over'])[b + 1] || ' ms: ' || count(*)
       || ' updates, waited ' || round(avg(st)::numeric, 3) || ' ms before the applying statement, which ran '
       || round(avg(run)::numeric, 3) || ' ms, ' || round(avg(n), 1) || ' events an apply'
FROM (SELECT *, width_bucket(ms, ARRAY[0.5, 1, 2, 3, 5, 10]::float8[]) AS b FROM lat JOIN per_tx USING (xid)) q
GROUP BY b ORDER BY b;
SQL
kill $pid; wait $pid 2>/dev/null || true
