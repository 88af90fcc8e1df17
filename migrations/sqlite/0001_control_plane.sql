-- Freight's own tables on SQLite (`freight dev`): the same schema as the
-- PostgreSQL migrations 0001-0008, translated. Applied by
-- `SqliteStore::migrate`, tracked in `_freight_migrations` (not sqlx's
-- default table, which apalis-sqlite uses for its own migrations).
--
-- Translation rules, the same in every table:
-- * uuid        -> TEXT, lowercase hyphenated (so text order = uuid order);
-- * timestamptz -> TEXT, UTC, 'YYYY-MM-DDTHH:MM:SS.ffffffZ': always six
--                  fractional digits and 'Z', so comparing the text orders
--                  by time. Defaults below pad SQLite's milliseconds to six.
-- * jsonb, text[] -> TEXT holding JSON (arrays for text[]), checked valid;
-- * boolean     -> INTEGER 0/1; enums -> TEXT with CHECK, as in PostgreSQL;
-- * bigserial   -> INTEGER PRIMARY KEY AUTOINCREMENT: ids only grow, and
--                  with one writer they are committed in order.
-- There is no row-level security: every query filters by tenant_id.
-- The triggers that write job_events and the webhook outbox are the
-- PostgreSQL ones, minus pg_notify: the store wakes its in-process
-- listeners after the commit instead.

CREATE TABLE jobs (
    id                     TEXT    PRIMARY KEY,
    tenant_id              TEXT    NOT NULL,
    name                   TEXT,
    status                 TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'completed_with_errors', 'failed', 'cancelling', 'cancelled')),
    source_config_sealed   BLOB    NOT NULL,
    target_config_sealed   BLOB    NOT NULL,
    source_config_view     TEXT    NOT NULL CHECK (json_valid(source_config_view)),
    target_config_view     TEXT    NOT NULL CHECK (json_valid(target_config_view)),
    tables                 TEXT    NOT NULL DEFAULT '[]' CHECK (json_type(tables) = 'array'),
    exclude_tables         TEXT    NOT NULL DEFAULT '[]' CHECK (json_type(exclude_tables) = 'array'),
    batch_size             INTEGER NOT NULL CHECK (batch_size BETWEEN 1 AND 100000),
    max_retries            INTEGER NOT NULL CHECK (max_retries >= 0),
    max_record_errors      INTEGER NOT NULL DEFAULT 0 CHECK (max_record_errors >= 0),
    verify                 INTEGER NOT NULL DEFAULT 0 CHECK (verify IN (0, 1)),
    started_by             TEXT    NOT NULL,
    created_by             TEXT    NOT NULL,
    created_at             TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at             TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    started_at             TEXT,
    finished_at            TEXT,
    error_summary          TEXT,
    -- Row counters live on the batches only; a job's are their sums.
    rows_estimated         INTEGER NOT NULL DEFAULT 0,
    plan_warnings          TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(plan_warnings)),
    -- 0002: the lease of the worker planning or finishing the job.
    dispatch_owner         TEXT,
    dispatch_lease_until   TEXT,
    -- 0003: configs are sealed bound to tenant, job and side from version 2.
    configs_sealed_version INTEGER NOT NULL DEFAULT 1,
    -- 0004, 0005
    key_columns            TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(key_columns) = 'object'),
    nul_characters         TEXT    NOT NULL DEFAULT 'reject' CHECK (nul_characters IN ('reject', 'strip')),
    zero_dates             TEXT    NOT NULL DEFAULT 'null' CHECK (zero_dates IN ('null', 'reject')),
    identifiers            TEXT    NOT NULL DEFAULT 'keep' CHECK (identifiers IN ('keep', 'lower'))
);
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at DESC, id DESC);
CREATE INDEX jobs_tenant_status ON jobs (tenant_id, status);
CREATE INDEX jobs_active ON jobs (status) WHERE status IN ('queued', 'running', 'cancelling');

CREATE TABLE batches (
    id               TEXT    PRIMARY KEY,
    job_id           TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tenant_id        TEXT    NOT NULL,
    seq              INTEGER NOT NULL,
    table_name       TEXT    NOT NULL,
    -- Inclusive lower and exclusive upper key bound, as JSON arrays of the
    -- key columns' values; NULL means unbounded.
    key_start        TEXT    CHECK (key_start IS NULL OR json_valid(key_start)),
    key_end          TEXT    CHECK (key_end IS NULL OR json_valid(key_end)),
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'completed_with_errors', 'failed', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 4,
    lease_owner      TEXT,
    lease_expires_at TEXT,
    rows_read        INTEGER NOT NULL DEFAULT 0,
    rows_written     INTEGER NOT NULL DEFAULT 0,
    rows_rejected    INTEGER NOT NULL DEFAULT 0,
    verified         INTEGER CHECK (verified IN (0, 1)),
    verify_detail    TEXT,
    last_error       TEXT,
    created_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    started_at       TEXT,
    finished_at      TEXT,
    -- 0002: backoff, last push to the queue, leases lost to dead workers.
    not_before       TEXT,
    dispatched_at    TEXT,
    lost_leases      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (job_id, seq)
);
CREATE INDEX batches_job_status ON batches (job_id, status);
CREATE INDEX batches_open ON batches (status, lease_expires_at) WHERE status IN ('pending', 'running');
CREATE INDEX batches_pending_by_job ON batches (job_id, seq) WHERE status = 'pending';
CREATE INDEX batches_running_lease ON batches (lease_expires_at) WHERE status = 'running';
CREATE INDEX batches_tenant_status ON batches (tenant_id, status);

CREATE TABLE job_logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tenant_id   TEXT    NOT NULL,
    batch_id    TEXT,
    level       TEXT    NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
    table_name  TEXT,
    record_key  TEXT    CHECK (record_key IS NULL OR json_valid(record_key)),
    column_name TEXT,
    message     TEXT    NOT NULL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX job_logs_job ON job_logs (job_id, id);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    actor_role  TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target_type TEXT    NOT NULL,
    target_id   TEXT,
    ip          TEXT,
    user_agent  TEXT,
    details     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id DESC);

-- Infrastructure, not tenant data: shared by all tenants.
CREATE TABLE workers (
    id             TEXT    PRIMARY KEY,
    host           TEXT    NOT NULL,
    pid            INTEGER NOT NULL,
    concurrency    INTEGER NOT NULL,
    started_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    last_seen      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    in_flight      INTEGER NOT NULL DEFAULT 0,
    rows_processed INTEGER NOT NULL DEFAULT 0,
    stopped_at     TEXT
);

-- What `pg_notify('freight_jobs')` does on PostgreSQL (0002, 0006): a job
-- inserted or its status changed, a validation inserted, counted here in
-- the same transaction; the store wakes the dispatch side after the commit
-- when the count moved.
CREATE TABLE dispatch_wakeups (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO dispatch_wakeups (id, seq) VALUES (1, 0);

CREATE TRIGGER jobs_wake_insert AFTER INSERT ON jobs
BEGIN
    UPDATE dispatch_wakeups SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER jobs_wake_status AFTER UPDATE OF status ON jobs
    WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE dispatch_wakeups SET seq = seq + 1 WHERE id = 1;
END;

-- 0006: validation after the load.
CREATE TABLE validations (
    id           TEXT    PRIMARY KEY,
    tenant_id    TEXT    NOT NULL,
    job_id       TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    status       TEXT    NOT NULL CHECK (status IN ('running', 'passed', 'failed')),
    ranges_total INTEGER NOT NULL DEFAULT 0,
    mismatched   INTEGER NOT NULL DEFAULT 0,
    created_by   TEXT    NOT NULL,
    started_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    checked_at   TEXT
);
CREATE INDEX validations_job ON validations (tenant_id, job_id, started_at DESC);
-- At most one validation of a job runs at a time.
CREATE UNIQUE INDEX validations_one_running ON validations (job_id) WHERE status = 'running';

CREATE TRIGGER validations_wake_insert AFTER INSERT ON validations
BEGIN
    UPDATE dispatch_wakeups SET seq = seq + 1 WHERE id = 1;
END;

CREATE TABLE validation_results (
    validation_id    TEXT    NOT NULL REFERENCES validations (id) ON DELETE CASCADE,
    batch_id         TEXT    NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    tenant_id        TEXT    NOT NULL,
    job_id           TEXT    NOT NULL,
    seq              INTEGER NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'checked')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at TEXT,
    not_before       TEXT,
    source_count     INTEGER,
    target_count     INTEGER,
    -- Sums of per-row hashes, as decimal text (they exceed 64 bits).
    source_checksum  TEXT,
    target_checksum  TEXT,
    matched          INTEGER CHECK (matched IN (0, 1)),
    detail           TEXT,
    checked_at       TEXT,
    PRIMARY KEY (validation_id, batch_id)
);
CREATE INDEX validation_results_open ON validation_results (status, lease_expires_at)
    WHERE status IN ('pending', 'running');
CREATE INDEX validation_results_batch ON validation_results (batch_id);

-- 0007: durable job events for `stream_job_events`. With one writer, a
-- smaller seq can never commit after a larger one, so readers need no
-- PostgreSQL-style visibility check.
CREATE TABLE job_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT    NOT NULL,
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('status', 'batch_failed')),
    data       TEXT    NOT NULL CHECK (json_valid(data)),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX job_events_job ON job_events (job_id, seq);

CREATE TRIGGER jobs_status_event AFTER INSERT ON jobs
BEGIN
    INSERT INTO job_events (tenant_id, job_id, kind, data)
    VALUES (NEW.tenant_id, NEW.id, 'status', json_object(
        'status', NEW.status,
        'previous_status', NULL,
        'error_summary', NEW.error_summary));
END;

CREATE TRIGGER jobs_status_change_event AFTER UPDATE OF status ON jobs
    WHEN OLD.status IS NOT NEW.status
BEGIN
    INSERT INTO job_events (tenant_id, job_id, kind, data)
    VALUES (NEW.tenant_id, NEW.id, 'status', json_object(
        'status', NEW.status,
        'previous_status', OLD.status,
        'error_summary', NEW.error_summary));
END;

-- A failed attempt: the batch failed for good, or went back to pending
-- with a new error (a retry with backoff follows).
CREATE TRIGGER batches_failed_event AFTER UPDATE ON batches
    WHEN (NEW.status = 'failed' AND OLD.status IS NOT 'failed')
      OR (NEW.status = 'pending' AND NEW.last_error IS NOT NULL
          AND (NEW.last_error IS NOT OLD.last_error OR NEW.attempts <> OLD.attempts))
BEGIN
    INSERT INTO job_events (tenant_id, job_id, kind, data)
    VALUES (NEW.tenant_id, NEW.job_id, 'batch_failed', json_object(
        'batch_id', NEW.id,
        'table_name', NEW.table_name,
        'attempt', NEW.attempts,
        'error', NEW.last_error,
        'final', json(CASE WHEN NEW.status = 'failed' THEN 'true' ELSE 'false' END)));
END;

-- 0008: webhooks and the outbox of their deliveries, written in the
-- transaction that finishes the job or validation.
CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL CHECK (json_type(events) = 'array'),
    -- The signing secret, sealed like connection configs (bound to the row).
    secret_sealed BLOB NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, created_at DESC);

CREATE TABLE webhook_deliveries (
    id              TEXT    PRIMARY KEY,
    tenant_id       TEXT    NOT NULL,
    webhook_id      TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_type      TEXT    NOT NULL,
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    lease_owner     TEXT,
    lease_until     TEXT,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    delivered_at    TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC);

CREATE TRIGGER jobs_webhook_outbox AFTER UPDATE OF status ON jobs
    WHEN OLD.status IS NOT NEW.status
     AND NEW.status IN ('completed', 'completed_with_errors', 'failed', 'cancelled')
BEGIN
    INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, event_type, payload)
    -- gen_random_uuid(): a version 4 uuid from 16 random bytes, evaluated per row.
    SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
           || substr(lower(hex(randomblob(2))), 2) || '-'
           || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) || '-'
           || lower(hex(randomblob(6))),
           w.tenant_id, w.id, 'job.' || NEW.status, json_object(
        'type', 'job.' || NEW.status,
        'timestamp', strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'),
        'data', json_object(
            'job_id', NEW.id,
            'name', NEW.name,
            'status', NEW.status,
            -- Job counters are sums over its batches.
            'rows_read', (SELECT COALESCE(sum(rows_read), 0) FROM batches WHERE job_id = NEW.id),
            'rows_written', (SELECT COALESCE(sum(rows_written), 0) FROM batches WHERE job_id = NEW.id),
            'rows_rejected', (SELECT COALESCE(sum(rows_rejected), 0) FROM batches WHERE job_id = NEW.id),
            'error_summary', NEW.error_summary,
            'started_at', NEW.started_at,
            'finished_at', NEW.finished_at))
    FROM webhooks w
    WHERE w.tenant_id = NEW.tenant_id
      AND EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value = 'job.' || NEW.status);
END;

-- `validation.finished`: a validation settled passed or failed.
CREATE TRIGGER validations_webhook_outbox AFTER UPDATE OF status ON validations
    WHEN OLD.status IS NOT NEW.status AND NEW.status IN ('passed', 'failed')
BEGIN
    INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, event_type, payload)
    -- gen_random_uuid(): a version 4 uuid from 16 random bytes, evaluated per row.
    SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
           || substr(lower(hex(randomblob(2))), 2) || '-'
           || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) || '-'
           || lower(hex(randomblob(6))),
           w.tenant_id, w.id, 'validation.finished', json_object(
        'type', 'validation.finished',
        'timestamp', strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'),
        'data', json_object(
            'job_id', NEW.job_id,
            'validation_id', NEW.id,
            'status', NEW.status,
            'ranges_checked', NEW.ranges_total,
            'mismatched_ranges', NEW.mismatched,
            'checked_at', NEW.checked_at))
    FROM webhooks w
    WHERE w.tenant_id = NEW.tenant_id
      AND EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value = 'validation.finished');
END;
