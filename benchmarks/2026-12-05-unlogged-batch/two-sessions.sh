#!/bin/bash
# Potential of applying a batch's chunks in two sessions at once (ad hoc; not the product).
# A fresh copy of database s1 (../2026-12-04-batch-by-entity/shape.sh s1 1) gets SCHEMA, and its
# batch is started by one apply_next_chunk (the first 5,000 entities applied); then the rest of the batch is applied either by apply_next_chunk in one session (serial) or by
# two sessions each taking 5,000-entity slices of one half of the remaining ids (upsert_replica,
# embed_orders, commit per slice): the chunks' work without the position's bookkeeping.
# (serial-slices: the same slices in one session.) PGHOST/PGPORT/PGUSER as psql reads them.
# Usage: SCHEMA=path/to/schema.sql two-sessions.sh serial|serial-slices|parallel
mode=$1
psql -qc "drop database if exists t1" -c "create database t1 template s1" >/dev/null
psql -q -v ON_ERROR_STOP=1 -d t1 -f "$SCHEMA" >/dev/null
psql -q -d t1 -c "vacuum analyze" -c "checkpoint" >/dev/null
set_up="SET synchronous_commit=off; SET plan_cache_mode=force_generic_plan; SET jit=off; SET enable_seqscan=off;"
psql -q -d t1 -c "$set_up SELECT more FROM order_service.apply_next_chunk('c', 5000)" >/dev/null
read lo mid hi <<<$(psql -Atq -F' ' -d t1 -c "SELECT min(aggregate_id), percentile_disc(0.5) WITHIN GROUP (ORDER BY aggregate_id), max(aggregate_id) FROM order_service.batch_entities b, order_service.consumer_positions p WHERE b.consumer = 'c' AND b.aggregate_id > p.entity_cursor_id")
half() { # from (exclusive) to (inclusive)
psql -q -d t1 <<S >/dev/null
$set_up
DO \$\$ DECLARE f bigint := $1; t bigint := $2; e record; c record; last bigint; BEGIN
  LOOP
    SELECT coalesce(array_agg(n.event_id) FILTER (WHERE n.aggregate_type = 'user' AND n.event_id IS NOT NULL), '{}') AS users,
           coalesce(array_agg(n.event_id) FILTER (WHERE n.aggregate_type = 'product' AND n.event_id IS NOT NULL), '{}') AS products,
           max(n.aggregate_id) AS last
    INTO e FROM (SELECT * FROM order_service.batch_entities n WHERE n.consumer = 'c' AND n.aggregate_id > f AND n.aggregate_id <= t
                 ORDER BY n.aggregate_id, n.aggregate_type LIMIT 5000) n;
    EXIT WHEN e.last IS NULL;
    SELECT * INTO c FROM order_service.upsert_replica(e.users, e.products);
    PERFORM order_service.embed_orders(c.changed_users, c.changed_products);
    COMMIT;
    f := e.last;
  END LOOP;
END \$\$;
S
}
start=$(date +%s.%N)
if [ "$mode" = serial ]; then
  psql -q -d t1 >/dev/null <<S
$set_up
DO \$\$ DECLARE r record; BEGIN LOOP SELECT * INTO r FROM order_service.apply_next_chunk('c', 5000); COMMIT; EXIT WHEN NOT r.more; END LOOP; END \$\$;
S
elif [ "$mode" = serial-slices ]; then
  half $((lo - 1)) $hi
else
  half $((lo - 1)) $mid & half $mid $hi & wait
fi
end=$(date +%s.%N)
behind="select count(*) from order_service.batch_entities b join user_service.events e on e.id = b.event_id
        join order_service.users r on r.id = b.aggregate_id where b.aggregate_type = 'user' and r.version < e.version"
echo "$mode rest of the batch $(echo "$end - $start" | bc) s; replica rows behind the batch $(psql -Atq -d t1 -c "$behind"), stale orders $(psql -Atq -d t1 -c "select count(*) from order_service.stale_orders")"
