\set id random(1, 64)
BEGIN;
UPDATE public.bench_floor SET n = n + 1 WHERE id = :id;
SELECT pg_notify('bench_floor', pg_current_xact_id()::text);
COMMIT;
