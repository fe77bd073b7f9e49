SET synchronous_commit = off;
WITH p AS (SELECT last_event_id FROM order_service.consumer_positions WHERE consumer = 'minimal' FOR UPDATE),
e AS (SELECT ev.id, ev.aggregate_id, ev.version, ev.payload FROM user_service.events ev WHERE ev.id > (SELECT last_event_id FROM p) ORDER BY ev.id LIMIT 1),
u AS (UPDATE order_service.users r SET email = e.payload ->> 'email', firstname = e.payload ->> 'firstname', lastname = e.payload ->> 'lastname' FROM e WHERE r.id = e.aggregate_id RETURNING r.id, r.email),
o AS (UPDATE order_service.purchase_orders po SET doc = jsonb_set(po.doc, '{user,email}', to_jsonb(u.email)) FROM u WHERE po.user_id = u.id RETURNING 1)
UPDATE order_service.consumer_positions SET last_event_id = (SELECT id FROM e), applied_events = applied_events + (SELECT count(*) FROM o) WHERE consumer = 'minimal';
