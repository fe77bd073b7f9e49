#!/bin/bash
# Copies database $1 (made by shape.sh) to $2, loads schema.sql file $3 into the copy when given
# (the consumer's functions as they are there, over the same data), then catches the copy up with apply_next_chunk()
# called from one psql session with the order-service's settings (chunks of 5,000), timed, then
# times the two floors of ecst-bench on it, each after a VACUUM and a CHECKPOINT: the orders
# rewritten from user_service.users, and the whole work in one statement (the events read and
# checked, each user's latest upserted into the replica, the orders rewritten from it).
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
w=$(timed $P -d "$2" -c "
WITH latest AS (
    SELECT DISTINCT ON (e.aggregate_id) e.aggregate_id AS id, e.version, e.type = 'UserDeleted' AS deleted,
           e.payload ->> 'firstname' AS firstname, e.payload ->> 'lastname' AS lastname, e.payload ->> 'email' AS email
    FROM user_service.events e
    WHERE e.id > $boundary AND e.aggregate_type = 'user'
      AND order_service.event_problem(e.type, e.aggregate_type, e.payload) IS NULL
    ORDER BY e.aggregate_id, e.version DESC
),
upserted AS (
    INSERT INTO order_service.users AS r (id, firstname, lastname, email, version, deleted)
    SELECT l.id, l.firstname, l.lastname, l.email, l.version, l.deleted FROM latest l
    ON CONFLICT (id) DO UPDATE
        SET firstname = EXCLUDED.firstname, lastname = EXCLUDED.lastname, email = EXCLUDED.email,
            version = EXCLUDED.version, deleted = EXCLUDED.deleted, updated_at = now()
    RETURNING r.id, r.firstname, r.lastname, r.email
)
UPDATE order_service.purchase_orders po
SET doc = po.doc || jsonb_build_object('user', order_service.user_document(u.id, u.firstname, u.lastname, u.email))
FROM upserted u WHERE po.user_id = u.id")
echo "orders floor $f s, whole-work floor $w s; catch-up / orders floor $(echo "scale=2; $c / $f" | bc), / whole-work floor $(echo "scale=2; $c / $w" | bc)"
