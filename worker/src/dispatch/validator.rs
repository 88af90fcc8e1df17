//! The validation phase on a worker: claims range tasks of running
//! validations from Freight's database (`DispatchValidations`), as many as this process
//! has free batch slots, lets the engine compare each range inside source
//! and target, and records the result under the range's lease. Every worker
//! runs one; they share the work through `FOR UPDATE SKIP LOCKED`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument as _;

use freight_core::store::dispatch::ClaimedRange;

use super::data_plane::DataPlane;
use super::runtime::{InFlight, Runtime};
use crate::engine::EngineError;

/// Attempts at comparing one range before it is reported as not compared.
const MAX_RANGE_ATTEMPTS: i32 = 4;

pub(crate) async fn run<E: DataPlane>(runtime: Arc<Runtime<E>>) {
    loop {
        if runtime.accepting()
            && let Err(e) = pass(&runtime).await
        {
            tracing::warn!(error = %format!("{e:#}"), "validation pass failed");
        }
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            () = runtime.validate_wake.notified() => {}
            () = tokio::time::sleep(runtime.config.reconcile_interval) => {}
        }
    }
}

async fn pass<E: DataPlane>(runtime: &Arc<Runtime<E>>) -> anyhow::Result<()> {
    let store = &runtime.store;
    let expired = store.expire_validation_leases().await?;
    if expired > 0 {
        tracing::warn!(
            ranges = expired,
            "validation leases expired (worker stopped); checking those ranges again"
        );
    }
    settle(runtime).await?;
    while runtime.accepting() {
        let Ok(permit) = runtime.permits.clone().try_acquire_owned() else {
            break;
        };
        let owner = format!(
            "{}/{}",
            runtime.config.worker_id,
            uuid::Uuid::new_v4().simple()
        );
        let Some(claimed) = store
            .claim_validation_range(&owner, runtime.config.lease_ttl)
            .await?
        else {
            break;
        };
        let span = tracing::info_span!("validate", tenant = %claimed.job.tenant, job_id = %claimed.job.job_id, batch_id = %claimed.range.batch_id);
        tokio::spawn(check(runtime.clone(), claimed, owner, permit).instrument(span));
    }
    Ok(())
}

/// One pass in the caller's task: every due range is claimed and compared
/// one after the other, then validations with no open range settle.
/// Returns how many ranges were compared.
pub(crate) async fn pass_inline<E: DataPlane>(runtime: &Runtime<E>) -> anyhow::Result<usize> {
    let store = &runtime.store;
    store.expire_validation_leases().await?;
    let mut compared = 0;
    loop {
        let owner = format!(
            "{}/{}",
            runtime.config.worker_id,
            uuid::Uuid::new_v4().simple()
        );
        // A range that must wait (backoff) is not due, so this ends.
        let Some(claimed) = store
            .claim_validation_range(&owner, runtime.config.lease_ttl)
            .await?
        else {
            break;
        };
        let _in_flight = InFlight::enter(runtime);
        check_range(runtime, &claimed, &owner).await;
        compared += 1;
    }
    settle(runtime).await?;
    Ok(compared)
}

async fn settle<E>(runtime: &Runtime<E>) -> anyhow::Result<()> {
    for done in runtime.store.settle_validations().await? {
        tracing::info!(
            job_id = %done.job_id,
            validation_id = %done.validation_id,
            status = done.status.as_str(),
            mismatched = done.mismatched,
            "validation finished"
        );
    }
    Ok(())
}

enum Ending {
    Ran(Result<crate::engine::RangeCheck, EngineError>),
    LeaseLost,
    Aborted,
}

async fn check<E: DataPlane>(
    runtime: Arc<Runtime<E>>,
    claimed: ClaimedRange,
    owner: String,
    permit: OwnedSemaphorePermit,
) {
    {
        let _in_flight = InFlight::enter(&runtime);
        check_range(&runtime, &claimed, &owner).await;
        drop(permit);
    }
    if let Err(e) = settle(&runtime).await {
        tracing::debug!(error = %format!("{e:#}"), "settling validations failed; the next pass does it");
    }
    // A slot is free: take the next range at once.
    runtime.validate_wake.notify_one();
}

async fn check_range<E: DataPlane>(runtime: &Runtime<E>, claimed: &ClaimedRange, owner: &str) {
    let store = &runtime.store;
    // Keeps the reconciler from releasing the (ended) job's pools meanwhile.
    let _using = runtime.engine_state.read().await;
    let job = match runtime.job_context(&claimed.job).await {
        Ok(job) => job,
        Err(e) => {
            let message = format!("loading the job failed: {e:#}");
            fail(runtime, claimed, owner, &message, false).await;
            return;
        }
    };
    runtime.touch_job(claimed.job.job_id);
    let ending = {
        let compare = runtime.engine.validate_range(&job, &claimed.range);
        let lease = keep_lease(runtime, claimed, owner);
        tokio::select! {
            result = compare => Ending::Ran(result),
            () = lease => Ending::LeaseLost,
            () = runtime.abort.cancelled() => Ending::Aborted,
        }
    };
    match ending {
        Ending::Ran(Ok(check)) => {
            if !check.matched {
                tracing::warn!(table = %claimed.range.table_name, detail = %check.detail, "range differs");
            }
            match store.record_range(claimed, owner, &check).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!("validation lease lost before the result was stored"),
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "storing a range result failed; its lease expires")
                }
            }
        }
        Ending::Ran(Err(EngineError::Transient(message))) => {
            fail(runtime, claimed, owner, &message, false).await
        }
        Ending::Ran(Err(other)) => fail(runtime, claimed, owner, &other.to_string(), true).await,
        Ending::LeaseLost => tracing::warn!("validation lease lost while comparing; abandoned"),
        // Shutdown: the lease expires and another worker compares the range.
        Ending::Aborted => {}
    }
}

async fn fail<E>(
    runtime: &Runtime<E>,
    claimed: &ClaimedRange,
    owner: &str,
    message: &str,
    permanent: bool,
) {
    let retry_after = (!permanent && claimed.attempts < MAX_RANGE_ATTEMPTS)
        .then(|| runtime.config.backoff(claimed.attempts));
    tracing::warn!(error = %message, will_retry = retry_after.is_some(), "could not compare a range");
    if let Err(e) = runtime
        .store
        .fail_range(claimed, owner, message, retry_after)
        .await
    {
        tracing::error!(error = %format!("{e:#}"), "recording a range failure failed; its lease expires");
    }
}

/// Renews the range lease every third of its lifetime; returns when lost.
async fn keep_lease<E>(runtime: &Runtime<E>, claimed: &ClaimedRange, owner: &str) {
    let ttl = runtime.config.lease_ttl;
    let period = (ttl / 3).max(Duration::from_millis(100));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut failures_since = None;
    loop {
        ticker.tick().await;
        match runtime
            .store
            .renew_validation_lease(claimed, owner, ttl)
            .await
        {
            Ok(true) => failures_since = None,
            Ok(false) => return,
            Err(e) => {
                let since = *failures_since.get_or_insert_with(std::time::Instant::now);
                tracing::warn!(error = %format!("{e:#}"), "renewing the validation lease failed");
                if since.elapsed() >= ttl {
                    return;
                }
            }
        }
    }
}
