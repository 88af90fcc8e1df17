-- Job events numbered in commit order, so readers need not hold events
-- back for older transactions.
--
-- Before, an event took its `seq` when its row was written and readers
-- delivered it only once `xid < pg_snapshot_xmin(pg_current_snapshot())`:
-- no older transaction could still commit a smaller `seq`. But xids and
-- the snapshot's xmin are cluster-wide, so one long or idle-in-transaction
-- session in ANY database of the cluster stalled every event stream.
--
-- Now the triggers are deferred to commit time and number the event under
-- a transaction-level advisory lock held until the transaction ends. A
-- transaction becomes visible before it releases its locks, so when a
-- reader sees event `n`, every event numbered before it was taken by a
-- transaction that had already committed (and is visible) or rolled back:
-- `seq > last id seen` misses nothing, and readers add no condition.
--
-- Cost: writers of job events (status changes, failed batch attempts: a
-- few per job, not per row) serialize only for the last moment of their
-- commit. Holding the lock, a transaction only inserts its events: the
-- foreign key to `jobs` (whose check would take a key-share lock on the
-- job row and could wait, lock held, on a transaction that will want the
-- lock itself) is replaced by a trigger deleting a deleted job's events.
-- The events are written by triggers on the job's own rows, so their
-- `job_id` always names an existing job.

-- SQLite needs no counterpart: its one writer already commits in `seq`
-- order (see SqliteStore's writer).

ALTER TABLE job_events DROP CONSTRAINT job_events_job_id_fkey;

CREATE FUNCTION freight_job_events_cascade() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_events WHERE job_id = OLD.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER jobs_events_cascade AFTER DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION freight_job_events_cascade();
GRANT DELETE ON job_events TO freight_tenant;

-- Orders the commits of event writers (advisory locks are per database,
-- so this only concerns this database's writers).
CREATE FUNCTION freight_job_events_order() RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(7318291043021)
$$;

CREATE OR REPLACE FUNCTION freight_job_status_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM freight_job_events_order();
    INSERT INTO job_events (tenant_id, job_id, kind, data)
    VALUES (NEW.tenant_id, NEW.id, 'status', jsonb_build_object(
        'status', NEW.status,
        'previous_status', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
        'error_summary', NEW.error_summary));
    PERFORM pg_notify('freight_job_events', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION freight_batch_failed_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM freight_job_events_order();
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

-- The same triggers, run at commit (each with the row as the triggering
-- statement left it).
DROP TRIGGER jobs_status_event ON jobs;
DROP TRIGGER jobs_status_change_event ON jobs;
DROP TRIGGER batches_failed_event ON batches;

CREATE CONSTRAINT TRIGGER jobs_status_event AFTER INSERT ON jobs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION freight_job_status_event();
CREATE CONSTRAINT TRIGGER jobs_status_change_event AFTER UPDATE OF status ON jobs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION freight_job_status_event();
CREATE CONSTRAINT TRIGGER batches_failed_event AFTER UPDATE ON batches
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (
        (NEW.status = 'failed' AND OLD.status IS DISTINCT FROM 'failed')
        OR (NEW.status = 'pending' AND NEW.last_error IS NOT NULL
            AND (NEW.last_error IS DISTINCT FROM OLD.last_error OR NEW.attempts <> OLD.attempts)))
    EXECUTE FUNCTION freight_batch_failed_event();

COMMENT ON COLUMN job_events.xid IS
    'Writing transaction (diagnostics only since 0010: seq is assigned in commit order).';
