#!/bin/bash
# on-off-waits.sh ROUNDS: pgbench, 16 clients, the user-service's UPDATE on database ecst (10,000
# users with one order each, no order-service running), the notify trigger on and off in alternated
# pairs; every 10 ms a psql loop samples the wait events of the active pgbench sessions. Prints tps
# and the six commonest wait events (CPU: none) of each run. TICKER=1: see below.
dir=$(mktemp -d)   # PGHOST, PGPORT and PGUSER name a superuser of the cluster holding database ecst
cat > $dir/update.sql <<'S'
\set id random(1, 10000)
\set n random(1, 1000000000)
UPDATE user_service.users SET firstname = 'F', lastname = 'L', email = 'u' || :id || '-' || :n || '@bench.io' WHERE id = :id RETURNING id, firstname, lastname, email;
S
run() {
  local mode=$1 tag=$2
  if [ $mode = off ]; then psql -q -d ecst -c "ALTER TABLE user_service.events DISABLE TRIGGER events_notify"; else psql -q -d ecst -c "ALTER TABLE user_service.events ENABLE TRIGGER events_notify"; fi
  psql -q -d ecst -c checkpoint
  ( end=$((SECONDS+9)); while [ $SECONDS -lt $end ]; do echo "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS w FROM pg_stat_activity WHERE application_name = 'pgbench' AND state = 'active';"; echo "SELECT pg_sleep(0.01);"; done | psql -Atq -d ecst > $dir/waits-$tag.txt 2>/dev/null ) &
  local sampler=$!
  # Off runs with TICKER=1: a NOTIFY every 20 ms from another session keeps a consumer as busy.
  local ticker=
  if [ $mode = off ] && [ "${TICKER:-0}" = 1 ]; then
    ( end=$((SECONDS+9)); while [ $SECONDS -lt $end ]; do echo "NOTIFY ecst_events; SELECT pg_sleep(0.02);"; done | psql -Atq -d ecst >/dev/null 2>&1 ) &
    ticker=$!
  fi
  tps=$(pgbench -n -M prepared -c 16 -j 2 -T 8 -f $dir/update.sql ecst 2>&1 | grep -oP 'tps = \K[0-9.]+' | head -1)
  kill $sampler $ticker 2>/dev/null; wait $sampler $ticker 2>/dev/null
  echo "$tag $mode tps $tps $(grep -v '^$' $dir/waits-$tag.txt | sort | uniq -c | sort -rn | head -6 | awk '{printf "%s=%s ", $2, $1}')"
}
for r in $(seq 1 $1); do
  if [ $((r % 2)) = 1 ]; then run on r$r-on; run off r$r-off; else run off r$r-off; run on r$r-on; fi
done
psql -q -d ecst -c "ALTER TABLE user_service.events ENABLE TRIGGER events_notify"
