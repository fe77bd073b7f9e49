#!/bin/bash
# The catch-up shape of issue 16 in a database $1 of a running PostgreSQL 15 (PGHOST/PGPORT/PGUSER
# as psql reads them, a superuser): $4 users (default 100,000) with $2 orders each (default 10), the
# consumer 'c' caught up with their creation, then ten rounds of updates of every user (1,000,000
# pending events by default), vacuumed and checkpointed. Usage: shape.sh DB [ORDERS] [schema.sql] [USERS]
set -e
P="psql -v ON_ERROR_STOP=1 -q"
$P -c "drop database if exists $1" -c "create database $1"
$P -d "$1" -f "${3:-schema.sql}" >/dev/null
$P -d "$1" -v orders="${2:-10}" -v users="${4:-100000}" <<'S'
INSERT INTO user_service.users (firstname, lastname, email) SELECT 'C', 'U', 'c' || i || '@bench.io' FROM generate_series(1, :users) AS i;
INSERT INTO order_service.purchase_orders (user_id, product_id, doc) SELECT u.id, 1 + k % 3, '{"price": 1}' FROM user_service.users u, generate_series(1, :orders) AS k;
INSERT INTO order_service.consumer_positions (consumer) VALUES ('c');
SET synchronous_commit=off; SET plan_cache_mode=force_generic_plan; SET jit=off; SET enable_seqscan=off;
SELECT count(*) FROM (SELECT order_service.apply_next_chunk('c', 5000) FROM generate_series(1, :users / 5000 + 25)) x;
SELECT order_service.caught_up('c');
S
for r in 1 2 3 4 5 6 7 8 9 10; do $P -d "$1" -c "UPDATE user_service.users SET email = 'r$r-' || id || '@bench.io'"; done
$P -d "$1" -c "VACUUM ANALYZE" -c "CHECKPOINT"
