#!/bin/bash
# Alternates catch-ups of copies of database $1 (made by ../2026-12-04-batch-by-entity/shape.sh,
# with the schema of the commit before): in each round one copy with the functions it has, then one
# with schema.sql file $2 loaded over it; $3 rounds (default 4). Each catch-up calls
# apply_next_chunk() from one psql session with the order-service's settings (chunks of 5,000),
# timed from a checkpoint, and is checked (caught up, no stale order).
# PGHOST/PGPORT/PGUSER as psql reads them, a superuser. Usage: alternate.sh SHAPE_DB SCHEMA [ROUNDS]
set -e
P="psql -v ON_ERROR_STOP=1 -q"
calls=$(mktemp)
{ echo "SET synchronous_commit=off; SET plan_cache_mode=force_generic_plan; SET jit=off; SET enable_seqscan=off;"
  for i in $(seq 1 40); do echo "SELECT events, orders_updated, more FROM order_service.apply_next_chunk('c', 5000);"; done; } > "$calls"
one() {
    $P -c "drop database if exists alternate_copy" -c "create database alternate_copy template $1" 2>/dev/null
    [ -n "$3" ] && $P -d alternate_copy -f "$3" > /dev/null
    $P -d alternate_copy -c checkpoint
    local s e; s=$(date +%s.%N); $P -d alternate_copy -f "$calls" > /dev/null; e=$(date +%s.%N)
    echo "$2 catch-up $(echo "$e - $s" | bc) s, caught up: $($P -d alternate_copy -Atc "select order_service.caught_up('c')"), stale orders: $($P -d alternate_copy -Atc "select count(*) from order_service.stale_orders")"
}
for r in $(seq 1 "${3:-4}"); do one "$1" before; one "$1" after "$2"; done
$P -c "drop database alternate_copy"
rm -f "$calls"
