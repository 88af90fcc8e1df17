//! Jobs as dispatch sees them: started, leased to one worker for planning
//! or finishing, given their batches, settled.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::connection::ConnectionConfig;
use crate::ids::{JobId, TenantId};
use crate::job::{Identifiers, JobStatus, NulCharacters, ZeroDates};
use crate::store::StoreResult;
use crate::work::JobPlan;

/// A job, named the way every query wants it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobRef {
    pub job_id: JobId,
    pub tenant: TenantId,
}

/// A `queued` job that [`DispatchJobs::start_queued_job`] moved to `running`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedJob {
    pub job: JobRef,
    /// Pending batches it already had (a retry), made dispatchable at once.
    pub pending_batches: i64,
}

/// What a job runs with, connection configs decrypted: the worker builds
/// the engine's job context from it. None of it changes after creation.
#[derive(Debug, Clone)]
pub struct JobSettings {
    pub job: JobRef,
    pub source: ConnectionConfig,
    pub target: ConnectionConfig,
    /// Tables requested; empty means every table of the source.
    pub tables: Vec<String>,
    pub exclude_tables: Vec<String>,
    /// At least 1.
    pub batch_size: u32,
    pub verify: bool,
    /// Columns to cut batches on, per table.
    pub key_columns: BTreeMap<String, Vec<String>>,
    pub nul_characters: NulCharacters,
    pub zero_dates: ZeroDates,
    pub identifiers: Identifiers,
}

/// What [`DispatchJobs::store_plan`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanStored {
    Stored {
        batches: usize,
    },
    /// The job was cancelled (or taken over) while planning; nothing stored.
    Discarded,
}

/// Job leases (`jobs.dispatch_owner` / `dispatch_lease_until`): the one
/// worker planning or finishing a job holds it; it expires on its own.
#[async_trait]
pub trait DispatchJobs: Send + Sync + 'static {
    /// Moves the oldest `queued` job (by `created_at`, then id) to
    /// `running`: `started_at` kept if set, `finished_at` and the job lease
    /// cleared. Its pending batches (after a retry) get `not_before`,
    /// `dispatched_at` cleared and `lost_leases` = 0. Logs "job started"
    /// (info). One transaction; `None` when no job is queued.
    async fn start_queued_job(&self) -> StoreResult<Option<StartedJob>>;

    /// Takes the job lease (`owner`, for `ttl`) of the oldest running job
    /// that has **no batches** yet (new, or its planner died) and whose
    /// lease is free or expired.
    async fn claim_job_to_plan(&self, owner: &str, ttl: Duration) -> StoreResult<Option<JobRef>>;

    /// Takes the job lease of the oldest running job that has batches,
    /// **none** of them `pending` or `running`, and whose lease is free or
    /// expired.
    async fn claim_job_to_finish(&self, owner: &str, ttl: Duration) -> StoreResult<Option<JobRef>>;

    /// Extends the job lease to now + `ttl`; `false` when the job is no
    /// longer running or the lease no longer `owner`'s.
    async fn renew_job_lease(&self, job: &JobRef, owner: &str, ttl: Duration) -> StoreResult<bool>;

    /// The job's settings, connection configs opened for this tenant, job
    /// and side. `NotFound` for an unknown job; `Secret` when a config does
    /// not open; `Corrupt` for configs sealed in an older format.
    async fn job_settings(&self, job: &JobRef) -> StoreResult<JobSettings>;

    /// If the job is running and `owner` holds its lease (row locked for
    /// the transaction): inserts every planned batch (`pending`, `seq` =
    /// index in `plan.batches`, `max_attempts` = job's `max_retries` + 1),
    /// sets `rows_estimated` and `plan_warnings` (the report's warnings,
    /// then each table's as `"<table>: <warning>"`), releases the lease,
    /// and logs "planned N batches over T tables, about R rows" (info) and
    /// each warning (warn). With no batches the job is also `completed`
    /// (`finished_at` now) and "job completed: nothing to copy" is logged.
    /// One transaction; `Discarded` (nothing written) otherwise.
    async fn store_plan(
        &self,
        job: &JobRef,
        owner: &str,
        plan: &JobPlan,
    ) -> StoreResult<PlanStored>;

    /// Ends a running job whose lease `owner` holds as `failed` with
    /// `summary` (also logged, error) and releases the lease; `false` when
    /// it was not ours.
    async fn fail_job(&self, job: &JobRef, owner: &str, summary: &str) -> StoreResult<bool>;

    /// Gives the job lease back without a state change; nobody takes it
    /// before `retry_after` has passed.
    async fn release_job_lease(
        &self,
        job: &JobRef,
        owner: &str,
        retry_after: Duration,
    ) -> StoreResult<()>;

    /// Settles a running job whose lease `owner` holds and whose batches
    /// are all final. The values batches converted (zero dates copied as NULL,
    /// `tinyint(1)` values other than 0/1 copied as true: noted in their
    /// `verify_detail`, see [`crate::work::CONVERSIONS_NOTE`]) are summed per
    /// table and column into warnings appended to `plan_warnings` (each
    /// logged as warn). `finish` is what recreating indexes and foreign keys
    /// gave: `Some(Ok(warnings))` (appended to `plan_warnings` too, each logged
    /// as warn), `Some(Err(message))` (logged as error, a problem), `None`
    /// when skipped (failed or cancelled batches). Status: `failed` if a
    /// batch failed, else `completed_with_errors` if any batch completed
    /// with errors, was cancelled, did not verify, rejected records, or the
    /// finish failed, else `completed`; `error_summary` joins the problems
    /// with "; ". If a batch is open again (lease expiry), releases the
    /// lease and returns `None`; `None` also when the lease is not ours.
    /// One transaction.
    async fn finalize_job(
        &self,
        job: &JobRef,
        owner: &str,
        finish: Option<Result<Vec<String>, String>>,
    ) -> StoreResult<Option<JobStatus>>;

    /// Failed or cancelled batches of the job.
    async fn unsuccessful_batches(&self, job: &JobRef) -> StoreResult<i64>;

    /// Pending batches of `cancelling` jobs become `cancelled`; `cancelling`
    /// jobs with no running batch become `cancelled` (lease cleared, "job
    /// cancelled" logged). One transaction; returns the jobs cancelled.
    async fn settle_cancelling(&self) -> StoreResult<Vec<JobRef>>;

    /// Of `jobs`, those no longer `queued`, `running` or `cancelling`
    /// (unknown ids included).
    async fn inactive_jobs(&self, jobs: &[JobId]) -> StoreResult<Vec<JobId>>;

    /// One item whenever a job may need the reconciler or the validator: a
    /// job inserted or its `status` changed, a validation inserted (Postgres:
    /// triggers `NOTIFY freight_jobs`, read with `LISTEN`; an in-process
    /// backend announces its own writes, the API's included). The
    /// stream ends when the backend loses the listening connection; the
    /// caller opens another (and polls meanwhile).
    async fn watch_jobs(&self) -> StoreResult<BoxStream<'static, ()>>;
}
