-- batch_work of a931db2 (created as batch_work_old from that schema.sql) against 3822793's, alternated, on database s1 (a million pending events; consumer position 830:830:).
\timing on
SET work_mem='64MB';
SET enable_seqscan = on;
SELECT 'old', count(*) FROM order_service.batch_work_old('830:830:', pg_current_snapshot(), NULL, NULL);
SELECT 'new', count(*) FROM order_service.batch_work('830:830:', pg_current_snapshot(), NULL, NULL);
SELECT 'old', count(*) FROM order_service.batch_work_old('830:830:', pg_current_snapshot(), NULL, NULL);
SELECT 'new', count(*) FROM order_service.batch_work('830:830:', pg_current_snapshot(), NULL, NULL);
SELECT 'old', count(*) FROM order_service.batch_work_old('830:830:', pg_current_snapshot(), NULL, NULL);
SELECT 'new', count(*) FROM order_service.batch_work('830:830:', pg_current_snapshot(), NULL, NULL);
SELECT 'old', count(*) FROM order_service.batch_work_old('830:830:', pg_current_snapshot(), NULL, NULL);
SELECT 'new', count(*) FROM order_service.batch_work('830:830:', pg_current_snapshot(), NULL, NULL);
SELECT count(*) FROM (SELECT * FROM order_service.batch_work_old('830:830:', pg_current_snapshot(), NULL, NULL) EXCEPT SELECT * FROM order_service.batch_work('830:830:', pg_current_snapshot(), NULL, NULL)) d;
