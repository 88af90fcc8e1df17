-- Runs once, on the first start of the compose stack's PostgreSQL (the
-- image's /docker-entrypoint-initdb.d): an empty `warehouse` database for
-- the first migration to write into. Freight's own database (`freight`,
-- POSTGRES_DB) is created by the image and migrated by `freight api` and
-- `freight worker` at start-up.
CREATE DATABASE warehouse;
