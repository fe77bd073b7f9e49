-- For count.sh, a measurement only, never to apply to a real database: pending_events() as its first branch's one index scan, nothing around it (wrong whenever `since` lists transactions in progress).
CREATE OR REPLACE FUNCTION order_service.pending_events(
    since pg_snapshot, upto pg_snapshot, after_xid xid8 DEFAULT NULL, after_id bigint DEFAULT NULL, max_events integer DEFAULT NULL)
RETURNS SETOF user_service.events LANGUAGE sql STABLE AS $$
        SELECT * FROM user_service.events
         WHERE (xid, id) > (CASE WHEN after_xid >= pg_snapshot_xmax(since) THEN after_xid ELSE pg_snapshot_xmax(since) END,
                            CASE WHEN after_xid >= pg_snapshot_xmax(since) THEN after_id ELSE 0 END)
           AND xid < pg_snapshot_xmax(upto)
           AND pg_visible_in_snapshot(xid, upto)
         ORDER BY xid, id
         LIMIT max_events
$$;
