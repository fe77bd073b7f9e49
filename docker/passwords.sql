-- docker compose only: passwords for the service roles, so the services can log in over the
-- network with the image's default scram-sha-256 authentication. Change them for anything real.
ALTER ROLE user_service PASSWORD 'user_service';
ALTER ROLE order_service PASSWORD 'order_service';
