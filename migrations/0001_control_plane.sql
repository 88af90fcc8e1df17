-- Freight control plane: jobs, their batches, record-level logs, the audit
-- trail and worker heartbeats. Every tenant-owned table carries tenant_id
-- and is guarded twice: by the queries (always filtered by tenant) and by
-- row-level security for the freight_tenant role the API switches to.

DO $$
BEGIN
    CREATE ROLE freight_tenant NOLOGIN;
EXCEPTION WHEN OTHERS THEN
    -- Roles are cluster-wide: another database may have created it already,
    -- possibly concurrently.
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_tenant') THEN
        RAISE;
    END IF;
END
$$;

DO $$
BEGIN
    -- A non-superuser owner needs membership to SET ROLE freight_tenant.
    EXECUTE format('GRANT freight_tenant TO %I', current_user);
EXCEPTION WHEN OTHERS THEN
    NULL;
END
$$;

CREATE TABLE jobs (
    id                   uuid PRIMARY KEY,
    tenant_id            text        NOT NULL,
    name                 text,
    status               text        NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'completed_with_errors', 'failed', 'cancelling', 'cancelled')),
    source_config_sealed bytea       NOT NULL,
    target_config_sealed bytea       NOT NULL,
    source_config_view   jsonb       NOT NULL,
    target_config_view   jsonb       NOT NULL,
    tables               text[]      NOT NULL DEFAULT '{}',
    exclude_tables       text[]      NOT NULL DEFAULT '{}',
    batch_size           integer     NOT NULL CHECK (batch_size BETWEEN 1 AND 100000),
    max_retries          integer     NOT NULL CHECK (max_retries >= 0),
    max_record_errors    bigint      NOT NULL DEFAULT 0 CHECK (max_record_errors >= 0),
    verify               boolean     NOT NULL DEFAULT false,
    started_by           text        NOT NULL,
    created_by           text        NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    finished_at          timestamptz,
    error_summary        text,
    -- Row counters live on the batches only; a job's are their sums.
    rows_estimated       bigint      NOT NULL DEFAULT 0,
    plan_warnings        jsonb       NOT NULL DEFAULT '[]'
);
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at DESC, id DESC);
CREATE INDEX jobs_tenant_status ON jobs (tenant_id, status);
CREATE INDEX jobs_active ON jobs (status) WHERE status IN ('queued', 'running', 'cancelling');

CREATE TABLE batches (
    id               uuid PRIMARY KEY,
    job_id           uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tenant_id        text        NOT NULL,
    seq              integer     NOT NULL,
    table_name       text        NOT NULL,
    -- Inclusive lower and exclusive upper key bound, as JSON arrays of the
    -- key columns' values; NULL means unbounded.
    key_start        jsonb,
    key_end          jsonb,
    status           text        NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'completed_with_errors', 'failed', 'cancelled')),
    attempts         integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL DEFAULT 4,
    lease_owner      text,
    lease_expires_at timestamptz,
    rows_read        bigint      NOT NULL DEFAULT 0,
    rows_written     bigint      NOT NULL DEFAULT 0,
    rows_rejected    bigint      NOT NULL DEFAULT 0,
    verified         boolean,
    verify_detail    text,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    UNIQUE (job_id, seq)
);
CREATE INDEX batches_job_status ON batches (job_id, status);
CREATE INDEX batches_open ON batches (status, lease_expires_at) WHERE status IN ('pending', 'running');

CREATE TABLE job_logs (
    id          bigserial PRIMARY KEY,
    job_id      uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tenant_id   text        NOT NULL,
    batch_id    uuid,
    level       text        NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
    table_name  text,
    record_key  jsonb,
    column_name text,
    message     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_logs_job ON job_logs (job_id, id);

CREATE TABLE audit_events (
    id          bigserial PRIMARY KEY,
    tenant_id   text        NOT NULL,
    actor       text        NOT NULL,
    actor_role  text        NOT NULL,
    action      text        NOT NULL,
    target_type text        NOT NULL,
    target_id   text,
    ip          text,
    user_agent  text,
    details     jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id DESC);

-- Infrastructure, not tenant data: shared by all tenants, no RLS.
CREATE TABLE workers (
    id             text PRIMARY KEY,
    host           text        NOT NULL,
    pid            integer     NOT NULL,
    concurrency    integer     NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    last_seen      timestamptz NOT NULL DEFAULT now(),
    in_flight      integer     NOT NULL DEFAULT 0,
    rows_processed bigint      NOT NULL DEFAULT 0,
    stopped_at     timestamptz
);

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON jobs
    USING (tenant_id = current_setting('freight.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('freight.tenant_id', true));
CREATE POLICY tenant_isolation ON batches
    USING (tenant_id = current_setting('freight.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('freight.tenant_id', true));
CREATE POLICY tenant_isolation ON job_logs
    USING (tenant_id = current_setting('freight.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('freight.tenant_id', true));
CREATE POLICY tenant_isolation ON audit_events
    USING (tenant_id = current_setting('freight.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('freight.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON jobs, batches, job_logs, audit_events TO freight_tenant;
GRANT SELECT ON workers TO freight_tenant;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO freight_tenant;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO freight_tenant;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO freight_tenant;
