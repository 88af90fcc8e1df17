-- Sealed connection configs are bound to their tenant, job and side (AEAD
-- associated data) from version 2 on. Rows of version 1 are re-sealed by
-- the first Freight process that starts after this migration (see
-- PgStore::reseal_configs), which also re-derives their redacted views, so
-- credentials in URL query strings are masked there too.
ALTER TABLE jobs ADD COLUMN configs_sealed_version smallint NOT NULL DEFAULT 1;
