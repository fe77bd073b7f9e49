-- A one-event wake-up (apply_next_chunk after one UPDATE) and an empty read (apply_next_chunk again), beside a bare round trip (ad-hoc.log item 7).
\set id random(5, 10004)
UPDATE user_service.users SET email = 'w' || :id || '@x.io' WHERE id = :id;
SELECT 1;
SELECT busy, events, orders_updated, more FROM order_service.apply_next_chunk('order-service', 5000, 'bench', '{}');
SELECT busy, events, orders_updated, more FROM order_service.apply_next_chunk('order-service', 5000, 'bench', '{}');
