#!/bin/bash
# consumer-cpu.sh MODE (on|off): one 8 s pgbench run, 16 clients, the user-service's UPDATE on database
# ecst with an order-service running against it (its release build, started by hand); prints tps, the CPU
# ticks of the consumer's listening backend and of the order-service process over the run, and
# applies a second. "off": the notify trigger disabled and a NOTIFY every 20 ms from another session.
# PGHOST, PGPORT and PGUSER name a superuser of the cluster.
dir=$(mktemp -d)
printf '%s\n' '\set id random(1, 10000)' '\set n random(1, 1000000000)' \
  "UPDATE user_service.users SET firstname = 'F', lastname = 'L', email = 'u' || :id || '-' || :n || '@bench.io' WHERE id = :id RETURNING id, firstname, lastname, email;" > $dir/update.sql
mode=$1
if [ $mode = off ]; then psql -q -d ecst -c "ALTER TABLE user_service.events DISABLE TRIGGER events_notify"; else psql -q -d ecst -c "ALTER TABLE user_service.events ENABLE TRIGGER events_notify"; fi
bpid=$(psql -Atq -d ecst -c "select pid from pg_stat_activity where application_name='order-service/listen'")
opid=$(pgrep -f release/order-service | head -1)
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
b0=$(cpu $bpid); o0=$(cpu $opid); a0=$(psql -Atq -d ecst -c "select applied_batches from order_service.consumer_positions")
ticker=
if [ $mode = off ]; then ( end=$((SECONDS+9)); while [ $SECONDS -lt $end ]; do echo "NOTIFY ecst_events; SELECT pg_sleep(0.02);"; done | psql -Atq -d ecst >/dev/null 2>&1 ) & ticker=$!; fi
tps=$(pgbench -n -M prepared -c 16 -j 2 -T 8 -f $dir/update.sql ecst 2>&1 | grep -oP 'tps = \K[0-9.]+' | head -1)
b1=$(cpu $bpid); o1=$(cpu $opid); a1=$(psql -Atq -d ecst -c "select applied_batches from order_service.consumer_positions")
[ -n "$ticker" ] && { kill $ticker; wait $ticker; } 2>/dev/null
echo "$mode tps $tps consumer-backend $(( b1 - b0 )) ticks, order-service $(( o1 - o0 )) ticks (100/s), applies/s $(( (a1 - a0) / 8 ))"
