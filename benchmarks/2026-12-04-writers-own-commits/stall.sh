#!/usr/bin/env bash
# Where a writer's transaction latency goes, at an offered rate: pgbench's per-transaction log
# joined to what each transaction recorded itself (its statement's start and its id, whose commit
# timestamp PostgreSQL keeps). Needs a durable server with track_commit_timestamp = on, reached by
# the PG* variables, and pgbench and psql on PATH.
#   s1: scheduled start -> statement start; s2: statement start -> commit timestamp;
#   s3: commit timestamp -> pgbench has the reply (the WAL flush is in here).
# Usage: stall.sh SCRIPT.sql   (RATE, SECS: 100 and 20 by default)
set -euo pipefail
script=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 777 "$work"
psql -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO t (id) SELECT generate_series(1, 64) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS lg (c int, n int, x xid8, started timestamptz);
TRUNCATE lg;
SQL
pgbench -n -M prepared -D n=0 -f "$script" -c 16 -j 2 -R "${RATE:-100}" -T "${SECS:-20}" -l --log-prefix="$work/pgl" 2>&1 | grep "tps ="
# client_id transaction_no latency_us script_no epoch us [lag_us]
cat "$work"/pgl.* | awk '{print $1, $2, $3, $5 "." sprintf("%06d", $6)}' > "$work/log.txt"
psql -q -v ON_ERROR_STOP=1 <<SQL
CREATE TEMP TABLE pl (c int, n int, lat_us bigint, ended float8);
\copy pl FROM '$work/log.txt' WITH (DELIMITER ' ')
CREATE TEMP TABLE j AS
SELECT lat_us / 1000.0 AS lat, (extract(epoch FROM started) - (ended - lat_us / 1e6)) * 1000 AS s1,
       extract(epoch FROM pg_xact_commit_timestamp(x::text::xid) - started) * 1000 AS s2,
       (ended - extract(epoch FROM pg_xact_commit_timestamp(x::text::xid))) * 1000 AS s3
FROM pl JOIN lg USING (c, n);
SELECT count(*), round(percentile_disc(0.99) WITHIN GROUP (ORDER BY lat)::numeric, 2) AS latency_p99,
       round(percentile_disc(0.99) WITHIN GROUP (ORDER BY s1)::numeric, 2) AS s1_p99,
       round(percentile_disc(0.99) WITHIN GROUP (ORDER BY s2)::numeric, 2) AS s2_p99,
       round(percentile_disc(0.99) WITHIN GROUP (ORDER BY s3)::numeric, 2) AS s3_p99 FROM j;
SELECT round(lat::numeric, 1) AS latency, round(s1::numeric, 1) AS s1, round(s2::numeric, 1) AS s2, round(s3::numeric, 1) AS s3
FROM j ORDER BY lat DESC LIMIT 6;
SQL
