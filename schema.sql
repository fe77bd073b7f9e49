-- ecst: the whole database, applied by a superuser with
--   psql -v ON_ERROR_STOP=1 -f schema.sql "$DATABASE_URL"
-- to whichever database DATABASE_URL names. Applying it again is harmless: every statement is
-- idempotent and the seed rows are inserted only when missing. So is applying it while the
-- services run (an upgrade, `docker compose up`): what they rely on is left alone, without a lock,
-- when unchanged, and replaced in one transaction when not (docs/design.md#applying-the-schema-to-a-database-in-use).
--
-- A database per service (docs/replication.md): the psql variable `part` applies one side only.
--   -v part=users    the users' server: user_service with its outbox, nothing of order_service.
--   -v part=orders   the orders' server: order_service, and user_service.events as a copy fed by
--                    logical replication (no users, no products, no seed events of its own).
--   (unset, or all)  both, in one database: the default deployment.
--
-- Two services share this database and nothing else:
--   user_service   owns users and products; every change is written, by trigger and in the same
--                  transaction, into the append-only outbox user_service.events.
--   order_service  owns purchase orders (JSONB documents) and a replica of the users and products
--                  it needs, fed only by user_service.events.

SET client_min_messages = warning;

\if :{?part}
\else
    \set part all
\endif
SELECT :'part' IN ('all', 'users', 'orders') AS ecst_part_known,
       :'part' IN ('all', 'users') AS ecst_with_users,
       :'part' IN ('all', 'orders') AS ecst_with_orders,
       :'part' = 'orders' AS ecst_events_replicated \gset
\if :ecst_part_known
\else
    DO $$ BEGIN RAISE EXCEPTION 'schema.sql: -v part= must be users, orders or all'; END $$;
\endif

-- One application of this file to a database at a time: its session holds advisory key
-- (1162040152, 0) until the file's last statement (or its own end, if it stops before). Two at
-- once (say two deploys starting together) raced on the IF NOT EXISTS of a new database, and one
-- failed on a unique index every time; now the second waits, then finds everything in place as
-- any second application does. Per database, as advisory locks are: the roles below are the
-- cluster's, and take care of themselves.
DO $$
BEGIN
    IF NOT pg_try_advisory_lock(1162040152, 0) THEN
        RAISE WARNING 'schema.sql: waiting for another application of it to this database to end';
        PERFORM pg_advisory_lock(1162040152, 0);
    END IF;
END
$$;

------------------------------------------------------------------------------------------------
-- Schema user_service, and the roles (cluster-wide)
------------------------------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS user_service;
REVOKE ALL ON SCHEMA user_service FROM PUBLIC;

-- Creates role `name` with `attributes` unless it exists; one that exists is left as it is
-- (passwords, if any, are set by whoever runs the cluster). Two databases of one cluster may be
-- set up at once (each side of a split deployment on one server, the tests' templates): whichever
-- creates a role second waits for the first and then finds it there (unique_violation, or
-- duplicate_object), which is what it wanted. Used here and by publish_events().
CREATE OR REPLACE PROCEDURE user_service.put_role(name text, attributes text)
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = name) THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE ROLE %I %s', name, attributes);
EXCEPTION WHEN unique_violation OR duplicate_object THEN
    NULL;
END
$$;
REVOKE ALL ON PROCEDURE user_service.put_role(text, text) FROM PUBLIC;
CALL user_service.put_role('user_service', 'LOGIN');
CALL user_service.put_role('order_service', 'LOGIN');
GRANT USAGE ON SCHEMA user_service TO user_service, order_service;

-- How this file puts each trigger in place (docs/design.md#applying-the-schema-to-a-database-in-use):
-- `definition` is its CREATE [CONSTRAINT] TRIGGER statement, written as pg_get_triggerdef prints it,
-- and `enabled` how it fires ('O' in ordinary sessions, the default; 'R' for logical replication's
-- apply worker only; 'A' always). A trigger the table already has exactly so is left alone, taking
-- no lock: dropping and creating it would wait for every transaction on the table (a catch-up's
-- read of the events, for seconds) with every write queued behind it. Otherwise it is dropped and
-- created in the caller's transaction, the CALL's own, so that no write runs between the two.
CREATE OR REPLACE PROCEDURE user_service.put_trigger(tbl regclass, name text, definition text, enabled "char" DEFAULT 'O')
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_trigger t
               WHERE t.tgrelid = tbl AND t.tgname = name AND t.tgenabled = enabled AND pg_get_triggerdef(t.oid) = definition) THEN
        RETURN;
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', name, tbl);
    EXECUTE definition;
    IF enabled <> 'O' THEN
        EXECUTE format('ALTER TABLE %s ENABLE %s TRIGGER %I', tbl, CASE enabled WHEN 'R' THEN 'REPLICA' ELSE 'ALWAYS' END, name);
    END IF;
END
$$;
REVOKE ALL ON PROCEDURE user_service.put_trigger(regclass, text, text, "char") FROM PUBLIC;

\if :ecst_with_users
-- users: owned by user_service, which may read and write it. No other role may read it.
CREATE TABLE IF NOT EXISTS user_service.users (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    firstname   varchar(45)  NOT NULL CHECK (btrim(firstname) <> ''),
    lastname    varchar(45)  NOT NULL CHECK (btrim(lastname) <> ''),
    email       varchar(254) NOT NULL CHECK (email LIKE '_%@_%'),
    -- Grows by one with every change that changes something; set by trigger, never by callers.
    version     integer      NOT NULL DEFAULT 1,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now()
);

-- products: the catalogue, owned by user_service as in the original system's database.
CREATE TABLE IF NOT EXISTS user_service.products (
    id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    description    varchar(500) NOT NULL CHECK (btrim(description) <> ''),
    price          integer      NOT NULL CHECK (price >= 0),
    qty_available  integer      NOT NULL CHECK (qty_available >= 0),
    version        integer      NOT NULL DEFAULT 1,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now()
);
\endif

-- events: the outbox. One row per committed change of a user or product, written by the triggers
-- below in the changing transaction. Readable by user_service and order_service; append-only for
-- every role but the superuser (nobody is granted INSERT: only the SECURITY DEFINER trigger writes).
--
-- Reading it in commit order: ids are taken at insert, but transactions commit in another order,
-- so a reader must not simply remember the last id. Each row records its writing transaction's id
-- (xid) and readers consume "the events of transactions visible in this snapshot and not in the
-- previous one", as PgQ does; see order_service.consumer_positions.
CREATE TABLE IF NOT EXISTS user_service.events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid             xid8        NOT NULL DEFAULT pg_current_xact_id(),
    aggregate_type  text        NOT NULL CHECK (aggregate_type IN ('user', 'product')),
    aggregate_id    bigint      NOT NULL,
    version         integer     NOT NULL,
    type            text        NOT NULL,
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (aggregate_type, aggregate_id, version)
);
CREATE INDEX IF NOT EXISTS events_xid_id ON user_service.events (xid, id);
-- Most transactions write one or a few events. Without saying so, an ANALYZE that samples a bulk
-- load (thousands of events under one xid) leaves the planner expecting a huge share of the table
-- per xid, and the consumer's probe of an in-progress transaction's events becomes a sequential
-- scan: 50 ms per read at a million events, seen in the benchmark.
ALTER TABLE user_service.events ALTER COLUMN xid SET (n_distinct = -0.5);
ANALYZE user_service.events;

-- The consistency token of the calling transaction: an opaque string naming it (today its xid8,
-- the same id its events carry), which order-service's ECST-After waits for (docs/design.md#read-your-writes).
-- user-service returns it as ECST-Token from every write; in psql, call it inside the writing
-- transaction: BEGIN; UPDATE ...; SELECT user_service.transaction_token(); COMMIT;
-- (It gives the transaction an id if it has none yet, as any write does.)
CREATE OR REPLACE FUNCTION user_service.transaction_token() RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT pg_current_xact_id()::text
$$;

\if :ecst_with_users
-- Versions: a change that changes nothing keeps its version (and so writes no event); a real change
-- bumps it by one. Ids are immutable: the replica and the purchase orders refer to them.
CREATE OR REPLACE FUNCTION user_service.bump_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'the id of a % cannot change', TG_ARGV[0] USING ERRCODE = 'check_violation';
    END IF;
    NEW.version := OLD.version;
    NEW.created_at := OLD.created_at;
    NEW.updated_at := OLD.updated_at;
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

-- A new row continues the versions of an earlier row with the same id (deleted and re-created), so
-- versions per entity only ever grow and readers can order changes by them.
CREATE OR REPLACE FUNCTION user_service.first_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    NEW.version := 1 + coalesce(
        (SELECT max(e.version) FROM user_service.events e
          WHERE e.aggregate_type = TG_ARGV[0] AND e.aggregate_id = NEW.id), 0);
    NEW.created_at := now();
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- The outbox writer: the entity's whole new state as payload (its last state, marked deleted, for
-- a delete). TG_ARGV: aggregate type ('user'), event type prefix ('User').
CREATE OR REPLACE FUNCTION user_service.record_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_service.events (aggregate_type, aggregate_id, version, type, payload)
        VALUES (TG_ARGV[0], NEW.id, NEW.version, TG_ARGV[1] || 'Created', to_jsonb(NEW));
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO user_service.events (aggregate_type, aggregate_id, version, type, payload)
        VALUES (TG_ARGV[0], NEW.id, NEW.version, TG_ARGV[1] || 'Updated', to_jsonb(NEW));
    ELSE
        INSERT INTO user_service.events (aggregate_type, aggregate_id, version, type, payload)
        VALUES (TG_ARGV[0], OLD.id, OLD.version + 1, TG_ARGV[1] || 'Deleted',
                to_jsonb(OLD) || jsonb_build_object('version', OLD.version + 1, 'deleted', true));
    END IF;
    RETURN NULL;
END
$$;

-- TRUNCATE would bypass the row triggers and lose events: refuse it (a superuser may drop the
-- trigger first if they really mean it).
CREATE OR REPLACE FUNCTION user_service.refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE of user_service.% would bypass the outbox', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- An entity table's triggers (users: kind 'user', events 'User...'; products: 'product',
-- 'Product...'), each put in place by put_trigger (above): left alone when unchanged, replaced in
-- one transaction when not. One definition for both tables, so that they cannot drift apart; the
-- definitions are written as pg_get_triggerdef prints them, which put_trigger compares.
CREATE OR REPLACE PROCEDURE user_service.put_entity_triggers(tbl text, kind text, event_prefix text)
LANGUAGE plpgsql AS $$
DECLARE
    target text := format('user_service.%I', tbl);
BEGIN
    CALL user_service.put_trigger(target::regclass, tbl || '_first_version', format(
        'CREATE TRIGGER %I BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION user_service.first_version(%L)',
        tbl || '_first_version', target, kind));
    CALL user_service.put_trigger(target::regclass, tbl || '_bump_version', format(
        'CREATE TRIGGER %I BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION user_service.bump_version(%L)',
        tbl || '_bump_version', target, kind));
    CALL user_service.put_trigger(target::regclass, tbl || '_record_insert_delete', format(
        'CREATE TRIGGER %I AFTER INSERT OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION user_service.record_event(%L, %L)',
        tbl || '_record_insert_delete', target, kind, event_prefix));
    CALL user_service.put_trigger(target::regclass, tbl || '_record_update', format(
        'CREATE TRIGGER %I AFTER UPDATE ON %s FOR EACH ROW WHEN ((old.version IS DISTINCT FROM new.version)) EXECUTE FUNCTION user_service.record_event(%L, %L)',
        tbl || '_record_update', target, kind, event_prefix));
    CALL user_service.put_trigger(target::regclass, tbl || '_no_truncate', format(
        'CREATE TRIGGER %I BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION user_service.refuse_truncate()',
        tbl || '_no_truncate', target));
END
$$;
REVOKE ALL ON PROCEDURE user_service.put_entity_triggers(text, text, text) FROM PUBLIC;
CALL user_service.put_entity_triggers('users', 'user', 'User');
CALL user_service.put_entity_triggers('products', 'product', 'Product');
\endif

-- Append-only: UPDATE, DELETE and TRUNCATE of events fail for every role but a superuser (who
-- prunes old events; see the README).
CREATE OR REPLACE FUNCTION user_service.events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'user_service.events is append-only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CALL user_service.put_trigger('user_service.events', 'events_append_only',
    'CREATE TRIGGER events_append_only BEFORE DELETE OR UPDATE ON user_service.events FOR EACH ROW EXECUTE FUNCTION user_service.events_append_only()');
CALL user_service.put_trigger('user_service.events', 'events_append_only_truncate',
    'CREATE TRIGGER events_append_only_truncate BEFORE TRUNCATE ON user_service.events FOR EACH STATEMENT EXECUTE FUNCTION user_service.events_append_only()');

-- The wake-up call: NOTIFY on channel 'ecst_events' with an empty payload; readers read the table,
-- never the payload. At most one committing writer notifies at a time (the holder of the notifier
-- token), so writers never queue on NOTIFY's commit lock; the others rely on the holder's NOTIFY
-- and mark themselves in a pending slot the consumer checks. Why this loses no wake-up:
-- docs/design.md#wake-ups.
-- Advisory lock keys of the protocol: the token is (1162040148, 0); pending slots (1162040149, 0..1023).
-- A slot per transaction rather than per session: a consumer waiting for a slot blocks the next
-- writer that tries it, which is then seldom the same session's next transaction.
CREATE OR REPLACE FUNCTION user_service.notify_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_try_advisory_xact_lock(1162040148, 0) THEN
        PERFORM pg_notify('ecst_events', '');                   -- the one notifier right now
    ELSIF NOT pg_try_advisory_xact_lock_shared(1162040149, (pg_current_xact_id()::text::bigint % 1024)::integer) THEN
        PERFORM pg_notify('ecst_events', '');                   -- a consumer is checking this slot
    ELSIF pg_try_advisory_xact_lock(1162040148, 0) THEN
        PERFORM pg_notify('ecst_events', '');                   -- the holder finished meanwhile
    END IF;                                                     -- else: rely on the holder's NOTIFY
    RETURN NULL;
END
$$;

-- The wake-up trigger's guard: true for a transaction's first event (or the first after a
-- rolled-back subtransaction, which also rolls back the transaction-local setting), false for the
-- others, so that the trigger is queued once per transaction however many events it writes.
-- A trigger's WHEN is read back from its stored text and prepared by every statement that inserts
-- events, so once per writing transaction: the guard written out there made the whole trigger cost
-- a writer about 17,900 instructions, with this call about 11,200 (docs/design.md#the-cost-of-notify).
-- PL/pgSQL, so that it is neither inlined nor planned: as a SQL function it was, by every such
-- statement, which cost writers a quarter of their throughput.
CREATE OR REPLACE FUNCTION user_service.first_event_of_transaction() RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF current_setting('ecst.wake_queued', true) = 'on' THEN
        RETURN false;
    END IF;
    PERFORM set_config('ecst.wake_queued', 'on', true);
    RETURN true;
END
$$;

-- On the orders' copy of the log, fired under the subscription's apply worker too (see there).
CALL user_service.put_trigger('user_service.events', 'events_notify',
    'CREATE CONSTRAINT TRIGGER events_notify AFTER INSERT ON user_service.events DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (user_service.first_event_of_transaction()) EXECUTE FUNCTION user_service.notify_events()', (CASE WHEN :'ecst_events_replicated' THEN 'A' ELSE 'O' END)::"char");

-- For consumers: the pending slots held right now by writers that rely on another's NOTIFY and
-- have not finished committing (a slot found free means its writer has released it, after its
-- commit became visible). Such a writer is a running transaction with an id: in the snapshot
-- taken here, or it took its id after it and below the id this call takes. Only those
-- transactions' slots are tried, each for an instant (held: a relying writer is committing); a
-- writer that tries its slot in that instant notifies itself, which is correct. This replaced a
-- read of pg_locks, which copies every lock of the server under all its lock-partition locks:
-- 0.3-0.6 ms a call, the costliest step of a small read. Giving the caller's transaction an id is
-- harmless to a consumer, which writes in the same transaction anyway.
-- (PL/pgSQL rather than SQL so that its plan is cached: the consumer calls it for every chunk.)
CREATE OR REPLACE FUNCTION user_service.relying_writer_slots() RETURNS int[]
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    now pg_snapshot := pg_current_snapshot();
    me bigint := pg_current_xact_id()::text::bigint;
    held int[] := '{}';
    slot int;
BEGIN
    FOR slot IN
        SELECT DISTINCT (running % 1024)::integer
        FROM (SELECT x::text::bigint AS running FROM pg_snapshot_xip(now) AS x
              UNION ALL
              SELECT generate_series(pg_snapshot_xmax(now)::text::bigint, me - 1)) AS candidates
    LOOP
        IF pg_try_advisory_lock(1162040149, slot) THEN
            PERFORM pg_advisory_unlock(1162040149, slot);
        ELSE
            held := held || slot;
        END IF;
    END LOOP;
    RETURN held;
END
$$;

-- For consumers, before relying_writer_slots(): false when, as snapshot `snapshot` (taken by a
-- transaction with an id) shows, no transaction besides the caller's own runs with an id, so that
-- call can find no candidate and is skipped; the snapshot then serves the read. A superset of the
-- candidates' test (nothing in progress: xmin = xmax; no id taken between xmax and the caller's),
-- written with scalar functions only, so that the planner inlines it into the caller's expression:
-- a call of its own would cost what skipping the check saves.
CREATE OR REPLACE FUNCTION user_service.writers_may_rely(snapshot pg_snapshot) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    SELECT pg_snapshot_xmin(snapshot) < pg_snapshot_xmax(snapshot) OR pg_snapshot_xmax(snapshot) < pg_current_xact_id()
$$;

-- For consumers: returns once the writers holding these pending slots have committed (or rolled
-- back); read the table again afterwards. A writer that keeps its slot longer than lock_timeout
-- (only one that ran SET CONSTRAINTS ALL IMMEDIATE and stays open) is left to the safety poll.
CREATE OR REPLACE FUNCTION user_service.wait_for_relying_writers(slots int[]) RETURNS void
LANGUAGE plpgsql SET lock_timeout = '10s' AS $$
DECLARE
    s int;
BEGIN
    FOREACH s IN ARRAY slots LOOP
        PERFORM pg_advisory_lock(1162040149, s);
        PERFORM pg_advisory_unlock(1162040149, s);
    END LOOP;
END
$$;

\if :ecst_events_replicated
-- A database per service, the orders' side (docs/replication.md): user_service.events here is a
-- copy, written only by the subscription's apply worker, which applies the users' server's
-- transactions one at a time in their commit order, each in a local transaction. The consumer's
-- snapshots (pending_events) are of this server, so each copied row takes the id of the local
-- transaction that wrote it; the users' server's id stays beside it as origin_xid. Triggers do not
-- fire under the apply worker unless enabled for replica sessions: the local id's (REPLICA) and the
-- wake-up call's (ALWAYS). The apply worker is the copy's only writer, so it always holds the
-- notifier token and notifies once per transaction.
-- Added only when missing: ADD COLUMN IF NOT EXISTS takes the table's strongest lock even when the
-- column is there (docs/design.md#applying-the-schema-to-a-database-in-use).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'user_service.events'::regclass AND attname = 'origin_xid' AND NOT attisdropped) THEN
        ALTER TABLE user_service.events ADD COLUMN origin_xid xid8;
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION user_service.take_local_xid() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.origin_xid := NEW.xid;
    NEW.xid := pg_current_xact_id();
    RETURN NEW;
END
$$;
CALL user_service.put_trigger('user_service.events', 'events_local_xid',
    'CREATE TRIGGER events_local_xid BEFORE INSERT ON user_service.events FOR EACH ROW EXECUTE FUNCTION user_service.take_local_xid()', 'R');

-- Subscribes this database's copy to the users' server's publication, through the slot
-- create_events_slot() made there (`publisher`: a libpq connection string as ecst_replication).
-- Created without connecting (a subscription that connects cannot be created inside a function);
-- the caller then runs ALTER SUBSCRIPTION ecst_events ENABLE and ... REFRESH PUBLICATION, which
-- copies the events already there. Again with a new connection string: changes it only.
-- Superuser only; `ecst replication subscribe` does all of it.
CREATE OR REPLACE FUNCTION user_service.subscribe_to_events(publisher text, slot text DEFAULT 'ecst_events') RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid
               WHERE s.subname = 'ecst_events' AND d.datname = current_database()) THEN
        EXECUTE format('ALTER SUBSCRIPTION ecst_events CONNECTION %L', publisher);
        RETURN false;
    END IF;
    IF EXISTS (SELECT FROM user_service.events) THEN
        RAISE EXCEPTION 'user_service.events already holds events: subscribe an empty copy (a new database with schema.sql -v part=orders)'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    EXECUTE format('CREATE SUBSCRIPTION ecst_events CONNECTION %L PUBLICATION ecst_events WITH (connect = false, slot_name = %L)',
                   publisher, slot);
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION user_service.subscribe_to_events(text, text) FROM PUBLIC;
\endif

-- Privileges: user_service reads and writes its tables (and reads its outbox); order_service reads
-- the outbox and nothing else here.
-- In one transaction, as a changed trigger is replaced (put_trigger): revoked and granted again
-- alone, the services' own privileges would lapse in between for whatever runs then.
BEGIN;
REVOKE ALL ON ALL TABLES IN SCHEMA user_service FROM PUBLIC, user_service, order_service;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA user_service FROM PUBLIC, user_service, order_service;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA user_service FROM PUBLIC;
\if :ecst_with_users
GRANT SELECT, INSERT, UPDATE, DELETE ON user_service.users, user_service.products TO user_service;
\endif
GRANT USAGE ON ALL SEQUENCES IN SCHEMA user_service TO user_service;
GRANT SELECT ON user_service.events TO user_service, order_service;
GRANT EXECUTE ON FUNCTION user_service.relying_writer_slots(), user_service.writers_may_rely(pg_snapshot),
    user_service.wait_for_relying_writers(int[]) TO order_service;
GRANT EXECUTE ON FUNCTION user_service.transaction_token() TO user_service;
COMMIT;

\if :ecst_with_users
-- A database per service, the users' side (docs/replication.md): the events leave this server by
-- PostgreSQL's logical replication. publish_events() sets up the publication, inserts only (so
-- `ecst prune` here deletes nothing on the orders' server), and the role the orders' server
-- connects as: it may log in, stream changes and read the events, and no other table.
-- create_events_slot() then creates the subscriber's slot, in a transaction of its own (a slot
-- cannot be created in one that has written). The orders' server's subscribe_to_events() uses it.
-- Superuser only; `ecst replication publish` calls both.
CREATE OR REPLACE FUNCTION user_service.publish_events(replication_password text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CALL user_service.put_role('ecst_replication', 'LOGIN REPLICATION');
    EXECUTE format('ALTER ROLE ecst_replication LOGIN REPLICATION PASSWORD %L', replication_password);
    GRANT USAGE ON SCHEMA user_service TO ecst_replication;
    GRANT SELECT ON user_service.events TO ecst_replication;
    IF NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'ecst_events') THEN
        CREATE PUBLICATION ecst_events FOR TABLE user_service.events WITH (publish = 'insert');
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION user_service.create_events_slot(slot text DEFAULT 'ecst_events') RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = slot) THEN
        RETURN false;
    END IF;
    PERFORM pg_create_logical_replication_slot(slot, 'pgoutput');
    RETURN true;
END
$$;

-- The users' side of the replication, for `ecst status` and the user-service's /metrics: per slot
-- of the events' subscribers, whether one is connected, the WAL it has yet to confirm (lag_bytes),
-- the WAL the server keeps for it (retained_bytes: disk it holds, growing while the subscriber is
-- away), wal_status and safe_wal_bytes as pg_replication_slots says (max_slot_wal_keep_size), and
-- replay_lag_seconds while connected (NULL when it is idle or away). No rows without a
-- publication. SECURITY DEFINER: the lag is shown only to the statistics roles otherwise.
CREATE OR REPLACE FUNCTION user_service.events_publication_status()
RETURNS TABLE (slot text, connected boolean, lag_bytes bigint, retained_bytes bigint, wal_status text,
               safe_wal_bytes bigint, replay_lag_seconds double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT s.slot_name::text, s.active,
           pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint,
           pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint,
           s.wal_status, s.safe_wal_size,
           extract(epoch FROM r.replay_lag)::double precision
    FROM pg_replication_slots s
    LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
    WHERE s.plugin = 'pgoutput' AND s.database = current_database()
      AND EXISTS (SELECT FROM pg_publication WHERE pubname = 'ecst_events')
    ORDER BY s.slot_name
$$;
REVOKE ALL ON FUNCTION user_service.publish_events(text), user_service.create_events_slot(text),
    user_service.events_publication_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION user_service.events_publication_status() TO user_service;

-- The seed (see shared/reference/seed.md), inserted through the triggers so each has its event.
INSERT INTO user_service.users (id, firstname, lastname, email) VALUES
    (1, 'Neha', 'Parate', 'neha.parate@gmail.com'),
    (2, 'Aravind', 'Dekate', 'aravind.dekate@gmail.com'),
    (3, 'Mayur', 'Devghare', 'mayur.devghare@gmail.com'),
    (4, 'Suchita', 'Vinchurkar', 'suchita.vinchurkar@gmail.com')
ON CONFLICT (id) DO NOTHING;
INSERT INTO user_service.products (id, description, price, qty_available) VALUES
    (1, 'IPad', 300, 10),
    (2, 'IPhone', 650, 50),
    (3, 'Sony TV', 320, 100)
ON CONFLICT (id) DO NOTHING;
-- New rows get ids after the seeded (and any other explicitly numbered) ones.
DO $$
BEGIN
    PERFORM setval(pg_get_serial_sequence('user_service.users', 'id'),
                   greatest((SELECT max(id) FROM user_service.users), 1));
    PERFORM setval(pg_get_serial_sequence('user_service.products', 'id'),
                   greatest((SELECT max(id) FROM user_service.products), 1));
END
$$;

\endif

------------------------------------------------------------------------------------------------
-- Schema order_service
------------------------------------------------------------------------------------------------
\if :ecst_with_orders
CREATE SCHEMA IF NOT EXISTS order_service;
REVOKE ALL ON SCHEMA order_service FROM PUBLIC;
GRANT USAGE ON SCHEMA order_service TO order_service;

-- users / products: order_service's own replica, fed only by user_service.events. `version` is the
-- entity's version last applied: an event not newer than it changes nothing, so replays are
-- harmless. A deleted entity stays, marked deleted, so new orders for it can be refused.
CREATE TABLE IF NOT EXISTS order_service.users (
    id          bigint PRIMARY KEY,
    firstname   text        NOT NULL,
    lastname    text        NOT NULL,
    email       text        NOT NULL,
    version     integer     NOT NULL,
    deleted     boolean     NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS order_service.products (
    id           bigint PRIMARY KEY,
    description  text        NOT NULL,
    price        integer     NOT NULL,
    version      integer     NOT NULL,
    deleted      boolean     NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- purchase_orders: owned by order_service. `doc` is the order exactly as the API shows it, without
-- its id: {"user": {...}, "product": {"productId", "description"}, "price": ...}. The embedded
-- user and product are kept current by the event consumer.
CREATE TABLE IF NOT EXISTS order_service.purchase_orders (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id     bigint      NOT NULL,
    product_id  bigint      NOT NULL,
    doc         jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS purchase_orders_user_id ON order_service.purchase_orders (user_id);
CREATE INDEX IF NOT EXISTS purchase_orders_product_id ON order_service.purchase_orders (product_id);
-- The consumer rewrites a replica row and every order of a user at each of the user's changes.
-- With pages left a quarter empty those rewrites stay on their page and touch no index (HOT
-- updates): measured at 1,000 updates/s with 10 orders per user, 99.8 % HOT and the orders' update
-- about a quarter cheaper than with full pages, where 37 % were not HOT and every such rewrite
-- added an entry to each of the three indexes. (Existing pages keep their layout until rewritten.)
ALTER TABLE order_service.purchase_orders SET (fillfactor = 75);
ALTER TABLE order_service.users SET (fillfactor = 75);
ALTER TABLE order_service.products SET (fillfactor = 75);

-- consumer_positions: where each consumer of user_service.events stands, as PgQ stores a batch.
-- Everything visible in `snapshot` has been applied. While a batch is being applied in chunks,
-- `batch_snapshot` is the snapshot the batch runs up to, its work is in batch_entities, and
-- (entity_cursor_type, entity_cursor_id) is the last entity of it applied; all NULL between
-- batches. (cursor_xid, cursor_id) is only ever set by versions before batch_entities, which
-- walked a batch event by event: the last event of it applied, from which the consumer reads the
-- rest of that batch. Updated in the same transaction as the effects.
CREATE TABLE IF NOT EXISTS order_service.consumer_positions (
    consumer         text PRIMARY KEY,
    snapshot         pg_snapshot NOT NULL DEFAULT '1:1:',
    batch_snapshot   pg_snapshot,
    cursor_xid       xid8,
    cursor_id        bigint,
    entity_cursor_type text,
    entity_cursor_id bigint,
    last_event_id    bigint      NOT NULL DEFAULT 0,
    applied_events   bigint      NOT NULL DEFAULT 0,
    applied_batches  bigint      NOT NULL DEFAULT 0,
    last_applied_at  timestamptz,
    applied_by       text
);

-- batch_entities: the work of a consumer's batch in progress, one row per entity its events name,
-- written at the batch's start from all of its events at once (start_batch), applied in key order
-- (the position's entity cursor says how far) and deleted when the batch ends: the entity's latest
-- usable event in the batch (NULL when none is), how many of the batch's events it stands for, how
-- many of those were dead-lettered, and the highest id among them. Rows remain only while the
-- consumer's batch_snapshot is set; they commit with the position, as the effects do. (Deleting
-- each chunk's rows instead left the next chunks' scans stepping over every row deleted before,
-- from the start of the consumer's range.)
--
-- Unlogged: its rows are the batch's read, which the position's snapshots can always give again,
-- and they were a fifth of the WAL a catch-up wrote (BENCHMARKS.md, thirtieth session). A crash
-- (or a standby's promotion) empties it; apply_next_chunk then reads the same batch again and goes
-- on after its entity cursor (docs/design.md#reading-the-log-in-commit-order).
CREATE UNLOGGED TABLE IF NOT EXISTS order_service.batch_entities (
    consumer          text   NOT NULL,
    aggregate_type    text   NOT NULL,
    aggregate_id      bigint NOT NULL,
    event_id          bigint,
    events            integer NOT NULL,
    unusable_events   integer NOT NULL,
    highest_event_id  bigint NOT NULL,
    PRIMARY KEY (consumer, aggregate_id, aggregate_type)
);

-- Added only when missing, as origin_xid is.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'order_service.consumer_positions'::regclass AND attname = 'entity_cursor_id' AND NOT attisdropped) THEN
        ALTER TABLE order_service.consumer_positions
            ADD COLUMN IF NOT EXISTS entity_cursor_type text, ADD COLUMN IF NOT EXISTS entity_cursor_id bigint;
    END IF;
END
$$;
-- A database from before the thirtieth session has it logged (the rewrite takes a moment's lock).
DO $$
BEGIN
    IF (SELECT relpersistence FROM pg_class WHERE oid = 'order_service.batch_entities'::regclass) = 'p' THEN
        ALTER TABLE order_service.batch_entities SET UNLOGGED;
    END IF;
END
$$;

-- batch_help: how far a second session has helped with a consumer's batch (help_batch): every
-- user of the batch's rows from `helped_from` up is applied, committed with this row. Unlogged, as
-- batch_entities is (a crash empties both, and the applier then does the whole batch again); tied to
-- the batch by its snapshot, so that a row left from another batch says nothing.
CREATE UNLOGGED TABLE IF NOT EXISTS order_service.batch_help (
    consumer        text   PRIMARY KEY,
    batch_snapshot  text   NOT NULL,
    helped_from     bigint NOT NULL
);

-- dead_letters: events the consumer could not apply (unknown type, malformed payload), with why.
CREATE TABLE IF NOT EXISTS order_service.dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer    text        NOT NULL,
    event_id    bigint      NOT NULL,
    event_type  text        NOT NULL,
    payload     jsonb       NOT NULL,
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer, event_id)
);

-- Why the order-service cannot apply an event, or NULL when it can: the one definition the consumer,
-- `ecst dead-letters retry` and `ecst rebuild` share. Plain SQL, so the planner inlines it.
CREATE OR REPLACE FUNCTION order_service.event_problem(type text, aggregate_type text, payload jsonb)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN type NOT IN ('UserCreated', 'UserUpdated', 'UserDeleted', 'ProductCreated', 'ProductUpdated', 'ProductDeleted')
            THEN 'unknown event type ' || type
        WHEN (aggregate_type = 'user') <> (type LIKE 'User%')
            THEN 'event type ' || type || ' does not match aggregate type ' || aggregate_type
        WHEN jsonb_typeof(payload) IS DISTINCT FROM 'object'
            THEN 'payload is not a JSON object'
        WHEN aggregate_type = 'user' AND NOT (
                jsonb_typeof(payload -> 'firstname') IS NOT DISTINCT FROM 'string'
            AND jsonb_typeof(payload -> 'lastname') IS NOT DISTINCT FROM 'string'
            AND jsonb_typeof(payload -> 'email') IS NOT DISTINCT FROM 'string')
            THEN 'user payload needs string firstname, lastname and email'
        WHEN aggregate_type = 'product' AND NOT (
                jsonb_typeof(payload -> 'description') IS NOT DISTINCT FROM 'string'
            AND CASE WHEN coalesce(payload ->> 'price', '') ~ '^[0-9]{1,10}$'
                     THEN (payload ->> 'price')::bigint <= 2147483647 ELSE false END)
            THEN 'product payload needs a string description and an integer price from 0 to 2147483647'
    END
$$;
-- The same, declared VOLATILE for one reason: a subquery whose column calls a volatile function is
-- not merged into its caller, so the column is computed once per row even where the caller names
-- it twice (batch_work's two aggregates). Unlike OFFSET 0, the usual way to keep a subquery whole,
-- it leaves the subquery free to run in parallel workers. The body is still inlined.
CREATE OR REPLACE FUNCTION order_service.event_problem_once(type text, aggregate_type text, payload jsonb)
RETURNS text LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT order_service.event_problem(type, aggregate_type, payload)
$$;

-- The user and the product as a purchase order embeds them (and as the API shows them there): the
-- one definition of those documents, used by order creation, the consumer, `ecst rebuild`, the
-- stale_orders view, the benchmark and the tests. Plain SQL on plain values, so the planner inlines
-- them and any caller (a test comparing with user_service's tables too) can build the same shape.
-- STABLE, as jsonb_build_object is: a function declared IMMUTABLE over a STABLE body is not
-- inlined, and was called once per order written.
CREATE OR REPLACE FUNCTION order_service.user_document(id bigint, firstname text, lastname text, email text)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object('id', id, 'firstname', firstname, 'lastname', lastname, 'email', email)
$$;
CREATE OR REPLACE FUNCTION order_service.product_document(id bigint, description text)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object('productId', id, 'description', description)
$$;
-- A purchase order as the API shows it: its document plus its id, as a string (the contract's).
CREATE OR REPLACE FUNCTION order_service.order_document(id bigint, doc jsonb)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT doc || jsonb_build_object('id', id::text)
$$;

-- Orders whose embedded user or product differs from the order-service's replica: none once the
-- consumer has applied what it read (an order of an entity the replica does not know is not
-- counted; `ecst rebuild` reports those).
CREATE OR REPLACE VIEW order_service.stale_orders AS
SELECT po.id, po.user_id, po.product_id,
       po.doc -> 'user' IS DISTINCT FROM order_service.user_document(u.id, u.firstname, u.lastname, u.email) AS user_stale,
       po.doc -> 'product' IS DISTINCT FROM order_service.product_document(p.id, p.description) AS product_stale
FROM order_service.purchase_orders po
JOIN order_service.users u ON u.id = po.user_id
JOIN order_service.products p ON p.id = po.product_id
WHERE po.doc -> 'user' IS DISTINCT FROM order_service.user_document(u.id, u.firstname, u.lastname, u.email)
   OR po.doc -> 'product' IS DISTINCT FROM order_service.product_document(p.id, p.description);

-- Re-embeds the replica's current data of the given users and products in their purchase orders;
-- returns the orders written. A deleted entity's replica row holds its last state, so its orders
-- keep the last data it had. Two statements, so that the common case (users only) gets a plan that
-- reaches a user's orders through their index, even as a generic plan: the general one must expect
-- a product change to touch a third of all orders.
CREATE OR REPLACE FUNCTION order_service.embed_orders(user_ids bigint[], product_ids bigint[] DEFAULT '{}')
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    written integer := 0;
BEGIN
    IF cardinality(product_ids) = 0 THEN
        UPDATE order_service.purchase_orders po
        SET doc = po.doc || jsonb_build_object('user', order_service.user_document(u.id, u.firstname, u.lastname, u.email))
        FROM order_service.users u
        WHERE u.id = ANY (user_ids) AND po.user_id = u.id;
        GET DIAGNOSTICS written = ROW_COUNT;
        RETURN written;
    END IF;
    WITH changed_users AS (
        SELECT u.id, order_service.user_document(u.id, u.firstname, u.lastname, u.email) AS doc
        FROM order_service.users u WHERE u.id = ANY (user_ids)
    ),
    changed_products AS (
        SELECT p.id, order_service.product_document(p.id, p.description) AS doc
        FROM order_service.products p WHERE p.id = ANY (product_ids)
    ),
    -- The cardinality tests gate each branch in a generic plan, which cannot know that an array
    -- is empty.
    touched AS (
        SELECT po.id, po.user_id, po.product_id FROM order_service.purchase_orders po
        WHERE cardinality(user_ids) > 0 AND po.user_id = ANY (user_ids)
        UNION
        SELECT po.id, po.user_id, po.product_id FROM order_service.purchase_orders po
        WHERE cardinality(product_ids) > 0 AND po.product_id = ANY (product_ids)
    )
    UPDATE order_service.purchase_orders po
    SET doc = po.doc
        || CASE WHEN cu.doc IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('user', cu.doc) END
        || CASE WHEN cp.doc IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('product', cp.doc) END
    FROM touched t
    LEFT JOIN changed_users cu ON cu.id = t.user_id
    LEFT JOIN changed_products cp ON cp.id = t.product_id
    WHERE po.id = t.id;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

-- The events a consumer standing at snapshot `since` has yet to apply, as far as snapshot `upto`
-- sees: those of transactions visible in `upto` and not in `since`, after the cursor
-- (after_xid, after_id) when one is given. Four functions give them: pending_events, in
-- (xid, id) order, at most max_events of them (NULL: all), for whatever needs the order;
-- pending_event_set, in no order, for what reads them all at once (a batch's start, counting
-- them), which then needs no merge of the two halves in order (a tenth of a batch's read) and may
-- read them by a sequential scan; pending_event_sample, in no order and at most max_events of
-- them, for a wake-up; and the two halves they are all made of.
--
-- The index ranges are PgQ's: xmax(since)..xmax(upto) plus since's in-progress xids, written as a
-- UNION ALL of plain index conditions (an OR, or a row comparison against a possibly-NULL cursor,
-- turns them into a scan of the whole index). Plain SQL, so it is inlined into its caller's plan;
-- PARALLEL SAFE, so that a batch's read may share its work among parallel workers (the planner
-- decides whether a query may run in parallel before it inlines, from the functions named).
--
-- The first half: transactions from xmax(since) on (none visible in it, whether or not already
-- running then): one index range from xmax(since), or from the cursor once it has passed it.
CREATE OR REPLACE FUNCTION order_service.pending_events_after_xmax(
    since pg_snapshot, upto pg_snapshot, after_xid xid8, after_id bigint)
RETURNS SETOF user_service.events LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT * FROM user_service.events
    WHERE (xid, id) > (CASE WHEN after_xid >= pg_snapshot_xmax(since) THEN after_xid ELSE pg_snapshot_xmax(since) END,
                       CASE WHEN after_xid >= pg_snapshot_xmax(since) THEN after_id ELSE 0 END)
      AND xid < pg_snapshot_xmax(upto)
      AND pg_visible_in_snapshot(xid, upto)
$$;
-- The transactions a snapshot lists as in progress, as an array: pg_snapshot_xip() returns a set,
-- which a query can only turn into an array through a sub-plan, and a sub-plan keeps a query
-- from running in parallel. From the snapshot's text form ('xmin:xmax:xip,...'), with scalar
-- functions only, so that it is inlined and folded into a constant where the snapshot is one.
CREATE OR REPLACE FUNCTION order_service.snapshot_in_progress(snapshot pg_snapshot) RETURNS xid8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_to_array(split_part(snapshot::text, ':', 3), ',')::xid8[]
$$;
-- The second half: transactions in progress at `since` (all below its xmax, none visible in it)
-- that `upto` sees: one probe of the (xid, id) index each (xid = ANY (array) is one index scan
-- that descends once per element), and none for those still running, whose events upto's
-- visibility test drops. The cursor applies afterwards (as an id bound it invites a walk of the
-- primary key).
CREATE OR REPLACE FUNCTION order_service.pending_events_in_progress(
    since pg_snapshot, upto pg_snapshot, after_xid xid8, after_id bigint)
RETURNS SETOF user_service.events LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT * FROM user_service.events ev
    WHERE ev.xid = ANY (order_service.snapshot_in_progress(since))
      AND ev.xid >= coalesce(after_xid, '0'::xid8)
      AND pg_visible_in_snapshot(ev.xid, upto)
      AND (ev.xid, ev.id) > (coalesce(after_xid, '0'::xid8), coalesce(after_id, 0))
$$;
CREATE OR REPLACE FUNCTION order_service.pending_events(
    since pg_snapshot, upto pg_snapshot, after_xid xid8 DEFAULT NULL, after_id bigint DEFAULT NULL, max_events integer DEFAULT NULL)
RETURNS SETOF user_service.events LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT e.* FROM (
        -- The first half read in index order and only as far as needed (the visibility test must
        -- come before the limit), so a long backlog costs each chunk its own rows only.
        (SELECT * FROM order_service.pending_events_after_xmax(since, upto, after_xid, after_id)
         ORDER BY xid, id
         LIMIT max_events)
        UNION ALL
        SELECT * FROM order_service.pending_events_in_progress(since, upto, after_xid, after_id)
    ) e
    ORDER BY e.xid, e.id
    LIMIT max_events
$$;
CREATE OR REPLACE FUNCTION order_service.pending_event_set(
    since pg_snapshot, upto pg_snapshot, after_xid xid8 DEFAULT NULL, after_id bigint DEFAULT NULL)
RETURNS SETOF user_service.events LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT * FROM order_service.pending_events_after_xmax(since, upto, after_xid, after_id)
    UNION ALL
    SELECT * FROM order_service.pending_events_in_progress(since, upto, after_xid, after_id)
$$;

-- A wake-up's read (apply_next_chunk outside a batch): at most max_events of the pending events, in
-- no order. A wake-up that reads fewer than it asked for has them all, and one that reads as many
-- starts a batch, which reads them again; neither needs them in order, so the two halves need no
-- merge. The second half runs through a PL/pgSQL call made only when `since` lists transactions in
-- progress: most wake-ups' stored snapshots list none (below a few hundred writes a second), and
-- PostgreSQL sets up every node of a plan at each execution, whether it runs or not. The half's
-- index scan set up for nothing and the merge in order cost a one-event wake-up 5 % of its
-- instructions together (996,000 against 950,000; BENCHMARKS.md, twenty-ninth session).
CREATE OR REPLACE FUNCTION order_service.pending_events_in_progress_at_most(
    since pg_snapshot, upto pg_snapshot, max_events integer)
RETURNS SETOF user_service.events LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT * FROM order_service.pending_events_in_progress(since, upto, NULL, NULL) LIMIT max_events;
END
$$;
CREATE OR REPLACE FUNCTION order_service.pending_event_sample(since pg_snapshot, upto pg_snapshot, max_events integer)
RETURNS SETOF user_service.events LANGUAGE sql STABLE AS $$
    SELECT e.* FROM (
        SELECT * FROM order_service.pending_events_after_xmax(since, upto, NULL, NULL)
        UNION ALL
        SELECT * FROM order_service.pending_events_in_progress_at_most(since, upto, max_events)
        WHERE pg_snapshot_xmin(since) < pg_snapshot_xmax(since)
    ) e
    LIMIT max_events
$$;

-- Writes the given events' states into the replica: each of `user_events` (ids of usable user
-- events, one per user) into order_service.users, each of `product_events` into products. Only
-- newer versions win, unless `overwrite`, which makes each row exactly what its event says
-- (`ecst rebuild`); rows that would not change are not written. Returns the ids of the rows
-- written. The replica's one upsert: refresh_replica and a batch's chunks (apply_next_chunk) call
-- it. Its one twin is the users' upsert in apply_next_chunk's statement for a chunk outside a
-- batch (a wake-up), fed by the chunk's own rows: the same columns and the same rule.
-- (PL/pgSQL, so its plans are cached per session; a SQL function with data-modifying statements
-- would be planned anew at every call.) Users and products are two statements, each run only when
-- it has rows to write: one statement for both kinds cost every call the start-up and the upsert
-- of the kind it did not have (a third of a small apply).
CREATE OR REPLACE FUNCTION order_service.upsert_replica(
    user_events bigint[], product_events bigint[], overwrite boolean DEFAULT false)
RETURNS TABLE (changed_users bigint[], changed_products bigint[])
LANGUAGE plpgsql AS $$
BEGIN
    changed_users := '{}';
    changed_products := '{}';
    IF cardinality(user_events) > 0 THEN
        WITH upserted_users AS (
            INSERT INTO order_service.users AS r (id, firstname, lastname, email, version, deleted)
            SELECT e.aggregate_id, e.payload ->> 'firstname', e.payload ->> 'lastname', e.payload ->> 'email',
                   e.version, e.type = 'UserDeleted'
            FROM user_service.events e
            WHERE e.id = ANY (user_events) AND e.aggregate_type = 'user'
            ORDER BY e.aggregate_id
            ON CONFLICT (id) DO UPDATE
                SET firstname = EXCLUDED.firstname, lastname = EXCLUDED.lastname, email = EXCLUDED.email,
                    version = EXCLUDED.version, deleted = EXCLUDED.deleted, updated_at = now()
                WHERE r.version < EXCLUDED.version
                   OR (overwrite AND (r.firstname, r.lastname, r.email, r.version, r.deleted)
                                     IS DISTINCT FROM (EXCLUDED.firstname, EXCLUDED.lastname, EXCLUDED.email, EXCLUDED.version, EXCLUDED.deleted))
            RETURNING r.id
        )
        SELECT coalesce(array_agg(u.id), '{}') INTO changed_users FROM upserted_users u;
    END IF;
    IF cardinality(product_events) > 0 THEN
        WITH upserted_products AS (
            INSERT INTO order_service.products AS r (id, description, price, version, deleted)
            SELECT e.aggregate_id, e.payload ->> 'description', (e.payload ->> 'price')::integer,
                   e.version, e.type = 'ProductDeleted'
            FROM user_service.events e
            WHERE e.id = ANY (product_events) AND e.aggregate_type = 'product'
            ORDER BY e.aggregate_id
            ON CONFLICT (id) DO UPDATE
                SET description = EXCLUDED.description, price = EXCLUDED.price,
                    version = EXCLUDED.version, deleted = EXCLUDED.deleted, updated_at = now()
                WHERE r.version < EXCLUDED.version
                   OR (overwrite AND (r.description, r.price, r.version, r.deleted)
                                     IS DISTINCT FROM (EXCLUDED.description, EXCLUDED.price, EXCLUDED.version, EXCLUDED.deleted))
            RETURNING r.id
        )
        SELECT coalesce(array_agg(p.id), '{}') INTO changed_products FROM upserted_products p;
    END IF;
    RETURN NEXT;
END
$$;

-- The ids of the latest usable event (event_problem() says none) of each of the given entities of
-- one kind ('user' or 'product') that snapshot `upto` sees; none for an entity without one.
-- PL/pgSQL, so its plan is cached per session.
CREATE OR REPLACE FUNCTION order_service.latest_usable_events(upto pg_snapshot, kind text, ids bigint[])
RETURNS bigint[] LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN ARRAY(
        SELECT l.id FROM unnest(ids) AS wanted(id)
        CROSS JOIN LATERAL (
            SELECT e.id FROM user_service.events e
            WHERE e.aggregate_type = kind AND e.aggregate_id = wanted.id
              AND pg_visible_in_snapshot(e.xid, upto)
              AND order_service.event_problem(e.type, e.aggregate_type, e.payload) IS NULL
            ORDER BY e.version DESC
            LIMIT 1
        ) l);
END
$$;

-- Brings the replica rows of the given users and products (NULL: every entity of the log) to their
-- latest valid state in the event log as snapshot `upto` sees it, and returns those whose row
-- changed, how many of the entities the log knows and how many rows changed. Only newer versions
-- win, unless `overwrite` (upsert_replica's rule). `ecst dead-letters retry`, `ecst rebuild` and
-- the consumer (a wake-up's products) call it. Each kind's latest events are looked up only when
-- it has entities to look at.
CREATE OR REPLACE FUNCTION order_service.refresh_replica(
    upto pg_snapshot, user_ids bigint[], product_ids bigint[], overwrite boolean DEFAULT false)
RETURNS TABLE (changed_users bigint[], changed_products bigint[], entities integer, rows_changed integer)
LANGUAGE plpgsql AS $$
DECLARE
    user_events bigint[] := '{}';
    product_events bigint[] := '{}';
BEGIN
    -- NULL (`ecst rebuild`): every entity of the log, listed by a statement of its own, so that the
    -- look-ups' plans have no branch for it to set up at every call.
    IF user_ids IS NULL THEN
        user_ids := ARRAY(SELECT DISTINCT e.aggregate_id FROM user_service.events e WHERE e.aggregate_type = 'user');
    END IF;
    IF product_ids IS NULL THEN
        product_ids := ARRAY(SELECT DISTINCT e.aggregate_id FROM user_service.events e WHERE e.aggregate_type = 'product');
    END IF;
    IF cardinality(user_ids) > 0 THEN
        user_events := order_service.latest_usable_events(upto, 'user', user_ids);
    END IF;
    IF cardinality(product_ids) > 0 THEN
        product_events := order_service.latest_usable_events(upto, 'product', product_ids);
    END IF;
    SELECT u.changed_users, u.changed_products INTO changed_users, changed_products
    FROM order_service.upsert_replica(user_events, product_events, overwrite) u;
    entities := cardinality(user_events) + cardinality(product_events);
    rows_changed := cardinality(changed_users) + cardinality(changed_products);
    RETURN NEXT;
END
$$;

-- Whether an entity comes after a batch's entity cursor, in the order a batch's rows are applied in
-- (docs/design.md#reading-the-log-in-commit-order): by id, then kind. No cursor: every entity ('' sorts
-- before both kinds, and the smallest bigint before every id). Plain SQL, inlined where it is
-- called, so that on batch_entities the comparison is a condition of its key's index.
CREATE OR REPLACE FUNCTION order_service.after_entity_cursor(
    aggregate_id bigint, aggregate_type text, cursor_id bigint, cursor_type text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (aggregate_id, aggregate_type) > (coalesce(cursor_id, -9223372036854775808), coalesce(cursor_type, ''))
$$;

-- How many events of a consumer's batch in progress are left to apply: those its batch_entities
-- rows after the entity cursor stand for. When it has no rows (a crash emptied the unlogged table,
-- see there), or on a hot standby (where PostgreSQL refuses even to plan a query naming an unlogged
-- table), the same count from the log: the batch's events (after `since`, visible in `upto`) of
-- the entities after the cursor. PL/pgSQL, so that a statement naming batch_entities is planned
-- only where it runs.
CREATE OR REPLACE FUNCTION order_service.batch_lag(
    consumer_name text, since pg_snapshot, upto pg_snapshot, cursor_id bigint, cursor_type text)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- Two IFs: one expression naming the table would be planned whole, and refused on a standby.
    IF NOT pg_is_in_recovery() THEN
        IF EXISTS (SELECT FROM order_service.batch_entities b WHERE b.consumer = consumer_name) THEN
            RETURN (SELECT coalesce(sum(b.events), 0) FROM order_service.batch_entities b
                    WHERE b.consumer = consumer_name
                      AND order_service.after_entity_cursor(b.aggregate_id, b.aggregate_type, cursor_id, cursor_type));
        END IF;
    END IF;
    RETURN (SELECT count(*) FROM order_service.pending_event_set(since, upto) e
            WHERE order_service.after_entity_cursor(e.aggregate_id, e.aggregate_type, cursor_id, cursor_type));
END
$$;

-- Where each consumer stands: the highest event id applied, the log's head, and how many committed
-- events it has yet to apply (ids commit out of order, so lag is counted, not subtracted; of a batch
-- in progress, the events its batch_entities rows after the entity cursor stand for). Counted in no
-- order (pending_event_set): of a million pending events, 94 ms where the ordered count took 115.
CREATE OR REPLACE VIEW order_service.consumer_lag AS
SELECT p.consumer,
       p.last_event_id AS position,
       coalesce((SELECT max(id) FROM user_service.events), 0) AS head,
       CASE WHEN p.batch_snapshot IS NULL
            THEN (SELECT count(*) FROM order_service.pending_event_set(p.snapshot, pg_current_snapshot()))
            ELSE order_service.batch_lag(p.consumer, p.snapshot, p.batch_snapshot, p.entity_cursor_id, p.entity_cursor_type)
                 + (SELECT count(*) FROM order_service.pending_event_set(p.batch_snapshot, pg_current_snapshot()))
       END AS lag,
       p.applied_events,
       p.applied_batches,
       p.snapshot,
       p.last_applied_at,
       p.applied_by,
       (SELECT count(*) FROM order_service.dead_letters d WHERE d.consumer = p.consumer) AS dead_letters
FROM order_service.consumer_positions p;

-- Whether a consumer has applied everything committed so far: its lag is 0, asked without
-- counting. consumer_lag counts the whole backlog (about half a second per million events), which
-- a caller waiting for the end of a catch-up pays at every check, on the server the consumer is
-- catching up on; this looks for one pending event. False mid-batch (the consumer is applying),
-- and for a consumer that has never run.
CREATE OR REPLACE FUNCTION order_service.caught_up(consumer_name text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((
        SELECT p.batch_snapshot IS NULL
               AND NOT EXISTS (SELECT FROM order_service.pending_events(p.snapshot, pg_current_snapshot(), NULL, NULL, 1))
        FROM order_service.consumer_positions p WHERE p.consumer = consumer_name), false)
$$;

-- Read your writes (docs/design.md#read-your-writes): the state of each consistency token (from
-- user_service.transaction_token()) for a consumer. 'applied': the token's transaction and every
-- one committed before it are applied, because it is visible in the stored snapshot, or because it
-- committed and nothing the consumer has yet to apply is visible now (a write that changed nothing
-- has no event to wait for). 'pending': not yet (still open, or its events not applied yet).
-- 'rolled_back': it aborted, so it wrote nothing. 'unknown': no transaction has that id yet. An
-- unregistered consumer has applied nothing. Statuses too old for pg_xact_status are long applied.
-- A snapshot's xmax is one past the newest *finished* transaction, so a token at or above it may
-- still be running (or have just finished): only then is pg_xact_status asked in a way that
-- survives a token from the future (transaction_status_or_unknown).
CREATE OR REPLACE FUNCTION order_service.transaction_status_or_unknown(token xid8) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce(pg_xact_status(token), 'unknown');
EXCEPTION WHEN invalid_parameter_value THEN    -- "transaction ID ... is in the future"
    RETURN 'unknown';
END
$$;

-- Whether a token's transaction has committed, as far as this server can say: the order-service
-- asks it of the tokens still pending, and answers those as applied as soon as a position of its
-- consumer includes them, with no query of its own (docs/design.md#read-your-writes).
CREATE OR REPLACE FUNCTION order_service.token_committed(token xid8) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT token >= '3'::xid8 AND order_service.transaction_status_or_unknown(token) = 'committed'
$$;

-- The tokens of the writes whose events the given transactions of this server wrote: in one
-- database, the same ids (a token is its writing transaction's id). apply_next_chunk returns those
-- of the batch it completes, whose requests the order-service then answers without a query, even
-- those that arrived while the statement ran (docs/design.md#read-your-writes).
CREATE OR REPLACE FUNCTION order_service.event_tokens(xids xid8[]) RETURNS xid8[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT xids
$$;

CREATE OR REPLACE FUNCTION order_service.token_states(consumer_name text, tokens xid8[])
RETURNS TABLE (token xid8, state text) LANGUAGE sql STABLE AS $$
    SELECT t.token,
           CASE
               WHEN t.token < '3'::xid8 THEN 'unknown'          -- invalid, bootstrap, frozen: never a writer's
               WHEN t.token >= pg_snapshot_xmax(now.snapshot) THEN
                   CASE order_service.transaction_status_or_unknown(t.token)
                       WHEN 'unknown' THEN 'unknown' WHEN 'aborted' THEN 'rolled_back'
                       -- running, or finished since the snapshot: the next check knows
                       ELSE 'pending' END
               WHEN pg_xact_status(t.token) = 'aborted' THEN 'rolled_back'
               WHEN pos.snapshot IS NULL THEN 'pending'
               WHEN pg_visible_in_snapshot(t.token, pos.snapshot) THEN 'applied'
               WHEN pg_visible_in_snapshot(t.token, now.snapshot)
                    AND NOT EXISTS (SELECT FROM order_service.pending_events(pos.snapshot, now.snapshot, NULL, NULL, 1)) THEN 'applied'
               ELSE 'pending'
           END
    FROM unnest(tokens) AS t(token)
    CROSS JOIN (SELECT pg_current_snapshot() AS snapshot) now
    LEFT JOIN order_service.consumer_positions pos ON pos.consumer = consumer_name
$$;

\if :ecst_events_replicated
-- The same, on the orders' server of a database per service (docs/replication.md#read-your-writes):
-- a token names a transaction of the users' server, origin_xid here. 'applied' once the local
-- transaction that copied its events is visible in the stored snapshot (the copy commits in the
-- users' server's commit order, so everything committed before it there is applied too). Otherwise
-- 'pending': a write that wrote no event, or rolled back, never reaches this server, so its token
-- waits for the caller's deadline.
CREATE INDEX IF NOT EXISTS events_origin_xid ON user_service.events (origin_xid);
CREATE OR REPLACE FUNCTION order_service.token_states(consumer_name text, tokens xid8[])
RETURNS TABLE (token xid8, state text) LANGUAGE sql STABLE AS $$
    SELECT t.token,
           CASE
               WHEN t.token < '3'::xid8 THEN 'unknown'
               WHEN EXISTS (SELECT FROM user_service.events e
                            WHERE e.origin_xid = t.token AND pg_visible_in_snapshot(e.xid, pos.snapshot)) THEN 'applied'
               ELSE 'pending'
           END
    FROM unnest(tokens) AS t(token)
    LEFT JOIN order_service.consumer_positions pos ON pos.consumer = consumer_name
$$;
-- A token here names a transaction of the users' server: this one cannot say it committed.
CREATE OR REPLACE FUNCTION order_service.token_committed(token xid8) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT false
$$;
-- Nor name it from the local transactions that copied its events: token_states() decides.
CREATE OR REPLACE FUNCTION order_service.event_tokens(xids xid8[]) RETURNS xid8[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{}'::xid8[]
$$;
\endif

-- Who listens for the writers' wake-ups. Of the order-services applying under one
-- consumer name, only the one whose listening session holds this lock (advisory key
-- (1162040151, hashtext(name)), session-level) LISTENs; the others' listening sessions wait here
-- before their LISTEN, so a standby sleeps instead of waking and querying at every notification,
-- and takes over the moment that session ends (docs/design.md#wake-ups). Waiting before LISTEN holds
-- back no notification queue. It waits a second at a time and answers false when it did not get
-- the lock, to be called again: a statement that waits holds its snapshot, and with it the whole
-- server's xmin horizon, for as long as it waits (a standby waiting in one call kept vacuum and HOT
-- pruning from removing anything for as long as it stood by, and a stopped standby's session waited
-- on, unnoticed, until the lock came free).
DO $$
BEGIN
    IF (SELECT prorettype = 'void'::regtype FROM pg_proc WHERE oid = to_regprocedure('order_service.lead_wake_ups(text)')) THEN
        DROP FUNCTION order_service.lead_wake_ups(text);
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION order_service.lead_wake_ups(consumer_name text) RETURNS boolean
LANGUAGE plpgsql SET lock_timeout = '1s' AS $$
BEGIN
    PERFORM pg_advisory_lock(1162040151, hashtext(consumer_name));
    RETURN true;
EXCEPTION WHEN lock_not_available THEN
    RETURN false;
END
$$;

-- For the consumer that leads the wake-ups and found the position row held by another process
-- (a standby's poll, `ecst rebuild`): returns true once that transaction has ended, false after a
-- second. It then reads again: events committed meanwhile woke only the leader.
CREATE OR REPLACE FUNCTION order_service.wait_for_position(consumer_name text) RETURNS boolean
LANGUAGE plpgsql SET lock_timeout = '1s' AS $$
BEGIN
    PERFORM FROM order_service.consumer_positions p WHERE p.consumer = consumer_name FOR UPDATE;
    RETURN true;
EXCEPTION WHEN lock_not_available THEN
    RETURN false;
END
$$;

-- For an order-service that waits for tokens it does not apply itself (a standby): call on the
-- session that is about to LISTEN on 'ecst_applied'. It holds the appliers' watch lock (advisory
-- key (1162040150, 0)) shared for the rest of the session: while anyone holds it, apply_next_chunk
-- notifies 'ecst_applied' when it stores a new snapshot. It returns only once an apply
-- transaction that tried the lock before has committed, so a check of the tokens after the LISTEN
-- misses no position: later ones notify.
CREATE OR REPLACE FUNCTION order_service.watch_applied() RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_lock_shared(1162040150, 0)
$$;

-- Dead-letters the unusable events among a position's pending ones (pending_events' arguments)
-- and returns those it wrote ([{"event_id", "reason"}]). Unusable events are rare: the consumer
-- calls it only when a read of the same events found some, for a wake-up's chunk or a batch's start.
CREATE OR REPLACE FUNCTION order_service.dead_letter_pending(
    consumer_name text, since pg_snapshot, upto pg_snapshot, after_xid xid8, after_id bigint, max_events integer)
RETURNS jsonb LANGUAGE sql AS $$
    WITH written AS (
        INSERT INTO order_service.dead_letters (consumer, event_id, event_type, payload, reason)
        SELECT consumer_name, b.id, b.type, b.payload, b.problem
        FROM (SELECT e.id, e.type, e.payload, order_service.event_problem(e.type, e.aggregate_type, e.payload) AS problem
              FROM order_service.pending_events(since, upto, after_xid, after_id, max_events) e) b
        WHERE b.problem IS NOT NULL
        ON CONFLICT (consumer, event_id) DO NOTHING
        RETURNING event_id, reason
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object('event_id', d.event_id, 'reason', d.reason)), '[]') FROM written d
$$;

-- Whether a batch's start reads the consumer's pending events by a sequential scan of the whole
-- log: when they are a quarter of it or more. The planner cannot tell: it keeps no statistics for
-- an xid8 range and takes any range for a third of the table. Ids can: they are taken at insert,
-- so the ids after the highest one applied nearly count what is pending (the table's size is the
-- planner's own estimate; unknown, before its first ANALYZE, means the index).
CREATE OR REPLACE FUNCTION order_service.read_batch_sequentially(consumer_name text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT c.reltuples > 0 AND coalesce((SELECT max(e.id) FROM user_service.events e), 0) - p.last_event_id >= 0.25 * c.reltuples
    FROM order_service.consumer_positions p, pg_class c
    WHERE p.consumer = consumer_name AND c.oid = 'user_service.events'::regclass
$$;

-- A batch's work, one row per entity (batch_entities' columns, but the consumer's): reads the events
-- after position `since` that `upto` sees (after the cursor, when one is given) in one pass, with a
-- hash aggregate. Its own function, so that the read may run in parallel: PostgreSQL plans no
-- parallel workers for an INSERT's query, but does for a PL/pgSQL RETURN QUERY, whose rows the
-- INSERT then takes (BENCHMARKS.md, twenty-ninth session: the read of a million events took
-- 0.6 s with two workers, 1.4 s alone). Each event's problem is worked out once, in
-- event_problem_once's column (referenced by two aggregates, the expression would otherwise be
-- copied into both and evaluated twice).
--
-- Each entity's latest usable event is the one with the highest version (an entity's versions are
-- unique: events' UNIQUE key). The aggregate keeps it as one bigint, the version in the high half
-- and the low 32 bits of the event's id in the low half: the highest key is the highest version,
-- and integers compare and merge between workers for less than the array `[version, id]` cost
-- (a million events' read in 0.61-0.67 s instead of 0.70-0.76 s; BENCHMARKS.md, thirty-first
-- session). The id is then told from its low bits and the entity's highest id, which is less than
-- 2^32 above it whenever the entity's events in the batch span fewer than 2^32 ids (always, but in
-- a log that jumped its ids); where they do not, the id is looked up by entity and version.
CREATE OR REPLACE FUNCTION order_service.batch_work(
    since pg_snapshot, upto pg_snapshot, after_xid xid8, after_id bigint)
RETURNS TABLE (aggregate_type text, aggregate_id bigint, event_id bigint, events integer, unusable_events integer, highest_event_id bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT g.aggregate_type, g.aggregate_id,
           CASE WHEN g.highest - g.lowest < 4294967296
                THEN g.highest - ((g.highest - (g.latest & 4294967295)) & 4294967295)
                ELSE (SELECT e.id FROM user_service.events e
                      WHERE e.aggregate_type = g.aggregate_type AND e.aggregate_id = g.aggregate_id
                        AND e.version = (g.latest >> 32)::integer) END,
           g.events, g.unusable_events, g.highest
    FROM (SELECT b.aggregate_type, b.aggregate_id,
                 max((b.version::bigint << 32) | (b.id & 4294967295)) FILTER (WHERE b.problem IS NULL) AS latest,
                 count(*)::integer AS events, (count(*) FILTER (WHERE b.problem IS NOT NULL))::integer AS unusable_events,
                 max(b.id) AS highest, min(b.id) AS lowest
          FROM (SELECT e.id, e.aggregate_type, e.aggregate_id, e.version,
                       order_service.event_problem_once(e.type, e.aggregate_type, e.payload) AS problem
                FROM order_service.pending_event_set(since, upto, after_xid, after_id) e) b
          GROUP BY b.aggregate_type, b.aggregate_id) g;
END
$$;

-- A batch's start (apply_next_chunk, when a wake-up's chunk comes back full): reads the events
-- after position `since` that `upto` sees (after the cursor, when one is given) in one pass, and
-- writes the batch's work into batch_entities (one row per entity, as described there).
-- Dead-letters the events it cannot apply and
-- returns them ([{"event_id", "reason"}]). One pass with a hash aggregate costs a read of each
-- event, its problem, and its group, about half what a chunk walking the events cost for each
-- (looking up the entity's replica version, against events older than it; BENCHMARKS.md,
-- twenty-sixth session). A hash aggregate needs no order, so the events come from
-- pending_event_set. A batch of a quarter of the log or more is read by a sequential scan, which
-- reads the table in its own order through a small ring of buffers; a smaller one by the index
-- range, in the index's order (a bitmap scan, off, fell between the two: 1.75 s a million against
-- 1.81 and 1.65; BENCHMARKS.md, twenty-seventh session). The planner cannot choose between them
-- itself (read_batch_sequentially says why), so the read (batch_work's, which may run in parallel
-- workers) is planned at each call with the scan that function picks. The unusable events, rare,
-- are read again (dead_letter_pending) only when there are some.
CREATE OR REPLACE FUNCTION order_service.start_batch(
    consumer_name text, since pg_snapshot, upto pg_snapshot, after_xid xid8 DEFAULT NULL, after_id bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off SET work_mem = '64MB' SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    unusable boolean;
BEGIN
    -- Rows of a batch that a reset of the position alone abandoned (rebuild deletes its own).
    DELETE FROM order_service.batch_entities b WHERE b.consumer = consumer_name;
    IF order_service.read_batch_sequentially(consumer_name) THEN
        PERFORM set_config('enable_seqscan', 'on', true);
    END IF;
    WITH work AS (
        INSERT INTO order_service.batch_entities AS w (consumer, aggregate_type, aggregate_id, event_id, events, unusable_events, highest_event_id)
        SELECT consumer_name, b.aggregate_type, b.aggregate_id, b.event_id, b.events, b.unusable_events, b.highest_event_id
        FROM order_service.batch_work(since, upto, after_xid, after_id) b
        RETURNING w.unusable_events
    )
    SELECT coalesce(bool_or(work.unusable_events > 0), false) INTO unusable FROM work;
    PERFORM set_config('enable_seqscan', 'off', true);
    IF unusable THEN
        RETURN order_service.dead_letter_pending(consumer_name, since, upto, after_xid, after_id, NULL);
    END IF;
    RETURN '[]';
END
$$;

-- A second session's help with a batch in progress (docs/design.md#reading-the-log-in-commit-order):
-- applies the next `chunk_size` users of the batch's rows (half of those left, when they are fewer
-- than two chunks), walking down from below `before_id`
-- (NULL: from the top) to the applier's committed entity cursor, in the caller's transaction, and
-- returns the lowest id it applied, or NULL when nothing is left for it: no batch, nothing above
-- the cursor, or (asked at the top) products still ahead of the cursor, whose orders cross every
-- user's and are left to the applier alone. It moves no position: the applier, reaching those
-- users, finds their replica rows at the batch's versions and rewrites nothing (upsert_replica's
-- rule), and a crash only leaves it that work to repeat. Both take the users' rows in id order
-- (upsert_replica), as a wake-up does, so that overlapping chunks wait rather than deadlock.
CREATE OR REPLACE FUNCTION order_service.help_batch(consumer_name text, before_id bigint, chunk_size integer)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    pos record;
    work record;
    changed bigint[];
BEGIN
    SELECT p.batch_snapshot, coalesce(p.entity_cursor_id, -9223372036854775808) AS cursor_id INTO pos
    FROM order_service.consumer_positions p WHERE p.consumer = consumer_name;
    IF pos.batch_snapshot IS NULL THEN
        RETURN NULL;
    END IF;
    IF before_id IS NULL AND EXISTS (
        SELECT FROM order_service.batch_entities n
        WHERE n.consumer = consumer_name AND n.aggregate_id > pos.cursor_id AND n.aggregate_type = 'product') THEN
        RETURN NULL;
    END IF;
    -- At most half of what is left above the cursor, when that is less than two chunks: the
    -- applier is meanwhile taking a chunk from its end, and what both take is done twice.
    WITH candidates AS (
        SELECT n.aggregate_id, n.event_id FROM order_service.batch_entities n
        WHERE n.consumer = consumer_name AND n.aggregate_id > pos.cursor_id
          AND n.aggregate_id < coalesce(before_id, 9223372036854775807) AND n.aggregate_type = 'user'
        ORDER BY n.aggregate_id DESC, n.aggregate_type DESC
        LIMIT 2 * chunk_size
    )
    SELECT coalesce(array_agg(t.event_id) FILTER (WHERE t.event_id IS NOT NULL), '{}') AS user_events, min(t.aggregate_id) AS lowest
    INTO work
    FROM (SELECT c.aggregate_id, c.event_id FROM candidates c
          ORDER BY c.aggregate_id DESC
          LIMIT (SELECT least(chunk_size, (count(*) + 1) / 2) FROM candidates)) t;
    IF work.lowest IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT u.changed_users INTO changed FROM order_service.upsert_replica(work.user_events, '{}') u;
    IF cardinality(changed) > 0 THEN
        PERFORM order_service.embed_orders(changed);
    END IF;
    INSERT INTO order_service.batch_help AS h (consumer, batch_snapshot, helped_from)
    VALUES (consumer_name, pos.batch_snapshot::text, work.lowest)
    ON CONFLICT (consumer) DO UPDATE SET batch_snapshot = EXCLUDED.batch_snapshot, helped_from = EXCLUDED.helped_from;
    RETURN work.lowest;
END
$$;

-- A batch's cursor as a row, of the versions that walked a batch event by event: no longer used.
DROP TYPE IF EXISTS order_service.event_position;

-- The consumer's step: applies the next chunk of user_service.events after the consumer's stored
-- position to the replica and the purchase orders, and stores the new position, in the caller's
-- transaction (one statement: call it outside a transaction block and it commits alone).
--
-- The position is a PgQ-style batch: everything visible in the stored snapshot has been applied;
-- the next batch is the events whose transactions are visible in a fresh snapshot and were not in
-- the stored one (pending_events). An event whose transaction took a small id but commits late is
-- in the batch after it commits; events of later transactions are applied while it is still open.
-- A wake-up reads at most `chunk_size` events. When they are more, a batch starts: its events are
-- read at once into one row per entity (start_batch, batch_entities), in a call that applies nothing
-- (so that help_batch can start meanwhile), and applied `chunk_size` entities per call after it,
-- each call committing its effects and its entity cursor together. Each entity
-- jumps to its latest usable state in the batch (outside a batch, a user to its latest in the
-- chunk) and never over a newer one (upsert_replica's rule), so replays are harmless. Events it
-- cannot apply go to dead_letters.
--
-- Returns busy = true, and does nothing, while another consumer holds the position row. Otherwise:
-- the events of the chunk (in a batch, those its entities stand for), the orders rewritten,
-- whether another chunk of the batch follows, the highest event id of the chunk (ids are taken at
-- insert, so not necessarily its last in commit order), the dead letters written
-- ([{"event_id", "reason"}]; a batch's, all in its first chunk), and the pending
-- slots of writers that were still committing in reliance on another's NOTIFY before the chunk was
-- read (docs/design.md#wake-ups): if no chunk follows, wait for them and call again. And the state
-- of each of `tokens` ({"<token>": "<state>"}, token_states' states) as of this transaction, once
-- the batch is done: true at its commit, so the order-service answers the requests waiting for
-- them without a query of their own; and then too the snapshot everything visible in which is
-- applied (docs/design.md#read-your-writes), with the tokens of the writes whose events a
-- wake-up's chunk applied (event_tokens), applied with it.
-- (Its signature changed; a database from before gets the new one.)
DO $$
BEGIN
    IF to_regprocedure('order_service.apply_next_chunk(text, integer, text)') IS NOT NULL THEN
        DROP FUNCTION order_service.apply_next_chunk(text, integer, text);
    END IF;
    IF NOT (SELECT 'applied_tokens' = ANY (proargnames) FROM pg_proc
            WHERE oid = coalesce(to_regprocedure('order_service.apply_next_chunk(text, integer, text, xid8[])'), 0)) THEN
        DROP FUNCTION order_service.apply_next_chunk(text, integer, text, xid8[]);
    END IF;
END
$$;
BEGIN;
CREATE OR REPLACE FUNCTION order_service.apply_next_chunk(
    consumer_name text, chunk_size integer DEFAULT 5000, applier text DEFAULT NULL, tokens xid8[] DEFAULT '{}')
RETURNS TABLE (busy boolean, events integer, orders_updated integer, more boolean, highest_event_id bigint,
               dead_letters jsonb, relying_writers integer[], token_states jsonb, position_snapshot text,
               applied_tokens xid8[])
LANGUAGE plpgsql AS $$
DECLARE
    pos record;
    upto pg_snapshot;
    chunk record;
    entities record;
    applied integer;
    highest bigint;
    xids xid8[] := '{}';
    next_type text;
    next_id bigint;
    changed_users bigint[] := '{}';
    changed_products bigint[] := '{}';
    wake_up boolean := false;
    batch_done boolean;
    written integer := 0;
    listed text;
    helped bigint;
    rest record;
    begun boolean := false;
BEGIN
    SELECT p.snapshot, p.batch_snapshot, p.cursor_xid, p.cursor_id, p.entity_cursor_type, p.entity_cursor_id, p.applied_by
    INTO pos
    FROM order_service.consumer_positions p
    WHERE p.consumer = consumer_name
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        busy := true; events := 0; orders_updated := 0; more := false;
        dead_letters := '[]'; relying_writers := '{}'; token_states := '{}';
        RETURN NEXT;
        RETURN;
    END IF;
    busy := false;
    -- The relying writers are looked up once the row is ours and before the chunk's snapshot is
    -- taken: a slot found free means its writer's events are visible in that snapshot. When a
    -- snapshot shows nobody who could hold one (writers_may_rely), that snapshot is the chunk's and
    -- the look-up is skipped (most wake-ups below a few hundred writes/s).
    upto := pg_current_snapshot();
    relying_writers := '{}';
    IF user_service.writers_may_rely(upto) THEN
        relying_writers := user_service.relying_writer_slots();
        upto := pg_current_snapshot();
    END IF;
    upto := coalesce(pos.batch_snapshot, upto);

    -- Outside a batch (a wake-up) the chunk's statement also upserts the users from the chunk's own
    -- rows, when the chunk is not full: it then holds every event since the stored snapshot, so each
    -- user's latest usable version in it is its latest in `upto`, refresh_replica's answer, upserted
    -- by the same rule (a newer version wins). A wake-up thus reads its events once and looks up no
    -- replica version; products, rare, go through refresh_replica below, so that their upsert is not
    -- set up at every call. A fifth fewer instructions for a one-event wake-up
    -- (docs/design.md#the-consumers-plans). A full chunk starts a batch: it upserts nothing, and
    -- start_batch reads the whole batch again, so that each entity is embedded once, at its latest
    -- state in the batch (the one extra read is of the backlog's first chunk).
    -- A process's first read (and the first after another process applied: applied_by names the
    -- last applier) counts the pending events first, up to a chunk, without reading them: a start
    -- after downtime mostly finds a backlog, and a full chunk's statement below (its events read
    -- and checked, for nothing but its count) cost 13-15 ms of a 100,000-event catch-up's start
    -- (BENCHMARKS.md, thirty-second session). Later wake-ups go straight to it.
    IF pos.batch_snapshot IS NULL AND pos.applied_by IS DISTINCT FROM applier
       AND (SELECT count(*) FROM (SELECT FROM order_service.pending_event_sample(pos.snapshot, upto, chunk_size)) s) >= chunk_size THEN
        wake_up := false;
    ELSIF pos.batch_snapshot IS NULL THEN
        WITH chunk_events AS MATERIALIZED (
            SELECT e.id, e.xid, e.type, e.aggregate_type, e.aggregate_id, e.version, e.payload,
                   order_service.event_problem(e.type, e.aggregate_type, e.payload) AS problem
            FROM order_service.pending_event_sample(pos.snapshot, upto, chunk_size) e
        ),
        upserted_users AS (
            INSERT INTO order_service.users AS r (id, firstname, lastname, email, version, deleted)
            SELECT DISTINCT ON (c.aggregate_id) c.aggregate_id, c.payload ->> 'firstname', c.payload ->> 'lastname',
                   c.payload ->> 'email', c.version, c.type = 'UserDeleted'
            FROM chunk_events c
            WHERE c.aggregate_type = 'user' AND c.problem IS NULL AND (SELECT count(*) FROM chunk_events) < chunk_size
            ORDER BY c.aggregate_id, c.version DESC
            ON CONFLICT (id) DO UPDATE
                SET firstname = EXCLUDED.firstname, lastname = EXCLUDED.lastname, email = EXCLUDED.email,
                    version = EXCLUDED.version, deleted = EXCLUDED.deleted, updated_at = now()
                WHERE r.version < EXCLUDED.version
            RETURNING r.id
        )
        SELECT count(*)::integer AS events, max(c.id) AS max_id, array_agg(DISTINCT c.xid) AS xids, bool_or(c.problem IS NOT NULL) AS any_unusable,
               (SELECT array_agg(u.id) FROM upserted_users u) AS user_ids,
               array_agg(DISTINCT c.aggregate_id) FILTER (WHERE c.aggregate_type = 'product' AND c.problem IS NULL) AS product_ids
        FROM chunk_events c
        INTO chunk;
        wake_up := chunk.events < chunk_size;
    END IF;
    dead_letters := '[]';
    IF NOT wake_up THEN
        -- A batch: a full wake-up chunk starts one (start_batch reads it whole, into batch_entities),
        -- and then, like every later chunk of it, applies its next `chunk_size` entities: each to its
        -- latest usable event in the batch, never over a newer row (upsert_replica), so that a
        -- backlog embeds each entity once, at its latest state, and reads each event once
        -- (docs/design.md#reading-the-log-in-commit-order). A batch begun by a version that walked
        -- it event by event has a cursor instead of rows: its rest is read from there.
        IF pos.batch_snapshot IS NULL OR pos.cursor_xid IS NOT NULL THEN
            dead_letters := order_service.start_batch(consumer_name, pos.snapshot, upto, pos.cursor_xid, pos.cursor_id);
            pos.entity_cursor_type := NULL;
            pos.entity_cursor_id := NULL;
            begun := true;
        ELSIF NOT EXISTS (SELECT FROM order_service.batch_entities n WHERE n.consumer = consumer_name) THEN
            -- A batch in progress keeps its rows until its last chunk, which deletes them with the
            -- snapshot it stores: none left means a crash emptied the unlogged table. Its snapshots
            -- give the same rows again; the entity cursor, committed, says which are applied.
            dead_letters := order_service.start_batch(consumer_name, pos.snapshot, upto);
        END IF;
        -- A batch's read commits alone, with no chunk: the helping session (help_batch) can then
        -- start on the rows' other end while this one takes the first chunk, where it would
        -- otherwise start a chunk later, on the applier's second chunk when a batch has two.
        IF NOT begun THEN
            -- Where a helping session (help_batch) has applied every entity from, in this batch.
            helped := (SELECT h.helped_from FROM order_service.batch_help h
                       WHERE h.consumer = consumer_name AND h.batch_snapshot = upto::text);
            -- The entities after the cursor (and below what was helped with), in key order.
            SELECT coalesce(sum(t.events), 0)::integer AS events, max(t.highest_event_id) AS max_id, count(*)::integer AS taken,
                   coalesce(array_agg(t.event_id) FILTER (WHERE t.aggregate_type = 'user' AND t.event_id IS NOT NULL), '{}') AS user_events,
                   coalesce(array_agg(t.event_id) FILTER (WHERE t.aggregate_type = 'product' AND t.event_id IS NOT NULL), '{}') AS product_events,
                   max(ARRAY[t.aggregate_id, CASE WHEN t.aggregate_type = 'user' THEN 1 ELSE 0 END]) AS last_entity
            FROM (SELECT n.aggregate_type, n.aggregate_id, n.event_id, n.events, n.highest_event_id
                  FROM order_service.batch_entities n
                  WHERE n.consumer = consumer_name
                    AND order_service.after_entity_cursor(n.aggregate_id, n.aggregate_type, pos.entity_cursor_id, pos.entity_cursor_type)
                    AND n.aggregate_id < coalesce(helped, 9223372036854775807)
                  ORDER BY n.aggregate_id, n.aggregate_type
                  LIMIT chunk_size) t
            INTO entities;
            SELECT u.changed_users, u.changed_products INTO changed_users, changed_products
            FROM order_service.upsert_replica(entities.user_events, entities.product_events) u;
            -- The chunk's last entity: its highest id, and of the kinds with that id the last ('product'
            -- sorts before 'user').
            next_type := CASE WHEN entities.last_entity[2] = 1 THEN 'user' ELSE 'product' END;
            next_id := entities.last_entity[1];
            batch_done := entities.taken < chunk_size OR NOT EXISTS (
                SELECT FROM order_service.batch_entities n
                WHERE n.consumer = consumer_name AND order_service.after_entity_cursor(n.aggregate_id, n.aggregate_type, next_id, next_type));
            applied := entities.events;
            highest := entities.max_id;
            -- Reaching what was helped with ends the batch: those entities' rows are at the batch's
            -- versions already, committed; only their events are counted, those after the cursor (a
            -- helper may have reached below where this chunk began, which counted the rest already).
            IF batch_done AND helped IS NOT NULL THEN
                SELECT coalesce(sum(n.events), 0)::integer AS events, max(n.highest_event_id) AS max_id INTO rest
                FROM order_service.batch_entities n
                WHERE n.consumer = consumer_name AND n.aggregate_id >= helped
                  AND order_service.after_entity_cursor(n.aggregate_id, n.aggregate_type, pos.entity_cursor_id, pos.entity_cursor_type);
                applied := applied + rest.events;
                highest := greatest(highest, rest.max_id);
            END IF;
            IF batch_done THEN
                DELETE FROM order_service.batch_entities n WHERE n.consumer = consumer_name;
                DELETE FROM order_service.batch_help h WHERE h.consumer = consumer_name;
            END IF;
        ELSE
            batch_done := false;
            applied := 0;
        END IF;
    ELSE
        -- Events it cannot apply are rare: their statement (which reads the chunk again) runs only then.
        IF chunk.any_unusable THEN
            dead_letters := order_service.dead_letter_pending(consumer_name, pos.snapshot, upto, NULL, NULL, chunk_size);
        END IF;
        changed_users := coalesce(chunk.user_ids, '{}');
        IF chunk.product_ids IS NOT NULL THEN
            SELECT r.changed_products INTO changed_products FROM order_service.refresh_replica(upto, '{}', chunk.product_ids) r;
        END IF;
        batch_done := true;
        applied := chunk.events;
        highest := chunk.max_id;
        xids := coalesce(chunk.xids, '{}');
    END IF;
    -- The orders of what changed, in a statement of their own, so that it sees orders created by
    -- transactions that waited on the replica rows just upserted.
    IF cardinality(changed_users) > 0 OR cardinality(changed_products) > 0 THEN
        written := order_service.embed_orders(changed_users, changed_products);
    END IF;

    -- A finished batch becomes the stored snapshot; an unfinished one keeps its snapshot, its rest
    -- in batch_entities. A read that found nothing outside a batch stores nothing: the newer
    -- snapshot would change nothing. The tokens listed are those of a wake-up's writes (a batch's
    -- are answered from the stored snapshot, as any other token is).
    IF batch_done THEN
        applied_tokens := order_service.event_tokens(xids);
    END IF;
    IF applied > 0 OR pos.batch_snapshot IS NOT NULL OR begun THEN
        UPDATE order_service.consumer_positions p
        SET snapshot = CASE WHEN batch_done THEN upto ELSE p.snapshot END,
            batch_snapshot = CASE WHEN batch_done THEN NULL ELSE upto END,
            cursor_xid = NULL,
            cursor_id = NULL,
            entity_cursor_type = CASE WHEN batch_done THEN NULL ELSE next_type END,
            entity_cursor_id = CASE WHEN batch_done THEN NULL ELSE next_id END,
            applied_events = p.applied_events + applied,
            applied_batches = p.applied_batches + CASE WHEN applied > 0 THEN 1 ELSE 0 END,
            last_event_id = greatest(p.last_event_id, coalesce(highest, 0)),
            last_applied_at = CASE WHEN applied > 0 THEN now() ELSE p.last_applied_at END,
            applied_by = coalesce(applier, p.applied_by)
        WHERE p.consumer = consumer_name;
        -- Token waiters elsewhere (watch_applied) hear of a new snapshot; the try takes the watch
        -- lock until commit when nobody waits, so a watcher arriving now waits for this commit.
        -- The payload, '<snapshot> <tokens> <consumer>' (the tokens this chunk applied, as
        -- returned below, comma-separated), lets them answer those, and tokens known committed,
        -- without a query; without the tokens, or empty, when it would not fit NOTIFY's 8000
        -- bytes (they query then).
        IF batch_done AND NOT pg_try_advisory_xact_lock(1162040150, 0) THEN
            listed := array_to_string(applied_tokens, ',');
            IF octet_length(upto::text) + octet_length(listed) + octet_length(consumer_name) >= 7900 THEN
                listed := '';
            END IF;
            PERFORM pg_notify('ecst_applied',
                CASE WHEN octet_length(upto::text) + octet_length(consumer_name) < 7900
                     THEN upto::text || ' ' || listed || ' ' || consumer_name ELSE '' END);
        END IF;
    END IF;

    -- The answer is assigned, not queried: token_states' plan is set up only when tokens wait.
    events := applied;
    orders_updated := written;
    more := NOT batch_done;
    highest_event_id := highest;
    token_states := '{}';
    IF batch_done THEN
        position_snapshot := upto::text;
        IF cardinality(tokens) > 0 THEN
            token_states := (SELECT jsonb_object_agg(t.token::text, t.state) FROM order_service.token_states(consumer_name, tokens) t);
        END IF;
    END IF;
    RETURN NEXT;
END
$$;
-- batch_entities is keyed by entity id before its kind since the twenty-ninth session (the key's
-- comparisons mostly end at the id instead of comparing the kind's text first; BENCHMARKS.md,
-- twenty-ninth session), and apply_next_chunk walks it in that order. A database keyed the old way
-- gets the new key here, in the transaction that gives it the new apply_next_chunk, so that no
-- chunk of either version reads a cursor the other wrote: a batch in progress loses its rows up
-- to its entity cursor (applied: the new order cannot name them with a cursor) and goes on from the
-- start of the new order with the rest. The lock waits for a chunk in progress.
DO $$
BEGIN
    IF (SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
        WHERE c.conrelid = 'order_service.batch_entities'::regclass AND c.contype = 'p')
       = 'PRIMARY KEY (consumer, aggregate_type, aggregate_id)' THEN
        LOCK TABLE order_service.consumer_positions, order_service.batch_entities IN EXCLUSIVE MODE;
        DELETE FROM order_service.batch_entities b USING order_service.consumer_positions p
        WHERE p.consumer = b.consumer AND p.entity_cursor_type IS NOT NULL
          AND (b.aggregate_type, b.aggregate_id) <= (p.entity_cursor_type, p.entity_cursor_id);
        UPDATE order_service.consumer_positions SET entity_cursor_type = NULL, entity_cursor_id = NULL
        WHERE entity_cursor_type IS NOT NULL;
        ALTER TABLE order_service.batch_entities DROP CONSTRAINT batch_entities_pkey,
            ADD PRIMARY KEY (consumer, aggregate_id, aggregate_type);
    END IF;
END
$$;
COMMIT;

-- The orders' side of a database per service (docs/replication.md), for `ecst status` and the
-- order-service's /metrics: the events subscription, whether it is enabled and its apply worker
-- running, the last WAL position received from the users' server, and the seconds since it last
-- heard from that server (keepalives arrive every few seconds even when nothing changes). No rows
-- in a single database. SECURITY DEFINER: pg_subscription is for superusers.
CREATE OR REPLACE FUNCTION order_service.events_subscription_status()
RETURNS TABLE (subscription text, enabled boolean, worker_running boolean, received_lsn text,
               seconds_since_message double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT s.subname::text, s.subenabled, w.pid IS NOT NULL, w.received_lsn::text,
           extract(epoch FROM now() - w.last_msg_receipt_time)::double precision
    FROM pg_subscription s
    JOIN pg_database d ON d.oid = s.subdbid AND d.datname = current_database()
    LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL
    WHERE s.subname = 'ecst_events'
$$;

-- Every function of order_service is the order_service role's to call, and nobody else's
-- (PostgreSQL lets PUBLIC execute each new function): the whole schema's at once, so that a
-- function added or re-signed needs no list kept here. In one transaction, as user_service's are.
BEGIN;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA order_service FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA order_service TO order_service;
COMMIT;

REVOKE ALL ON ALL TABLES IN SCHEMA order_service FROM PUBLIC, user_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA order_service TO order_service;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA order_service TO order_service;

-- The seed's purchase order (user 1, product 1, price 300). Its embedded data is the seed's; the
-- consumer replays the seed's events on its first start and keeps it current from then on.
INSERT INTO order_service.purchase_orders (id, user_id, product_id, doc)
SELECT 1, 1, 1, jsonb_build_object(
    'user', order_service.user_document(1, 'Neha', 'Parate', 'neha.parate@gmail.com'),
    'product', order_service.product_document(1, 'IPad'),
    'price', 300)
WHERE NOT EXISTS (SELECT FROM order_service.purchase_orders WHERE id = 1);
DO $$
BEGIN
    PERFORM setval(pg_get_serial_sequence('order_service.purchase_orders', 'id'),
                   greatest((SELECT max(id) FROM order_service.purchase_orders), 1));
END
$$;
\endif

-- The end of this application: the next one may start (see the lock at the top). psql -f ends its
-- session here anyway; a session that ran the file by \i and goes on must not keep it.
SELECT pg_advisory_unlock(1162040152, 0) AS ecst_schema_unlocked \gset
