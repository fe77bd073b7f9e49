#!/bin/bash
# The cheapest apply of one event this schema allows, against a no-op, one client, 3 s each, three
# times: minimal.sql (one statement: the next event after a plain id position, the replica's user
# and its orders rewritten, the position moved; no snapshot, no check, no tokens) and SELECT 1.
# The difference is the minimal apply's own work. Environment as for propagation.sh; needs events
# after the 'minimal' consumer's position (setup.sql registers it; the first line below moves it
# back 30,000 events each time).
set -e
here=$(cd "$(dirname "$0")" && pwd)
for i in 1 2 3; do
  psql -d "$DB" -qc "UPDATE order_service.consumer_positions SET last_event_id = (SELECT max(id) - 30000 FROM user_service.events) WHERE consumer = 'minimal'"
  m=$(pgbench -n -M prepared -c 1 -T 3 -f "$here/minimal.sql" -U order_service "$DB" 2>&1 | awk '/latency average/ {print $4}')
  n=$(pgbench -n -M prepared -c 1 -T 3 -f "$here/noop.sql" -U order_service "$DB" 2>&1 | awk '/latency average/ {print $4}')
  echo "minimal apply $m ms a transaction, SELECT 1 $n ms"
done
