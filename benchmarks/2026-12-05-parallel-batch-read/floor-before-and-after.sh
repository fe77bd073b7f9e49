#!/bin/bash
# On a fresh copy of database s1 (see first-call.sh): the whole-work floor from the catch-up's own
# starting state (in a transaction rolled back), VACUUM, the whole catch-up in one psql session
# (apply_next_chunk until the batch ends), VACUUM, and the floor again: what ecst-bench's catch-up
# phase now does, by hand. Usage: floor-before-and-after.sh
psql -qc "drop database if exists t1" -c "create database t1 template s1" >/dev/null
F="PREPARE f(bigint) AS $(cat "$(dirname "$0")/../catch-up-whole-work-floor.sql");"
boundary=$(psql -Atq -d t1 -c "SELECT last_event_id FROM order_service.consumer_positions WHERE consumer = 'c'")
psql -q -d t1 -c "vacuum analyze" -c checkpoint
b=$( { echo "$F"; echo '\timing on'; echo "BEGIN;"; echo "EXECUTE f($boundary);"; echo "ROLLBACK;"; } | psql -q -d t1 | grep Time | sed -n 2p)
psql -q -d t1 -c "vacuum analyze" -c checkpoint
start=$(date +%s.%N)
psql -q -d t1 <<E >/dev/null
SET synchronous_commit=off; SET plan_cache_mode=force_generic_plan; SET jit=off; SET enable_seqscan=off;
DO \$\$ DECLARE r record; BEGIN LOOP SELECT * INTO r FROM order_service.apply_next_chunk('c', 5000); COMMIT; EXIT WHEN NOT r.more; END LOOP; END \$\$;
E
end=$(date +%s.%N)
psql -q -d t1 -c "vacuum analyze" -c checkpoint
a=$( { echo "$F"; echo '\timing on'; echo "EXECUTE f($boundary);"; } | psql -q -d t1 | grep Time | tail -1)
echo "floor before: $b | catch-up $(echo "$end - $start" | bc) s | floor after: $a"
