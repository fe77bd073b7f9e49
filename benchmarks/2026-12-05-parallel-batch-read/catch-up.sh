#!/bin/bash
# A whole catch-up of a fresh copy of database s1 (see first-call.sh) in one psql session, with the
# order-service's settings and chunks of 5,000, timed from a checkpoint and checked (caught up, no
# stale order). With SCHEMA=path/to/schema.sql, that schema is applied to the copy first.
# Usage: [SCHEMA=...] catch-up.sh
psql -qc "drop database if exists t1" -c "create database t1 template s1" >/dev/null
[ -n "$SCHEMA" ] && psql -q -v ON_ERROR_STOP=1 -d t1 -f "$SCHEMA" >/dev/null
psql -q -d t1 -c "vacuum analyze" -c "checkpoint" >/dev/null
start=$(date +%s.%N)
psql -q -d t1 <<'E' >/dev/null
SET synchronous_commit=off; SET plan_cache_mode=force_generic_plan; SET jit=off; SET enable_seqscan=off;
DO $$ DECLARE r record; BEGIN LOOP SELECT * INTO r FROM order_service.apply_next_chunk('c', 5000); COMMIT; EXIT WHEN NOT r.more; END LOOP; END $$;
E
end=$(date +%s.%N)
echo "catch-up $(echo "$end - $start" | bc) s; caught up $(psql -Atq -d t1 -c "select order_service.caught_up('c')"), stale orders $(psql -Atq -d t1 -c "select count(*) from order_service.stale_orders")"
