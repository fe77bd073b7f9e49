#!/bin/bash
# Catches database $1 (a copy of catch-up-shape.sh's `cu`: createdb -T cu NAME) up with
# apply_next_chunk() called from one psql session with the order-service's settings, one chunk of
# 5,000 events per transaction, then runs ecst-bench's floor (one set-based UPDATE) on it.
P="psql -v ON_ERROR_STOP=1 -q -d $1"
{ echo "SET synchronous_commit=off; SET plan_cache_mode=force_generic_plan; SET jit=off; SET enable_seqscan=off;"
  echo "\\timing on"
  for i in $(seq 1 215); do echo "SELECT events, orders_updated, more FROM order_service.apply_next_chunk('c', 5000);"; done
} > chunks.sql
s=$(date +%s.%N); $P -f chunks.sql > chunks.out; e=$(date +%s.%N)
echo "catch-up $(echo "$e - $s" | bc) s (caught up: $($P -Atc "select order_service.caught_up('c')"))"
s=$(date +%s.%N)
$P -c "UPDATE order_service.purchase_orders po SET doc = po.doc || jsonb_build_object('user', order_service.user_document(u.id, u.firstname, u.lastname, u.email)) FROM user_service.users u WHERE po.user_id = u.id"
e=$(date +%s.%N); echo "floor $(echo "$e - $s" | bc) s"
