-- Dispatch bookkeeping: Postgres is the system of record for what runs
-- where; Redis only carries "run batch X" messages and may lose them.

-- not_before:    a batch retried after a transient failure waits until then
--                (exponential backoff, counted in `attempts`).
-- dispatched_at: when a reconciler last pushed the batch to Redis; a pending
--                batch dispatched long ago was lost by Redis and is pushed again.
-- lost_leases:   how often a worker died (lease expired) while running it;
--                a batch that keeps killing workers ends failed.
ALTER TABLE batches
    ADD COLUMN not_before    timestamptz,
    ADD COLUMN dispatched_at timestamptz,
    ADD COLUMN lost_leases   integer NOT NULL DEFAULT 0;

CREATE INDEX batches_pending_by_job ON batches (job_id, seq) WHERE status = 'pending';
CREATE INDEX batches_running_lease ON batches (lease_expires_at) WHERE status = 'running';

-- A short lease on the job itself, held by the worker planning it or
-- finishing it (indexes, foreign keys), so that exactly one does.
ALTER TABLE jobs
    ADD COLUMN dispatch_owner       text,
    ADD COLUMN dispatch_lease_until timestamptz;

-- Wake the reconcilers when a job is created or changes state (create,
-- cancel, retry), instead of waiting for their next poll.
CREATE FUNCTION freight_notify_job() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('freight_jobs', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION freight_notify_job();
CREATE TRIGGER jobs_notify_status AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION freight_notify_job();
