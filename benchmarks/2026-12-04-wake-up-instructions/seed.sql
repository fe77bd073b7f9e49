-- The seed of count.sh's cluster, after schema.sql (as the benchmark's wake-ups phase seeds it);
-- then run SELECT * FROM order_service.apply_next_chunk('order-service') until it returns more = f.
INSERT INTO user_service.users (firstname, lastname, email) SELECT 'F', 'L', 'u' || i || '@bench.io' FROM generate_series(5, 10000) AS i;
INSERT INTO order_service.purchase_orders (user_id, product_id, doc)
SELECT u.id, 1, jsonb_build_object('price', 300) FROM user_service.users u WHERE u.id > 1;
INSERT INTO order_service.consumer_positions (consumer) VALUES ('order-service');
VACUUM ANALYZE;
