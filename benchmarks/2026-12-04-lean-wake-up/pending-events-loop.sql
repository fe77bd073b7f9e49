-- pending_events() before (created as pending_events_old from the commit before) and after, over
-- 210,003 pending events (the database of apply-pairs.py's setup plus 200,000 inserted events), in
-- one psql session with enable_seqscan = off; the pair below run six times in a row.
-- Results (ms, old then new): 71.5/43.2, 54.3/41.3, 51.4/40.6, 51.5/40.4, 54.5/45.9, 52.9/39.5.
\timing on
SELECT count(*) FROM order_service.pending_events_old('1:1:', pg_current_snapshot());
SELECT count(*) FROM order_service.pending_events('1:1:', pg_current_snapshot());
