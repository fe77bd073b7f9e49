-- The benchmark's probe (as ecst-bench installs it): every write of the replica's users records
-- the email, the transaction and its statement's start. Run as a superuser, with the cluster
-- started with track_commit_timestamp = on and track_functions = 'pl'.
CREATE TABLE IF NOT EXISTS public.bench_applied (email text, xid xid8, started timestamptz);
CREATE OR REPLACE FUNCTION public.bench_record_applied() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    INSERT INTO public.bench_applied VALUES (NEW.email, pg_current_xact_id(), statement_timestamp());
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER bench_applied AFTER INSERT OR UPDATE ON order_service.users
    FOR EACH ROW EXECUTE FUNCTION public.bench_record_applied();
INSERT INTO order_service.consumer_positions (consumer) VALUES ('minimal') ON CONFLICT DO NOTHING;
