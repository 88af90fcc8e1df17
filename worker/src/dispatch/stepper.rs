//! Dispatch driven one step at a time, in the caller's task: the same
//! reconciler pass and batch executor a worker runs, with no queue
//! consumer, timers or background loops. Batches pushed by a pass wait in a
//! [`MemoryQueue`] until the caller runs them. Tests use it so that what
//! they assert follows from the steps they took, not from how long they
//! waited.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use freight_core::ids::JobId;
use freight_core::store::dispatch::DispatchStore;

use super::config::DispatchConfig;
use super::data_plane::DataPlane;
use super::queue::MemoryQueue;
use super::runtime::Runtime;
use super::{executor, heartbeat, reconciler, validator};

/// One worker's dispatch, driven by its caller.
pub struct Stepper<E> {
    runtime: Arc<Runtime<E>>,
    queue: Arc<MemoryQueue>,
}

impl<E> std::fmt::Debug for Stepper<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stepper")
            .field("worker_id", &self.runtime.config.worker_id)
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl<E: DataPlane> Stepper<E> {
    pub fn new(store: Arc<dyn DispatchStore>, engine: Arc<E>, config: DispatchConfig) -> Self {
        Self {
            runtime: Arc::new(Runtime::new(store, engine, config)),
            queue: Arc::new(MemoryQueue::default()),
        }
    }

    /// One reconciler pass: expire batch leases, start queued jobs, plan new
    /// ones, settle cancelling ones, finish jobs whose batches are all
    /// final, and push due batches onto this stepper's queue. Returns once
    /// the planning and finishing it started are done.
    pub async fn maintain_once(&self) -> anyhow::Result<()> {
        reconciler::maintain_once(&self.runtime, self.queue.as_ref()).await
    }

    /// Batches pushed and not run yet.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Runs up to `limit` queued batches one after the other (claim, copy,
    /// record the outcome, as a worker does); returns how many it took off
    /// the queue (a duplicate or no longer runnable batch counts, and does
    /// nothing).
    pub async fn run_queued(&self, limit: usize) -> usize {
        let batches = self.queue.take(limit);
        let taken = batches.len();
        for batch in batches {
            executor::handle(self.runtime.clone(), batch).await;
        }
        taken
    }

    /// One validation pass: compares every due range of running validations,
    /// one after the other, and settles those with no range left open.
    /// Returns how many ranges were compared.
    pub async fn validate_once(&self) -> anyhow::Result<usize> {
        validator::pass_inline(&self.runtime).await
    }

    /// Records this worker's heartbeat (its slots then count as live).
    pub async fn heartbeat(&self) -> anyhow::Result<()> {
        self.runtime
            .store
            .heartbeat(&heartbeat::beat(&self.runtime))
            .await?;
        Ok(())
    }

    /// Runs passes and every batch they queue until none of `jobs` is
    /// active (`queued`, `running`, `cancelling`), in at most `max_passes`
    /// passes; returns the passes taken. A pass that leaves nothing to run
    /// while a retry waits out its backoff sleeps until the store says the
    /// retry is due, so the count of passes, not a clock, bounds the wait.
    pub async fn drain(&self, jobs: &[JobId], max_passes: usize) -> anyhow::Result<usize> {
        for pass in 1..=max_passes {
            self.maintain_once()
                .await
                .with_context(|| format!("pass {pass}"))?;
            let mut ran = 0;
            loop {
                let n = self.run_queued(usize::MAX).await;
                if n == 0 {
                    break;
                }
                ran += n;
            }
            let inactive = self.runtime.store.inactive_jobs(jobs).await?;
            if inactive.len() == jobs.len() {
                return Ok(pass);
            }
            if ran == 0 {
                match self.runtime.store.next_due_in().await? {
                    Some(due) => tokio::time::sleep(due + Duration::from_millis(5)).await,
                    None => tokio::task::yield_now().await,
                }
            }
        }
        anyhow::bail!("jobs still active after {max_passes} dispatch passes")
    }
}
