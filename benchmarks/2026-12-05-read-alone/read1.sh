#!/bin/bash
# The batch's first transaction (the read, applying nothing since a931db2) on a fresh copy of
# s1_<version>: database s1 (../2026-12-04-batch-by-entity/shape.sh s1 1: a million pending events
# of 100,000 users, consumer 'c') with that version's schema.sql applied. PGHOST/PGPORT/PGUSER as
# psql reads them. Usage: read1.sh base|new
v=$1
psql -qc "drop database if exists rt" -c "create database rt template s1_$v" >/dev/null
psql -q -d rt -c "vacuum analyze" -c "checkpoint" >/dev/null
PGOPTIONS="-c synchronous_commit=off -c plan_cache_mode=force_generic_plan -c jit=off -c enable_seqscan=off" psql -d rt -Atq <<S | grep Time
\timing on
SELECT events, more FROM order_service.apply_next_chunk('c', 5000);
S
