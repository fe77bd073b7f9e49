-- The chunk cursor's two formulations, warm, on a database with schema.sql and 10,000 users
-- (psql -f; times per statement from \timing). Nineteenth session: 134.6 / 68.5 / 51.1 ms for
-- 20,000 calls over one row, 447.8 / 258.2 / 48.2 ms for 200 calls over 5,000 rows.
CREATE TYPE public.evpos AS (xid xid8, id bigint);
CREATE TEMP TABLE t5000 AS SELECT xid, id FROM user_service.events ORDER BY xid, id LIMIT 5000;
CREATE TEMP TABLE t1 AS SELECT xid, id FROM user_service.events ORDER BY xid, id LIMIT 1;
ANALYZE t5000; ANALYZE t1;
\timing on
DO $$ DECLARE r bigint; BEGIN FOR i IN 1..20000 LOOP SELECT (array_agg(id ORDER BY xid DESC, id DESC))[1] INTO r FROM t1; END LOOP; END $$;
DO $$ DECLARE r bigint; BEGIN FOR i IN 1..20000 LOOP SELECT ((max(ARRAY[(xid, id)::public.evpos]))[1]).id INTO r FROM t1; END LOOP; END $$;
DO $$ DECLARE r bigint; BEGIN FOR i IN 1..20000 LOOP SELECT max(id) INTO r FROM t1; END LOOP; END $$;
DO $$ DECLARE r bigint; BEGIN FOR i IN 1..200 LOOP SELECT (array_agg(id ORDER BY xid DESC, id DESC))[1] INTO r FROM t5000; END LOOP; END $$;
DO $$ DECLARE r bigint; BEGIN FOR i IN 1..200 LOOP SELECT ((max(ARRAY[(xid, id)::public.evpos]))[1]).id INTO r FROM t5000; END LOOP; END $$;
DO $$ DECLARE r bigint; BEGIN FOR i IN 1..200 LOOP SELECT max(id) INTO r FROM t5000; END LOOP; END $$;
DROP TYPE public.evpos;
