#!/bin/bash
# writer-cpu.sh MODE (on|off) [TAG]: pgbench, 16 clients, the user-service's UPDATE on database ecst for
# 9 s with an order-service running against it; from 1.5 s to 8.5 s, the CPU the pgbench sessions'
# backends, the consumer's listening backend and the order-service process used (/proc, 1/100 s
# ticks), and the users updated: CPU per transaction of each. "off": the notify trigger disabled and a
# NOTIFY every 20 ms from another session. PGHOST, PGPORT and PGUSER name a superuser of the cluster.
dir=$(mktemp -d)
printf '%s\n' '\set id random(1, 10000)' '\set n random(1, 1000000000)' \
  "UPDATE user_service.users SET firstname = 'F', lastname = 'L', email = 'u' || :id || '-' || :n || '@bench.io' WHERE id = :id RETURNING id, firstname, lastname, email;" > $dir/update.sql
mode=$1
if [ $mode = off ]; then psql -q -d ecst -c "ALTER TABLE user_service.events DISABLE TRIGGER events_notify"; else psql -q -d ecst -c "ALTER TABLE user_service.events ENABLE TRIGGER events_notify"; fi
ticker=
if [ $mode = off ]; then ( end=$((SECONDS+13)); while [ $SECONDS -lt $end ]; do echo "NOTIFY ecst_events; SELECT pg_sleep(0.02);"; done | psql -Atq -d ecst >/dev/null 2>&1 ) & ticker=$!; fi
pgbench -n -M prepared -c 16 -j 2 -T 12 -f $dir/update.sql ecst > $dir/pgbench.out 2>&1 &
bench=$!
sleep 1.5
pids=$(psql -Atq -d ecst -c "select string_agg(pid::text, ' ') from pg_stat_activity where application_name = 'pgbench'")
listen=$(psql -Atq -d ecst -c "select pid from pg_stat_activity where application_name = 'order-service/listen'")
service=$(pgrep -f release/order-service | head -1)
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
updated() { psql -Atq -d ecst -c "select n_tup_upd from pg_stat_user_tables where relid = 'user_service.users'::regclass"; }
w0=$(ticks $pids); l0=$(ticks $listen); s0=$(ticks $service); u0=$(updated)
sleep 7
w1=$(ticks $pids); l1=$(ticks $listen); s1=$(ticks $service); u1=$(updated)
wait $bench; [ -n "$ticker" ] && { kill $ticker; wait $ticker; } 2>/dev/null
n=$((u1 - u0))
echo "${2:-$mode} $mode tps $(grep -oP 'tps = \K[0-9.]+' $dir/pgbench.out | head -1) updated $n" \
  "writers $(( (w1 - w0) * 10000 / n )) us/txn, listening backend $(( (l1 - l0) * 10000 / n )) us/txn, order-service $(( (s1 - s0) * 10000 / n )) us/txn"
