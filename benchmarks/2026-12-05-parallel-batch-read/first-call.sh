#!/bin/bash
# The first transaction of a million-event catch-up (the wake-up that finds the backlog, the batch's
# read into batch_entities, its first chunk) and the second (one chunk), timed in psql on a fresh
# copy of database s1 (benchmarks/2026-12-04-batch-by-entity/shape.sh s1 1: 100,000 users with one
# order each, ten updates of every user pending). With SCHEMA=path/to/schema.sql, that schema is
# applied to the copy first (its functions replaced); without, the copy keeps s1's.
# PGHOST/PGPORT/PGUSER as psql reads them, a superuser. Usage: [SCHEMA=...] first-call.sh
psql -qc "drop database if exists t1" -c "create database t1 template s1" >/dev/null
[ -n "$SCHEMA" ] && psql -q -v ON_ERROR_STOP=1 -d t1 -f "$SCHEMA" >/dev/null
psql -q -d t1 -c "vacuum analyze" -c "checkpoint" >/dev/null
psql -q -d t1 <<'E' | grep Time | tr '\n' ' '
SET synchronous_commit=off; SET plan_cache_mode=force_generic_plan; SET jit=off; SET enable_seqscan=off;
\timing on
SELECT events, more FROM order_service.apply_next_chunk('c', 5000);
SELECT events, more FROM order_service.apply_next_chunk('c', 5000);
E
echo " ${SCHEMA:+new schema}${SCHEMA:-s1's schema}"
