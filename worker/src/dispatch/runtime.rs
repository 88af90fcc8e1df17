//! State shared by the parts of one worker process.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use freight_core::ids::JobId;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use freight_core::store::dispatch::{DispatchStore, JobRef, JobSettings};

use super::config::DispatchConfig;
use crate::engine::JobContext;

pub(crate) struct Runtime<E> {
    pub store: Arc<dyn DispatchStore>,
    pub engine: Arc<E>,
    pub config: DispatchConfig,
    /// One permit per batch this process may run at once.
    pub permits: Arc<Semaphore>,
    /// Cleared on shutdown: no new batch is claimed.
    pub accepting: AtomicBool,
    /// Stops the consumer, the reconciler and the heartbeat.
    pub stop: CancellationToken,
    /// Fired when the grace period is over: in-flight batches roll back.
    pub abort: CancellationToken,
    /// Wakes the reconciler's full pass (a job changed, a plan was stored).
    pub wake: Notify,
    /// Wakes the queue refill (a batch ended here).
    pub top_up: Notify,
    /// Wakes the validation loop (a validation was requested, a range ended).
    pub validate_wake: Notify,
    /// Fired whenever an in-flight batch ends.
    pub batch_done: Notify,
    pub in_flight: AtomicI64,
    pub rows_processed: AtomicI64,
    /// Jobs whose batches ran here, so the engine's caches for them can be
    /// released once they end.
    pub touched_jobs: Mutex<HashSet<JobId>>,
    /// Held shared by every range comparison; the reconciler releases the
    /// engine's state of ended jobs only while it can hold it exclusively.
    /// Validation runs on jobs that are no longer active, so otherwise a
    /// pass would close the pools a comparison is using ("closed pool").
    pub engine_state: tokio::sync::RwLock<()>,
    /// What a job's batches run with (connections, tables, batch size),
    /// loaded and unsealed once per job instead of once per batch: none of
    /// it changes after the job is created.
    job_contexts: Mutex<HashMap<JobId, Arc<JobContext>>>,
}

impl<E> Runtime<E> {
    pub fn new(store: Arc<dyn DispatchStore>, engine: Arc<E>, config: DispatchConfig) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(config.concurrency)),
            store,
            engine,
            config,
            accepting: AtomicBool::new(true),
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
            wake: Notify::new(),
            top_up: Notify::new(),
            validate_wake: Notify::new(),
            batch_done: Notify::new(),
            in_flight: AtomicI64::new(0),
            rows_processed: AtomicI64::new(0),
            touched_jobs: Mutex::new(HashSet::new()),
            engine_state: tokio::sync::RwLock::new(()),
            job_contexts: Mutex::new(HashMap::new()),
        }
    }

    pub fn accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }

    pub fn touch_job(&self, job: JobId) {
        if let Ok(mut jobs) = self.touched_jobs.lock() {
            jobs.insert(job);
        }
    }

    pub fn touched_jobs(&self) -> Vec<JobId> {
        self.touched_jobs
            .lock()
            .map(|jobs| jobs.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn forget_jobs(&self, done: &[JobId]) {
        if let Ok(mut jobs) = self.touched_jobs.lock() {
            for job in done {
                jobs.remove(job);
            }
        }
        if let Ok(mut contexts) = self.job_contexts.lock() {
            for job in done {
                contexts.remove(job);
            }
        }
    }

    /// The job's context, from the cache or from Postgres.
    pub async fn job_context(&self, job: &JobRef) -> anyhow::Result<Arc<JobContext>> {
        let cached = self
            .job_contexts
            .lock()
            .ok()
            .and_then(|contexts| contexts.get(&job.job_id).cloned());
        if let Some(context) = cached {
            return Ok(context);
        }
        let context = Arc::new(job_context(self.store.job_settings(job).await?));
        if let Ok(mut contexts) = self.job_contexts.lock() {
            contexts.insert(job.job_id, context.clone());
        }
        Ok(context)
    }
}

/// The engine's view of a job, from what the store keeps of it.
pub(crate) fn job_context(settings: JobSettings) -> JobContext {
    JobContext {
        job_id: settings.job.job_id,
        tenant: settings.job.tenant,
        source: settings.source,
        target: settings.target,
        tables: settings.tables,
        exclude_tables: settings.exclude_tables,
        batch_size: settings.batch_size,
        verify: settings.verify,
        key_columns: settings.key_columns,
        nul_characters: settings.nul_characters,
        zero_dates: settings.zero_dates,
        identifiers: settings.identifiers,
    }
}

/// Counts a batch in flight for as long as it lives.
pub(crate) struct InFlight<'a, E> {
    runtime: &'a Runtime<E>,
}

impl<'a, E> InFlight<'a, E> {
    pub fn enter(runtime: &'a Runtime<E>) -> Self {
        runtime.in_flight.fetch_add(1, Ordering::SeqCst);
        Self { runtime }
    }
}

impl<E> Drop for InFlight<'_, E> {
    fn drop(&mut self) {
        self.runtime.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.runtime.batch_done.notify_waiters();
        self.runtime.top_up.notify_one();
    }
}
