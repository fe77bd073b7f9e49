-- What event_problem() costs per event, and its parts, over every event of a copy of
-- ../2026-12-04-batch-problem-once/catch-up-shape.sh's database after its catch-up (1.1 million events):
--   psql -d COPY -f problem-cost.sql | grep Time
-- Twenty-fifth session, in order: 112.8 ms (count), 1,329.6 (the whole check), 234.1 (type list),
-- 245.9 (an object), 996.6 (a user's three string fields), 207.8 (type matches aggregate), 1,038.7
-- (the three fields as one jsonpath).
SET jit=off; SET max_parallel_workers_per_gather=0;
\timing on
SELECT count(*) FROM user_service.events;
SELECT count(*) FROM user_service.events WHERE order_service.event_problem(type, aggregate_type, payload) IS NULL;
SELECT count(*) FROM user_service.events WHERE type IN ('UserCreated', 'UserUpdated', 'UserDeleted', 'ProductCreated', 'ProductUpdated', 'ProductDeleted');
SELECT count(*) FROM user_service.events WHERE jsonb_typeof(payload) = 'object';
SELECT count(*) FROM user_service.events WHERE jsonb_typeof(payload -> 'firstname') IS NOT DISTINCT FROM 'string' AND jsonb_typeof(payload -> 'lastname') IS NOT DISTINCT FROM 'string' AND jsonb_typeof(payload -> 'email') IS NOT DISTINCT FROM 'string';
SELECT count(*) FROM user_service.events WHERE (aggregate_type = 'user') <> (type LIKE 'User%');
SELECT count(*) FROM user_service.events WHERE payload @? '$ ? (@.firstname.type() == "string" && @.lastname.type() == "string" && @.email.type() == "string")';
