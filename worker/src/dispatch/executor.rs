//! Running one dispatched batch: claim its lease in Postgres, keep the
//! lease alive, let the engine copy it, record the outcome under the lease.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing::Instrument as _;

use freight_core::store::dispatch::{AttemptFailed, BatchRef, ClaimedBatch};

use super::data_plane::DataPlane;
use super::runtime::{InFlight, Runtime};
use crate::engine::{BatchOutcome, EngineError, RejectedRecord};

/// Handles one queue message. Always "succeeds" as far as apalis is
/// concerned: the outcome lives in Postgres, and a message that cannot be
/// handled now is re-dispatched by the reconciler.
pub(crate) async fn handle<E: DataPlane>(runtime: Arc<Runtime<E>>, batch: BatchRef) {
    if !runtime.accepting() {
        return hand_back(&runtime, &batch).await;
    }
    let Ok(permit) = runtime.permits.clone().acquire_owned().await else {
        return hand_back(&runtime, &batch).await;
    };
    if !runtime.accepting() {
        return hand_back(&runtime, &batch).await;
    }
    let span = tracing::info_span!("batch", tenant = %batch.tenant, job_id = %batch.job_id, batch_id = %batch.batch_id);
    // The copy runs in its own task: if the apalis worker is torn down
    // (Redis flushed, connection lost), the batch still finishes and is
    // recorded instead of being dropped half-way.
    let task = tokio::spawn(
        async move {
            run(&runtime, &batch).await;
            drop(permit);
        }
        .instrument(span),
    );
    if let Err(e) = task.await {
        tracing::error!(error = %e, "batch task panicked");
    }
}

enum Ending {
    Ran(Result<BatchOutcome, EngineError>),
    LeaseLost,
    Aborted,
}

/// A message this process will not run (shutting down): acked all the same,
/// so its batch is marked undispatched for the next reconciler pass to push
/// again at once, instead of after `redispatch_after`.
async fn hand_back<E>(runtime: &Runtime<E>, batch: &BatchRef) {
    if let Err(e) = runtime.store.undispatch(std::slice::from_ref(batch)).await {
        tracing::debug!(error = %format!("{e:#}"), "could not hand a batch back; it is re-dispatched later");
    }
}

async fn run<E: DataPlane>(runtime: &Runtime<E>, batch: &BatchRef) {
    let _in_flight = InFlight::enter(runtime);
    let owner = format!(
        "{}/{}",
        runtime.config.worker_id,
        uuid::Uuid::new_v4().simple()
    );
    let ttl = runtime.config.lease_ttl;
    let claimed = match runtime.store.claim_batch(batch, &owner, ttl).await {
        Ok(Some(claimed)) => claimed,
        Ok(None) => {
            tracing::debug!("batch not runnable (duplicate message, finished, or job not running)");
            return;
        }
        Err(e) => {
            // Still pending: the reconciler dispatches it again.
            tracing::warn!(error = %format!("{e:#}"), "could not claim batch");
            return;
        }
    };
    runtime.touch_job(batch.job_id);
    tracing::info!(seq = claimed.seq, table = %claimed.run.table_name, attempt = claimed.attempts, "batch started");
    let started = std::time::Instant::now();

    let job = match runtime.job_context(&batch.job()).await {
        Ok(job) => job,
        Err(e) => {
            let message = format!("loading the job failed: {e:#}");
            record_failure(runtime, &claimed, &owner, &message, true, &[]).await;
            return;
        }
    };

    let ending = {
        let copy = runtime.engine.run_batch(&job, &claimed.run);
        let lease = keep_lease(runtime, &claimed.batch, &owner);
        tokio::select! {
            result = copy => Ending::Ran(result),
            () = lease => Ending::LeaseLost,
            () = runtime.abort.cancelled() => Ending::Aborted,
        }
    };

    match ending {
        Ending::Ran(Ok(outcome)) => {
            match runtime
                .store
                .complete_batch(&claimed, &owner, &outcome)
                .await
            {
                Ok(Some(status)) => {
                    runtime
                        .rows_processed
                        .fetch_add(outcome.rows_written, Ordering::Relaxed);
                    super::metrics::batch_finished(
                        status.as_str(),
                        started.elapsed(),
                        outcome.rows_read,
                        outcome.rows_written,
                        outcome.rejected.len(),
                    );
                    tracing::info!(
                        status = status.as_str(),
                        rows_read = outcome.rows_read,
                        rows_written = outcome.rows_written,
                        rejected = outcome.rejected.len(),
                        elapsed_ms =
                            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                        "batch finished"
                    );
                }
                Ok(None) => tracing::warn!(
                    "lease lost before the outcome was stored; another attempt re-runs the batch"
                ),
                Err(e) => tracing::error!(
                    error = %format!("{e:#}"),
                    "storing the batch outcome failed; the lease expires and the batch runs again"
                ),
            }
        }
        Ending::Ran(Err(EngineError::Transient(message))) => {
            record_failure(runtime, &claimed, &owner, &message, false, &[]).await;
        }
        Ending::Ran(Err(EngineError::Permanent(message))) => {
            record_failure(runtime, &claimed, &owner, &message, true, &[]).await;
        }
        Ending::Ran(Err(error @ EngineError::Rejected(_))) => {
            let message = error.to_string();
            let EngineError::Rejected(records) = error else {
                return;
            };
            record_failure(runtime, &claimed, &owner, &message, true, &records).await;
        }
        Ending::LeaseLost => {
            tracing::warn!(
                "lease lost while copying; the copy was abandoned (its target transaction rolls back)"
            );
        }
        Ending::Aborted => match runtime.store.release_batch(&claimed, &owner).await {
            Ok(_) => tracing::info!("shutdown: batch rolled back and released"),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "shutdown: releasing the batch failed; its lease expires")
            }
        },
    }
}

async fn record_failure<E: DataPlane>(
    runtime: &Runtime<E>,
    claimed: &ClaimedBatch,
    owner: &str,
    message: &str,
    permanent: bool,
    rejected: &[RejectedRecord],
) {
    // Attempts lost to dead workers are not the batch's fault.
    let failed_attempts = claimed.attempts - claimed.lost_leases;
    let retry_after = (!permanent && failed_attempts < claimed.max_attempts)
        .then(|| runtime.config.backoff(failed_attempts));
    match runtime
        .store
        .fail_attempt(claimed, owner, message, retry_after, rejected)
        .await
    {
        Ok(AttemptFailed::WillRetry) => {
            super::metrics::retry_scheduled();
            tracing::warn!(
                attempt = claimed.attempts,
                retry_in_ms = retry_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                error = %message,
                "batch attempt failed; will retry"
            )
        }
        Ok(AttemptFailed::Failed) => {
            super::metrics::batch_failed(rejected.len());
            tracing::error!(attempt = claimed.attempts, error = %message, "batch failed")
        }
        Ok(AttemptFailed::Cancelled) => {
            tracing::info!(error = %message, "batch failed while its job was cancelled")
        }
        Ok(AttemptFailed::LeaseLost) => tracing::warn!("lease lost before the failure was stored"),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "recording the batch failure failed; its lease expires")
        }
    }
}

/// Renews the lease every third of its lifetime; returns only when it is
/// lost (another worker may own the batch now).
async fn keep_lease<E>(runtime: &Runtime<E>, batch: &BatchRef, owner: &str) {
    let ttl = runtime.config.lease_ttl;
    let period = (ttl / 3).max(Duration::from_millis(100));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut failures_since = None;
    loop {
        ticker.tick().await;
        match runtime.store.renew_batch_lease(batch, owner, ttl).await {
            Ok(true) => failures_since = None,
            Ok(false) => return,
            Err(e) => {
                // Postgres unreachable: keep trying while the lease may
                // still be valid; past its lifetime someone may have it.
                let since = *failures_since.get_or_insert_with(std::time::Instant::now);
                tracing::warn!(error = %format!("{e:#}"), "renewing the batch lease failed");
                if since.elapsed() >= ttl {
                    return;
                }
            }
        }
    }
}
