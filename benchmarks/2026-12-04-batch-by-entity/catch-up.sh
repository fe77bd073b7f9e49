#!/bin/bash
# Copies database $1 (made by shape.sh) to $2, loads schema.sql file $3 into the copy when given
# (the consumer's functions as they are there, over the same data), then catches the copy up with
# apply_next_chunk() called from one psql session with the order-service's settings (chunks of
# 5,000), timed, then times the two floors of ecst-bench on it, each after a VACUUM and a
# CHECKPOINT: the orders rewritten from user_service.users, and the whole work in one statement
# (benchmarks/catch-up-whole-work-floor.sql: the events read and checked, each user's latest
# upserted into the replica, the orders rewritten from it).
set -e
P="psql -v ON_ERROR_STOP=1 -q"
$P -c "drop database if exists $2" -c "create database $2 template $1"
[ -n "$3" ] && $P -d "$2" -f "$3" > /dev/null
$P -d "$2" -c "CHECKPOINT"
timed() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
calls() { echo "SET synchronous_commit=off; SET plan_cache_mode=force_generic_plan; SET jit=off; SET enable_seqscan=off;"
          for i in $(seq 1 230); do echo "SELECT events, orders_updated, more FROM order_service.apply_next_chunk('c', 5000);"; done; }
file=$(mktemp); calls > "$file"
c=$(timed $P -d "$2" -f "$file"); rm -f "$file"
echo "catch-up $c s, caught up: $($P -d "$2" -Atc "select order_service.caught_up('c')"), stale orders: $($P -d "$2" -Atc "select count(*) from order_service.stale_orders")"
$P -d "$2" -c "VACUUM order_service.purchase_orders, order_service.users" -c "CHECKPOINT"
f=$(timed $P -d "$2" -c "UPDATE order_service.purchase_orders po SET doc = po.doc || jsonb_build_object('user', order_service.user_document(u.id, u.firstname, u.lastname, u.email)) FROM user_service.users u WHERE po.user_id = u.id")
$P -d "$2" -c "VACUUM order_service.purchase_orders, order_service.users" -c "CHECKPOINT"
boundary=$($P -d "$1" -Atc "SELECT last_event_id FROM order_service.consumer_positions WHERE consumer = 'c'")
floor=$(dirname "$0")/../catch-up-whole-work-floor.sql
w=$(timed $P -d "$2" -c "PREPARE whole_work(bigint) AS $(cat "$floor")" -c "EXECUTE whole_work($boundary)")
echo "orders floor $f s, whole-work floor $w s; catch-up / orders floor $(echo "scale=2; $c / $f" | bc), / whole-work floor $(echo "scale=2; $c / $w" | bc)"
