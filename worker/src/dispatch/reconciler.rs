//! The reconciler: runs in every worker process, converges Postgres state
//! and the Redis queue. Safe to run in several processes at once: every
//! step is an atomic statement, `FOR UPDATE SKIP LOCKED`, or a job lease.
//!
//! Each pass:
//! 1. running batches with expired leases go back to pending;
//! 2. `cancelling` jobs with nothing in flight become `cancelled`;
//! 3. `queued` jobs become `running`;
//! 4. running jobs without batches are planned (batches stored before any
//!    is dispatched);
//! 5. running jobs whose batches are all final are finished (indexes and
//!    foreign keys) and settled;
//! 6. due pending batches not recently pushed are pushed to Redis, keeping
//!    about four times the live workers' slots queued (jobs take turns).
//!
//! Passes run on a short interval, and at once when the store announces a
//! job change ([`DispatchJobs::watch_jobs`]: `LISTEN freight_jobs` on
//! Postgres). When a batch ends here, only the hot part runs ([`dispatch`]:
//! settle cancelled or finished jobs, refill the queue), so that workers are
//! not kept waiting on the full pass. [`maintain_once`] is one pass that
//! also waits for the planning and finishing it started: tests drive
//! dispatch with it step by step.
//!
//! [`DispatchJobs::watch_jobs`]: freight_core::store::dispatch::DispatchJobs::watch_jobs

use std::sync::Arc;
use std::time::{Duration, Instant};

use freight_core::job::LogLevel;
use freight_core::plan::PlanReport;
use freight_core::store::dispatch::{JobRef, PlanStored, StartedJob};
use futures::StreamExt as _;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use super::data_plane::DataPlane;
use super::queue::BatchQueue;
use super::runtime::{Runtime, job_context};
use crate::engine::{EngineError, JobPlan};

const VACUUM_EVERY: Duration = Duration::from_secs(60);
/// Unclaimed batches kept queued per live worker slot. Not more: a job
/// planned a moment after another waits behind the whole window (with one
/// slot and a floor of 16, the turn-taking test saw it wait 16 batches).
const QUEUE_SLOTS_FACTOR: i64 = 4;

pub(crate) async fn run<E: DataPlane>(runtime: Arc<Runtime<E>>, queue: Arc<dyn BatchQueue>) {
    let mut last_vacuum = Instant::now();
    loop {
        if let Err(e) = maintain(&runtime, queue.as_ref()).await {
            tracing::warn!(error = %format!("{e:#}"), "reconciler pass failed");
        }
        if last_vacuum.elapsed() >= VACUUM_EVERY {
            queue.vacuum().await;
            last_vacuum = Instant::now();
        }
        let mut wait = runtime.config.reconcile_interval;
        if let Ok(Some(due)) = runtime.store.next_due_in().await {
            wait = wait.min(due + Duration::from_millis(5));
        }
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            () = runtime.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Forwards the store's job notifications to the reconciler and the
/// validator; listens again after errors (the interval poll covers the gap).
pub(crate) async fn listen<E>(runtime: Arc<Runtime<E>>) {
    loop {
        let attempt = async {
            let mut changes = runtime.store.watch_jobs().await?;
            while changes.next().await.is_some() {
                runtime.wake.notify_one();
                runtime.validate_wake.notify_one();
            }
            Ok::<(), freight_core::StoreError>(())
        };
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            result = attempt => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "job notification listener failed; reconnecting");
                } else {
                    tracing::debug!("job notification listener ended; reconnecting");
                }
            }
        }
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// One full pass that waits for the planning it started before refilling
/// the queue, and for the finishing it started before returning: when it
/// returns, every job it could move has moved, and what it queued does not
/// depend on how fast planning was.
pub(crate) async fn maintain_once<E: DataPlane>(
    runtime: &Arc<Runtime<E>>,
    queue: &dyn BatchQueue,
) -> anyhow::Result<()> {
    join(prepare(runtime, queue).await?).await;
    join(top_up(runtime, queue).await?).await;
    Ok(())
}

async fn join(tasks: Vec<JoinHandle<()>>) {
    for task in tasks {
        if let Err(e) = task.await {
            tracing::error!(error = %e, "planning or finishing task panicked");
        }
    }
}

/// The full pass: everything that changes state without a batch ending.
/// Planning and finishing run on their own: the pass does not wait for them.
async fn maintain<E: DataPlane>(
    runtime: &Arc<Runtime<E>>,
    queue: &dyn BatchQueue,
) -> anyhow::Result<()> {
    // Dropping the handles leaves the tasks running.
    let _planning = prepare(runtime, queue).await?;
    let _finishing = top_up(runtime, queue).await?;
    Ok(())
}

/// The part of the full pass before the refill: expire leases, start queued
/// jobs, start planning new ones, notice a reset queue, release the engine's
/// caches of ended jobs. Returns the planning tasks it started.
async fn prepare<E: DataPlane>(
    runtime: &Arc<Runtime<E>>,
    queue: &dyn BatchQueue,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let store = &runtime.store;
    let config = &runtime.config;

    for expired in store.expire_leases(config.max_lost_leases).await? {
        tracing::warn!(
            job_id = %expired.batch.job_id,
            batch_id = %expired.batch.batch_id,
            seq = expired.seq,
            status = expired.new_status.as_str(),
            previous_owner = expired.previous_owner.as_deref().unwrap_or(""),
            "batch lease expired"
        );
    }

    // Bounded so that a flood of new jobs cannot starve the other steps.
    for _ in 0..100 {
        let Some(StartedJob {
            job,
            pending_batches,
        }) = store.start_queued_job().await?
        else {
            break;
        };
        tracing::info!(job_id = %job.job_id, pending_batches, "job started");
    }

    let mut tasks = Vec::new();
    if runtime.accepting() {
        while let Some(job) = store
            .claim_job_to_plan(&config.worker_id, config.lease_ttl)
            .await?
        {
            let span = tracing::info_span!("plan", tenant = %job.tenant, job_id = %job.job_id);
            tasks.push(tokio::spawn(plan(runtime.clone(), job).instrument(span)));
        }
    }

    // Redis keeps nothing on disk here: after a restart or flush, what was
    // queued is gone. Re-dispatch it now rather than after `redispatch_after`.
    match queue.was_reset().await {
        Ok(true) => {
            let lost = store.forget_dispatches().await?;
            if lost > 0 {
                tracing::warn!(
                    batches = lost,
                    "the Redis queue was reset (restart or flush); dispatching its batches again"
                );
            }
        }
        Ok(false) => {}
        Err(e) => tracing::debug!(error = %format!("{e:#}"), "Redis unreachable"),
    }
    let touched = runtime.touched_jobs();
    // Not while a range is being compared: it may use an ended job's pools
    // (the jobs stay touched, and a later pass releases them).
    if !touched.is_empty()
        && let Ok(_exclusive) = runtime.engine_state.try_write()
    {
        let done = store.inactive_jobs(&touched).await?;
        for job in &done {
            runtime.engine.release_job(*job).await;
        }
        runtime.forget_jobs(&done);
    }
    Ok(tasks)
}

/// The hot path, run whenever a batch ends here: settle what that may have
/// settled (a cancelled or finished job) and refill the queue. Returns the
/// finishing tasks it started.
async fn top_up<E: DataPlane>(
    runtime: &Arc<Runtime<E>>,
    queue: &dyn BatchQueue,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let store = &runtime.store;
    let config = &runtime.config;

    let state = store
        .dispatch_state(config.redispatch_after, config.heartbeat_interval * 6)
        .await?;
    if state.cancelling {
        for job in store.settle_cancelling().await? {
            tracing::info!(job_id = %job.job_id, "job cancelled");
            super::metrics::job_finished("cancelled");
            runtime.engine.release_job(job.job_id).await;
        }
    }

    let mut tasks = Vec::new();
    if runtime.accepting() {
        while let Some(job) = store
            .claim_job_to_finish(&config.worker_id, config.lease_ttl)
            .await?
        {
            let span = tracing::info_span!("finish", tenant = %job.tenant, job_id = %job.job_id);
            tasks.push(tokio::spawn(finish(runtime.clone(), job).instrument(span)));
        }
    }

    let outstanding = state.outstanding;
    let slots = state
        .live_slots
        .max(i64::try_from(config.concurrency).unwrap_or(1));
    super::metrics::dispatch_state(outstanding, slots);
    // Keep enough queued that workers never wait for the next pass (a pass
    // takes tens of ms under load, small batches take about as long), but
    // not so much that a new job waits behind a long queue.
    let window = slots.saturating_mul(QUEUE_SLOTS_FACTOR);
    let room = window.saturating_sub(outstanding);
    let batches = store
        .take_dispatchable(room, config.redispatch_after)
        .await?;
    if !batches.is_empty() {
        let total = batches.len();
        let failed = queue.push(batches).await;
        if !failed.is_empty() {
            tracing::warn!(
                failed = failed.len(),
                "Redis refused batches; they stay pending"
            );
            store.undispatch(&failed).await?;
        }
        tracing::debug!(dispatched = total - failed.len(), "dispatched batches");
    }

    Ok(tasks)
}

/// Refills the queue as batches end here, between the reconciler's passes.
pub(crate) async fn dispatch<E: DataPlane>(runtime: Arc<Runtime<E>>, queue: Arc<dyn BatchQueue>) {
    loop {
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            () = runtime.top_up.notified() => {}
        }
        if let Err(e) = top_up(&runtime, queue.as_ref()).await {
            tracing::warn!(error = %format!("{e:#}"), "refilling the queue failed");
        }
    }
}

/// Runs `work` while renewing the job lease; `None` if the lease was lost.
async fn with_job_lease<E, T>(
    runtime: &Runtime<E>,
    job: &JobRef,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    let ttl = runtime.config.lease_ttl;
    let owner = &runtime.config.worker_id;
    let keep = async {
        let period = (ttl / 3).max(Duration::from_millis(100));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            ticker.tick().await;
            match runtime.store.renew_job_lease(job, owner, ttl).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "renewing the job lease failed")
                }
            }
        }
    };
    tokio::select! {
        result = work => Some(result),
        () = keep => None,
        () = runtime.abort.cancelled() => None,
    }
}

async fn plan<E: DataPlane>(runtime: Arc<Runtime<E>>, job: JobRef) {
    let owner = runtime.config.worker_id.clone();
    let store = &runtime.store;
    let context = match store.job_settings(&job).await.map(job_context) {
        Ok(context) => context,
        Err(e) => {
            let summary = format!("planning failed: {e:#}");
            if let Err(e) = store.fail_job(&job, &owner, &summary).await {
                tracing::error!(error = %format!("{e:#}"), "could not record the planning failure");
            }
            return;
        }
    };
    tracing::info!("planning job");
    let Some(result) = with_job_lease(&runtime, &job, runtime.engine.plan(&context)).await else {
        tracing::warn!("lost the planning lease; another worker plans the job");
        return;
    };
    runtime.touch_job(job.job_id);
    let result = match result {
        // Nothing to copy: the job ends here, after finishing the target
        // tables planning created (indexes, foreign keys).
        Ok(plan) if plan.batches.is_empty() => {
            match with_job_lease(&runtime, &job, runtime.engine.finish_job(&context)).await {
                Some(Ok(warnings)) => Ok(JobPlan {
                    report: PlanReport {
                        warnings: plan.report.warnings.into_iter().chain(warnings).collect(),
                        ..plan.report
                    },
                    batches: plan.batches,
                }),
                Some(Err(e)) => Err(e),
                None => return,
            }
        }
        other => other,
    };
    match result {
        Ok(plan) => match store.store_plan(&job, &owner, &plan).await {
            Ok(PlanStored::Stored { batches }) => {
                if batches == 0 {
                    // store_plan completed the job: there was nothing to copy.
                    super::metrics::job_finished("completed");
                }
                tracing::info!(
                    batches,
                    rows_estimated = plan.report.total_rows_estimate,
                    "job planned"
                );
                runtime.wake.notify_one();
            }
            Ok(PlanStored::Discarded) => {
                tracing::info!("job changed while planning (cancelled?); plan discarded")
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "storing the plan failed; planning again later");
                let _ = store
                    .release_job_lease(&job, &owner, runtime.config.retry_backoff_base)
                    .await;
            }
        },
        Err(e) => {
            let summary = match e {
                EngineError::Transient(m) => {
                    format!("planning failed (source or target unreachable): {m}")
                }
                other => format!("planning failed: {other}"),
            };
            tracing::warn!(error = %summary, "planning failed");
            match store.fail_job(&job, &owner, &summary).await {
                Ok(true) => super::metrics::job_finished("failed"),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "could not record the planning failure")
                }
            }
            runtime.engine.release_job(job.job_id).await;
        }
    }
}

async fn finish<E: DataPlane>(runtime: Arc<Runtime<E>>, job: JobRef) {
    let owner = runtime.config.worker_id.clone();
    let store = &runtime.store;
    let failed = match store.unsuccessful_batches(&job).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "could not count failed batches; finishing later");
            let _ = store
                .release_job_lease(&job, &owner, runtime.config.retry_backoff_base)
                .await;
            return;
        }
    };
    // Indexes and foreign keys go on once the data is complete; a job with
    // failed batches gets them when a retry completes it.
    let finish = if failed == 0 {
        let context = match store.job_settings(&job).await.map(job_context) {
            Ok(context) => context,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "could not load the job; finishing later");
                let _ = store
                    .release_job_lease(&job, &owner, runtime.config.retry_backoff_base)
                    .await;
                return;
            }
        };
        tracing::info!("recreating indexes and foreign keys");
        let Some(result) =
            with_job_lease(&runtime, &job, runtime.engine.finish_job(&context)).await
        else {
            tracing::warn!("lost the finishing lease");
            return;
        };
        Some(result.map_err(|e| match e {
            EngineError::Transient(m) | EngineError::Permanent(m) => m,
            other => other.to_string(),
        }))
    } else {
        None
    };
    match store.finalize_job(&job, &owner, finish).await {
        Ok(Some(status)) => {
            tracing::info!(status = status.as_str(), "job finished");
            super::metrics::job_finished(status.as_str());
            runtime.engine.release_job(job.job_id).await;
        }
        Ok(None) => tracing::info!("job not final after all; will look again"),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "settling the job failed; trying again later");
            let _ = store
                .log(
                    &job,
                    None,
                    LogLevel::Warn,
                    "settling the job failed; trying again",
                )
                .await;
            let _ = store
                .release_job_lease(&job, &owner, runtime.config.retry_backoff_base)
                .await;
        }
    }
}
