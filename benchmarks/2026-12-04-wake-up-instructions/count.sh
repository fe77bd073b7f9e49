#!/bin/bash
# Instructions per one-event apply (the order-service's wake-up): valgrind's callgrind on a
# single-user server running N (UPDATE + apply_next_chunk) pairs and N UPDATEs alone, N = 100 and
# 300; the apply is the pairs' difference less the updates', per iteration.
# Usage, as root or the cluster's OS user (postgres): count.sh SEEDED_DATADIR NAME [VARIANT.sql]
#   SEEDED_DATADIR: a stopped cluster with database ecst: schema.sql, 10,000 users with one order
#   each, the consumer 'order-service' registered and caught up (seed.sql, then three applies).
#   VARIANT.sql: statements run first (for example apply_next_chunk redefined); optional. The
#   measure-*.diff files change a function as schema.sql defines it (apply_next_chunk or
#   pending_events, named in their first line): patch a copy of that function (its CREATE to its
#   closing $$;) and pass the copy. Each is a measurement only, wrong as a consumer.
set -e
seed=$1; name=$2; variant=$3
bin=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pairs=$(cd "$(dirname "$0")/../2026-12-04-chunk-cursor" && pwd)/apply-pairs.py
work=$(mktemp -d); chmod 777 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sh -c "$1"; fi; }
cp -a "$seed" "$work/data"; [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$work"
if [ -n "$variant" ]; then
  as_pg "$bin/pg_ctl -D $work/data -o '-p 54401 -k $work -c fsync=off -c listen_addresses=' -l $work/log -w start" >/dev/null
  "$bin/psql" -h "$work" -p 54401 -U postgres -q -v ON_ERROR_STOP=1 -f "$variant" ecst
  as_pg "$bin/pg_ctl -D $work/data -w stop" >/dev/null
fi
for mode in apply upd; do
  for n in 100 300; do
    rm -rf "$work/x"; cp -a "$work/data" "$work/x"; [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$work/x"
    python3 "$pairs" $n $mode > "$work/in.sql"
    as_pg "valgrind --tool=callgrind --callgrind-out-file=$work/$mode-$n.out $bin/postgres --single -D $work/x -c fsync=off ecst < $work/in.sql > $work/$mode-$n.log 2>&1"
    eval "${mode}_$n=$(awk '/^summary/ {print $2; exit}' "$work/$mode-$n.out")"
  done
done
echo "$name: pair $(( (apply_300 - apply_100) / 200 )), update $(( (upd_300 - upd_100) / 200 )), apply $(( (apply_300 - apply_100 - upd_300 + upd_100) / 200 )) instructions"
rm -rf "$work"
