-- Durable job events for `stream_job_events`: every status change of a job
-- and every failed batch attempt, written by triggers in the transaction
-- that made the change (so no code path can forget one), announced on
-- `freight_job_events` so any API replica can serve any job's stream.
CREATE TABLE job_events (
    seq        bigserial   PRIMARY KEY,
    tenant_id  text        NOT NULL,
    job_id     uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind       text        NOT NULL CHECK (kind IN ('status', 'batch_failed')),
    data       jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Readers deliver an event only once no older transaction can still
    -- commit a smaller seq (see PgStore::job_events): ids never go back.
    xid        xid8        NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX job_events_job ON job_events (job_id, seq);

ALTER TABLE job_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON job_events
    USING (tenant_id = current_setting('freight.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('freight.tenant_id', true));
GRANT SELECT, INSERT ON job_events TO freight_tenant;
GRANT USAGE, SELECT ON SEQUENCE job_events_seq_seq TO freight_tenant;

CREATE FUNCTION freight_job_status_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_events (tenant_id, job_id, kind, data)
    VALUES (NEW.tenant_id, NEW.id, 'status', jsonb_build_object(
        'status', NEW.status,
        'previous_status', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
        'error_summary', NEW.error_summary));
    PERFORM pg_notify('freight_job_events', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_status_event AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION freight_job_status_event();
CREATE TRIGGER jobs_status_change_event AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION freight_job_status_event();

-- A failed attempt: the batch failed for good, or went back to pending
-- with a new error (a retry with backoff follows).
CREATE FUNCTION freight_batch_failed_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_events (tenant_id, job_id, kind, data)
    VALUES (NEW.tenant_id, NEW.job_id, 'batch_failed', jsonb_build_object(
        'batch_id', NEW.id,
        'table_name', NEW.table_name,
        'attempt', NEW.attempts,
        'error', NEW.last_error,
        'final', NEW.status = 'failed'));
    PERFORM pg_notify('freight_job_events', NEW.job_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER batches_failed_event AFTER UPDATE ON batches
    FOR EACH ROW WHEN (
        (NEW.status = 'failed' AND OLD.status IS DISTINCT FROM 'failed')
        OR (NEW.status = 'pending' AND NEW.last_error IS NOT NULL
            AND (NEW.last_error IS DISTINCT FROM OLD.last_error OR NEW.attempts <> OLD.attempts)))
    EXECUTE FUNCTION freight_batch_failed_event();
