//! The validation phase's range tasks (`validation_results`): claimed
//! under a lease like batches, results recorded under the lease, a
//! validation settled once no range is open. The queue is not involved:
//! a dead worker's lease expires and the range is taken again.

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::ids::JobId;
use crate::store::{StoreResult, ValidationStatus};
use crate::work::{RangeCheck, RangeToValidate};

use super::JobRef;

/// A range task this worker holds the lease on.
#[derive(Debug, Clone)]
pub struct ClaimedRange {
    pub validation_id: Uuid,
    pub job: JobRef,
    /// Including this one.
    pub attempts: i32,
    pub range: RangeToValidate,
}

/// A validation that just ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledValidation {
    pub validation_id: Uuid,
    pub job_id: JobId,
    /// `Passed` or `Failed`.
    pub status: ValidationStatus,
    /// Ranges that did not match (or could not be compared).
    pub mismatched: i32,
}

#[async_trait]
pub trait DispatchValidations: Send + Sync + 'static {
    /// Running range tasks whose lease expired go back to `pending` (lease
    /// cleared). Returns how many.
    async fn expire_validation_leases(&self) -> StoreResult<u64>;

    /// Takes the lease of one pending, due (`not_before` null or past)
    /// range of a `running` validation whose job is final (`completed`,
    /// `completed_with_errors`, `failed`, `cancelled`: a retry in progress
    /// waits), oldest validation first, then `seq`: `running`, `lease_owner`
    /// = `owner` until now + `ttl`, `attempts` + 1. The range's table and
    /// bounds come from its batch.
    async fn claim_validation_range(
        &self,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<ClaimedRange>>;

    /// Extends a range lease; `false` when no longer ours.
    async fn renew_validation_lease(
        &self,
        claimed: &ClaimedRange,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<bool>;

    /// Stores the comparison under the lease: `checked`, both counts and
    /// checksums (as decimal text), `matched`, `detail`, `checked_at` now,
    /// lease cleared. `false` when the lease was lost (nothing stored).
    async fn record_range(
        &self,
        claimed: &ClaimedRange,
        owner: &str,
        check: &RangeCheck,
    ) -> StoreResult<bool>;

    /// A range that could not be compared, under the lease: with
    /// `retry_after`, `pending` again with `not_before` = now +
    /// `retry_after`; without, `checked` and not matched (`checked_at`
    /// now). `detail` = `"could not compare the range: <message>"`; lease
    /// cleared. `false` when the lease was lost.
    async fn fail_range(
        &self,
        claimed: &ClaimedRange,
        owner: &str,
        message: &str,
        retry_after: Option<Duration>,
    ) -> StoreResult<bool>;

    /// Ends every running validation with no range left unchecked
    /// (skipping those another worker is settling): `passed` when all
    /// matched, else `failed`, with `mismatched` and `checked_at`. Run after
    /// each range and on every pass.
    async fn settle_validations(&self) -> StoreResult<Vec<SettledValidation>>;
}
