\set id random(1, 64)
\set n :n + 1
BEGIN;
INSERT INTO lg VALUES (:client_id, :n, pg_current_xact_id(), clock_timestamp());
UPDATE t SET n = n + 1 WHERE id = :id;
SELECT pg_notify('bench_floor', pg_current_xact_id()::text);
COMMIT;
