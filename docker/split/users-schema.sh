#!/usr/bin/env bash
# docker compose --profile split: the users' server's side of schema.sql (docs/replication.md),
# run by the postgres image's entrypoint on first start (PGUSER/PGPASSWORD are set for it).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname "$POSTGRES_DB" -v part=users -f /ecst/schema.sql
psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname "$POSTGRES_DB" -f /ecst/passwords.sql
