#!/bin/bash
# no-relying-writers.sh: three alternated pairs of a pgbench run offering 2,500 updates/s (16 clients,
# the user-service's UPDATE) against database ecst with an order-service running, once as schema.sql
# has it and once with user_service.relying_writer_slots() answering '{}' (unsafe: relying writers
# are then left to later notifications; a measurement only). From 1.5 s to 8.5 s of each 12 s run:
# the CPU (/proc) of pgbench's backends, of the listening backend and of the order-service process
# per update, and the consumer's applies a second. PGHOST, PGPORT and PGUSER name a superuser;
# ORDER_SERVICE_PID the order-service process (default: the release build's, found by pgrep).
set -e
dir=$(mktemp -d)
printf '%s\n' '\set id random(1, 10000)' '\set n random(1, 1000000000)' \
  "UPDATE user_service.users SET firstname = 'F', lastname = 'L', email = 'u' || :id || '-' || :n || '@bench.io' WHERE id = :id RETURNING id, firstname, lastname, email;" > $dir/update.sql
psql -Atq -d ecst -c "select pg_get_functiondef('user_service.relying_writer_slots'::regproc)" > $dir/orig.sql
echo "CREATE OR REPLACE FUNCTION user_service.relying_writer_slots() RETURNS int[] LANGUAGE plpgsql AS \$\$ BEGIN RETURN '{}'; END \$\$;" > $dir/none.sql
run() {
  pgbench -n -M prepared -c 16 -j 2 -T 12 -R 2500 -f $dir/update.sql ecst > $dir/pgbench.out 2>&1 &
  local bench=$!
  sleep 1.5
  local pids=$(psql -Atq -d ecst -c "select string_agg(pid::text, ' ') from pg_stat_activity where application_name = 'pgbench'")
  local listen=$(psql -Atq -d ecst -c "select pid from pg_stat_activity where application_name = 'order-service/listen'")
  local service=${ORDER_SERVICE_PID:-$(pgrep -f 'release/order-service' | head -1)}
  ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
  count() { psql -Atq -d ecst -c "select (select last_value from user_service.events_id_seq) || ' ' || (select sum(applied_batches) from order_service.consumer_positions)"; }
  read u0 b0 <<< "$(count)"; w0=$(ticks $pids); l0=$(ticks $listen); s0=$(ticks $service)
  sleep 7
  read u1 b1 <<< "$(count)"; w1=$(ticks $pids); l1=$(ticks $listen); s1=$(ticks $service)
  wait $bench
  n=$((u1 - u0))
  echo "$1 updates $n writers $(( (w1 - w0) * 10000 / n )) us/update, listening backend $(( (l1 - l0) * 10000 / n )), order-service $(( (s1 - s0) * 10000 / n )), applies/s $(( (b1 - b0) / 7 ))"
}
for r in 1 2 3; do
  psql -q -d ecst -f $dir/orig.sql; run r$r-as-landed
  psql -q -d ecst -f $dir/none.sql; run r$r-no-relying-writers
done
psql -q -d ecst -f $dir/orig.sql
rm -rf $dir
