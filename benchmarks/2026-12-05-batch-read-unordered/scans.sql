-- A batch's read and aggregate as start_batch does it (without its insert), over the 1,000,000
-- pending events of shape.sh's one-order shape (snapshots '826:826:' to '1174:1174:' there), by
-- each scan in turn: run with psql after one of
--   SET enable_seqscan=off; SET enable_indexscan=off;    (bitmap)
--   SET enable_seqscan=off; SET enable_bitmapscan=off;   (index range)
--   SET enable_indexscan=off; SET enable_bitmapscan=off; (sequential)
-- and pending_events (ordered) in place of the inner SELECT for the version before.
SELECT sum(coalesce(event_id,0) + events + unusable_events + highest_event_id) FROM (
        SELECT b.aggregate_type, b.aggregate_id,
               max(b.version) FILTER (WHERE b.problem IS NULL) AS event_id, count(*) AS events,
               count(*) FILTER (WHERE b.problem IS NOT NULL) AS unusable_events, max(b.id) AS highest_event_id
        FROM (SELECT e.id, e.aggregate_type, e.aggregate_id, e.version,
                     order_service.event_problem(e.type, e.aggregate_type, e.payload) AS problem
              FROM (SELECT * FROM user_service.events WHERE xid >= '826'::xid8 AND xid < '1174'::xid8 AND pg_visible_in_snapshot(xid, '1174:1174:'))  e
              OFFSET 0) b
        GROUP BY b.aggregate_type, b.aggregate_id) z;
