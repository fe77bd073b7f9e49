#!/bin/bash
# The rest of a 100,000-event batch after its read (ad hoc; not the product): on a fresh copy of
# database s100k_t (10,000 users with one order each, caught up, then ten rounds of
# `UPDATE user_service.users SET email = 'r<n>-' || id || '@bench.io' WHERE id > 4`; the schema of
# the build being measured applied), the batch's first transaction (the read alone) runs, then the
# rest of the batch either in one session (serial: apply_next_chunk until done) or with a second
# session running help_batch from the top meanwhile (parallel). PGHOST/PGPORT/PGUSER as psql reads them.
# Usage: par100k.sh serial|parallel
mode=$1
psql -qc "drop database if exists s100k_c" -c "create database s100k_c template s100k_t" >/dev/null
psql -q -d s100k_c -c "vacuum analyze" -c "checkpoint" >/dev/null
# The consumer's settings as connection options: given as SETs in the same -c as the DO blocks below,
# psql ran them all as one implicit transaction, where a DO cannot COMMIT (fixed in the thirty-second
# session: "invalid transaction termination" after the first chunk, rolled back).
export PGOPTIONS="-c synchronous_commit=off -c plan_cache_mode=force_generic_plan -c jit=off -c enable_seqscan=off"
set_up=""
t0=$(date +%s.%N)
psql -q -d s100k_c -c "$set_up SELECT more FROM order_service.apply_next_chunk('order-service', 5000)" >/dev/null
t1=$(date +%s.%N)
applier="$set_up DO \$\$ DECLARE r record; BEGIN LOOP SELECT * INTO r FROM order_service.apply_next_chunk('order-service', 5000); COMMIT; EXIT WHEN NOT r.more; END LOOP; END \$\$;"
helper="$set_up DO \$\$ DECLARE r bigint; BEGIN r := order_service.help_batch('order-service', NULL, 5000); COMMIT; WHILE r IS NOT NULL LOOP r := order_service.help_batch('order-service', r, 5000); COMMIT; END LOOP; END \$\$;"
if [ "$mode" = serial ]; then
    psql -q -d s100k_c -c "$applier" >/dev/null
else
    psql -q -d s100k_c -c "$applier" >/dev/null & psql -q -d s100k_c -c "$helper" >/dev/null & wait
fi
t2=$(date +%s.%N)
echo "$mode read $(echo "$t1 - $t0" | bc) rest $(echo "$t2 - $t1" | bc) applied $(psql -Atq -d s100k_c -c "select applied_events from order_service.consumer_positions where consumer='order-service'") stale $(psql -Atq -d s100k_c -c "select count(*) from order_service.stale_orders")"
