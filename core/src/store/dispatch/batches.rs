//! Batches as dispatch sees them: the dispatch window (which pending
//! batches to push to the queue), claims and leases, outcomes.

use std::time::Duration;

use async_trait::async_trait;

use crate::ids::{BatchId, JobId, TenantId};
use crate::job::{BatchStatus, LogLevel};
use crate::store::StoreResult;
use crate::work::{BatchOutcome, BatchToRun, RejectedRecord};

use super::JobRef;

/// A batch as the queue message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRef {
    pub batch_id: BatchId,
    pub job_id: JobId,
    pub tenant: TenantId,
}

impl BatchRef {
    /// The batch's job.
    pub fn job(&self) -> JobRef {
        JobRef {
            job_id: self.job_id,
            tenant: self.tenant.clone(),
        }
    }
}

/// A batch this worker holds the lease on.
#[derive(Debug, Clone)]
pub struct ClaimedBatch {
    pub batch: BatchRef,
    pub seq: i32,
    pub run: BatchToRun,
    /// Including this one.
    pub attempts: i32,
    pub max_attempts: i32,
    /// Attempts lost to dead workers (not the batch's fault).
    pub lost_leases: i32,
}

/// What became of a batch whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptFailed {
    /// Back to pending, to run again after the backoff.
    WillRetry,
    Failed,
    /// The job is being cancelled: the batch will not run again.
    Cancelled,
    /// Another worker owns the batch now (our lease had expired).
    LeaseLost,
}

impl AttemptFailed {
    /// The job log line that records this outcome of `claimed`'s attempt.
    pub(crate) fn log_line(
        self,
        claimed: &ClaimedBatch,
        error: &str,
        retry_after: Option<Duration>,
    ) -> (LogLevel, String) {
        match self {
            AttemptFailed::WillRetry => (
                LogLevel::Warn,
                format!(
                    "batch {} attempt {} of {} failed, retrying in {:.1}s: {error}",
                    claimed.seq,
                    claimed.attempts,
                    claimed.max_attempts,
                    retry_after.map(|d| d.as_secs_f64()).unwrap_or(0.0)
                ),
            ),
            AttemptFailed::Cancelled => (
                LogLevel::Warn,
                format!(
                    "batch {} failed while the job was cancelled: {error}",
                    claimed.seq
                ),
            ),
            _ => (
                LogLevel::Error,
                format!(
                    "batch {} failed after {} attempts: {error}",
                    claimed.seq, claimed.attempts
                ),
            ),
        }
    }
}

/// A running batch whose worker stopped renewing its lease.
#[derive(Debug, Clone)]
pub struct ExpiredLease {
    pub batch: BatchRef,
    pub seq: i32,
    pub new_status: BatchStatus,
    pub previous_owner: Option<String>,
}

/// See [`DispatchBatches::dispatch_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchState {
    /// Pending batches pushed to the queue less than `redispatch_after`
    /// ago (presumed still queued).
    pub outstanding: i64,
    /// Sum of `concurrency` of workers not stopped and seen within the
    /// live window.
    pub live_slots: i64,
    /// Whether any job is `cancelling`.
    pub cancelling: bool,
}

/// Batch rows: every write that several workers may race for is atomic;
/// every write about a running batch happens under its lease
/// (`lease_owner`).
#[async_trait]
pub trait DispatchBatches: Send + Sync + 'static {
    // ----- reconciler side ---------------------------------------------

    /// Running batches whose lease expired (skipping rows locked by
    /// another reconciler) lose it: `lost_leases` + 1, `last_error` "the
    /// worker running this batch stopped (lease expired)", lease,
    /// `dispatched_at` and `not_before` cleared, and the status becomes
    /// `cancelled` when the job is `cancelling`, `failed` when
    /// `lost_leases` reaches `max_lost_leases`, else `pending`
    /// (`finished_at` set for the first two). One warn log per batch. One
    /// transaction.
    async fn expire_leases(&self, max_lost_leases: i32) -> StoreResult<Vec<ExpiredLease>>;

    /// What a queue refill needs, in one round trip (it runs after every
    /// batch): see [`DispatchState`]. `live_window` is how recently a
    /// worker's heartbeat counts it as alive.
    async fn dispatch_state(
        &self,
        redispatch_after: Duration,
        live_window: Duration,
    ) -> StoreResult<DispatchState>;

    /// Marks up to `limit` due pending batches of running jobs as
    /// dispatched now (`dispatched_at`) and returns them, for the caller
    /// to push after this returns. Due: `not_before` null or past, and not
    /// dispatched within `redispatch_after`. Jobs take turns: per job its
    /// candidates in `seq` order; the job with the fewest batches running or
    /// recently dispatched goes first (turn = that count + rank in the job),
    /// then older jobs, then `seq`. Nothing when `limit` <= 0.
    async fn take_dispatchable(
        &self,
        limit: i64,
        redispatch_after: Duration,
    ) -> StoreResult<Vec<BatchRef>>;

    /// Forgets every unclaimed dispatch (the queue lost them): `dispatched_at`
    /// cleared on every pending batch. Returns how many.
    async fn forget_dispatches(&self) -> StoreResult<u64>;

    /// Undoes [`take_dispatchable`](Self::take_dispatchable) for batches
    /// the queue did not accept (or a worker handed back), if still pending.
    async fn undispatch(&self, batches: &[BatchRef]) -> StoreResult<()>;

    /// How long until the next pending batch of a running job becomes due
    /// (`not_before` in the future), if any.
    async fn next_due_in(&self) -> StoreResult<Option<Duration>>;

    // ----- executor side -----------------------------------------------

    /// Takes the lease of a pending, due batch of a running job (the job
    /// row share-locked): `running`, `lease_owner` = `owner` until now +
    /// `ttl`, `attempts` + 1, `started_at` now, `finished_at` and
    /// `dispatched_at` cleared. The record error budget is the job's
    /// `max_record_errors` minus the rows rejected by its other batches
    /// (0 when `max_record_errors` is 0). `None` when not runnable: a
    /// duplicate message, a cancelled job, a batch another worker holds.
    /// One statement: this is the hot path.
    async fn claim_batch(
        &self,
        batch: &BatchRef,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<ClaimedBatch>>;

    /// Extends a batch lease to now + `ttl`; `false` when no longer ours.
    async fn renew_batch_lease(
        &self,
        batch: &BatchRef,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<bool>;

    /// Stores a copied batch under the lease: `completed` when nothing was
    /// rejected and verification did not fail, else `completed_with_errors`;
    /// counters, `verified`, `verify_detail`; lease, `not_before` and
    /// `last_error` cleared, `finished_at` now. With errors, in the same
    /// transaction: one error log row per rejected record (`record_key`,
    /// `column_name`, the batch's table), and on a failed verification an
    /// error log `"batch <seq> of table <t>: verification failed: <detail>"`
    /// also appended to the job's `error_summary`. `None` when the lease
    /// was lost (nothing stored). The common case is one statement.
    async fn complete_batch(
        &self,
        claimed: &ClaimedBatch,
        owner: &str,
        outcome: &BatchOutcome,
    ) -> StoreResult<Option<BatchStatus>>;

    /// Records a failed attempt under the lease: `cancelled` when the job
    /// is `cancelling`, else `pending` with `not_before` = now +
    /// `retry_after` when given, else `failed`. `last_error` = `error`,
    /// counters reset (`rows_rejected` = rejected.len()), lease and
    /// `dispatched_at` cleared. Logs the attempt (warn for retry/cancelled,
    /// error for failed) and each rejected record. One transaction;
    /// `LeaseLost` when the lease was not ours (nothing stored).
    async fn fail_attempt(
        &self,
        claimed: &ClaimedBatch,
        owner: &str,
        error: &str,
        retry_after: Option<Duration>,
        rejected: &[RejectedRecord],
    ) -> StoreResult<AttemptFailed>;

    /// Gives a batch back untouched (shutdown; the target transaction
    /// rolled back): `pending` again with this attempt not counted, or
    /// `cancelled` when the job is `cancelling`; lease and `dispatched_at`
    /// cleared. `false` when the lease was not ours.
    async fn release_batch(&self, claimed: &ClaimedBatch, owner: &str) -> StoreResult<bool>;
}
