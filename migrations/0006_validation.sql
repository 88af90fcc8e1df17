-- Validation after the load (`validate_migration_job`): source and target
-- compared per batch key range by row count and an in-database checksum.
--
-- validations:        one per request; the job view shows the newest.
--                     `running` until every range is checked, then
--                     `passed` or `failed` (`mismatched` ranges differ or
--                     could not be checked).
-- validation_results: one task per batch of the job, claimed by workers
--                     under a lease like batches (Postgres is the record;
--                     a dead worker's lease expires and another takes it),
--                     then the result of the range: counts and checksums
--                     of both sides, `matched`.
CREATE TABLE validations (
    id           uuid PRIMARY KEY,
    tenant_id    text        NOT NULL,
    job_id       uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    status       text        NOT NULL CHECK (status IN ('running', 'passed', 'failed')),
    ranges_total integer     NOT NULL DEFAULT 0,
    mismatched   integer     NOT NULL DEFAULT 0,
    created_by   text        NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    checked_at   timestamptz
);
CREATE INDEX validations_job ON validations (tenant_id, job_id, started_at DESC);
-- At most one validation of a job runs at a time.
CREATE UNIQUE INDEX validations_one_running ON validations (job_id) WHERE status = 'running';

CREATE TABLE validation_results (
    validation_id    uuid        NOT NULL REFERENCES validations (id) ON DELETE CASCADE,
    batch_id         uuid        NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    tenant_id        text        NOT NULL,
    job_id           uuid        NOT NULL,
    seq              integer     NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'running', 'checked')),
    attempts         integer     NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_expires_at timestamptz,
    not_before       timestamptz,
    source_count     bigint,
    target_count     bigint,
    -- Sums of per-row hashes, as decimal text (they exceed bigint).
    source_checksum  text,
    target_checksum  text,
    matched          boolean,
    detail           text,
    checked_at       timestamptz,
    PRIMARY KEY (validation_id, batch_id)
);
CREATE INDEX validation_results_open ON validation_results (status, lease_expires_at)
    WHERE status IN ('pending', 'running');
CREATE INDEX validation_results_batch ON validation_results (batch_id);

ALTER TABLE validations ENABLE ROW LEVEL SECURITY;
ALTER TABLE validation_results ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON validations
    USING (tenant_id = current_setting('freight.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('freight.tenant_id', true));
CREATE POLICY tenant_isolation ON validation_results
    USING (tenant_id = current_setting('freight.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('freight.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON validations, validation_results TO freight_tenant;

-- Wake the workers when a validation is requested.
CREATE FUNCTION freight_notify_validation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('freight_jobs', NEW.job_id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER validations_notify_insert AFTER INSERT ON validations
    FOR EACH ROW EXECUTE FUNCTION freight_notify_validation();
