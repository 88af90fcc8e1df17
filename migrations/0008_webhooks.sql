-- Webhooks: a tenant's endpoints and the outbox of their deliveries.
-- Deliveries are written by a trigger in the transaction that finishes the
-- job (so none is lost or sent for a change that rolled back), then sent by
-- workers with retries; `id` is the stable Standard Webhooks message id.
CREATE TABLE webhooks (
    id            uuid        PRIMARY KEY,
    tenant_id     text        NOT NULL,
    url           text        NOT NULL,
    events        text[]      NOT NULL,
    -- The signing secret, sealed like connection configs (bound to the row).
    secret_sealed bytea       NOT NULL,
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, created_at DESC);

CREATE TABLE webhook_deliveries (
    id              uuid        PRIMARY KEY,
    tenant_id       text        NOT NULL,
    webhook_id      uuid        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_type      text        NOT NULL,
    payload         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner     text,
    lease_until     timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC);

ALTER TABLE webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhooks
    USING (tenant_id = current_setting('freight.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('freight.tenant_id', true));
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING (tenant_id = current_setting('freight.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('freight.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON webhooks, webhook_deliveries TO freight_tenant;

CREATE FUNCTION freight_job_webhook_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    event text := 'job.' || NEW.status;
    counts record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.tenant_id = NEW.tenant_id AND event = ANY (w.events)) THEN
        RETURN NULL;
    END IF;
    -- Job counters are sums over its batches.
    SELECT COALESCE(sum(rows_read), 0) AS rows_read, COALESCE(sum(rows_written), 0) AS rows_written,
           COALESCE(sum(rows_rejected), 0) AS rows_rejected
      INTO counts FROM batches WHERE job_id = NEW.id;
    INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, event_type, payload)
    SELECT gen_random_uuid(), w.tenant_id, w.id, event, jsonb_build_object(
        'type', event,
        'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'data', jsonb_build_object(
            'job_id', NEW.id,
            'name', NEW.name,
            'status', NEW.status,
            'rows_read', counts.rows_read,
            'rows_written', counts.rows_written,
            'rows_rejected', counts.rows_rejected,
            'error_summary', NEW.error_summary,
            'started_at', NEW.started_at,
            'finished_at', NEW.finished_at))
    FROM webhooks w
    WHERE w.tenant_id = NEW.tenant_id AND event = ANY (w.events);
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_webhook_outbox AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       AND NEW.status IN ('completed', 'completed_with_errors', 'failed', 'cancelled'))
    EXECUTE FUNCTION freight_job_webhook_outbox();

-- `validation.finished`: a validation settled passed or failed.
CREATE FUNCTION freight_validation_webhook_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, event_type, payload)
    SELECT gen_random_uuid(), w.tenant_id, w.id, 'validation.finished', jsonb_build_object(
        'type', 'validation.finished',
        'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'data', jsonb_build_object(
            'job_id', NEW.job_id,
            'validation_id', NEW.id,
            'status', NEW.status,
            'ranges_checked', NEW.ranges_total,
            'mismatched_ranges', NEW.mismatched,
            'checked_at', NEW.checked_at))
    FROM webhooks w
    WHERE w.tenant_id = NEW.tenant_id AND 'validation.finished' = ANY (w.events);
    RETURN NULL;
END
$$;

CREATE TRIGGER validations_webhook_outbox AFTER UPDATE OF status ON validations
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('passed', 'failed'))
    EXECUTE FUNCTION freight_validation_webhook_outbox();
