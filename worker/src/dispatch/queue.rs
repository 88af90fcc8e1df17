//! The queue seam: the reconciler pushes batch ids through a
//! [`BatchQueue`], and a [`QueueConsumer`] hands each message to the
//! executor. apalis on Redis ([`redis`]) is the implementation workers run
//! with; apalis on a SQLite file ([`sqlite`]) is the embedded queue of
//! `freight dev`.
//! [`MemoryQueue`] keeps what is pushed for a caller that runs the batches
//! itself, step by step ([`Stepper`](super::Stepper)).
//!
//! A queue only carries "run batch X" hints. A message may be lost or
//! delivered twice; the batch claim in Freight's database makes both
//! harmless, and the reconciler pushes again what was not claimed in time.
//! Queue-managed retries are never used: attempts are counted in the
//! database.

pub mod redis;
pub mod sqlite;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use freight_core::ids::{BatchId, JobId, TenantId};
use freight_core::store::dispatch::BatchRef;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// A queue message: IDs only, versioned by its `type` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DispatchMessage {
    /// Run (claim, copy, record) one batch.
    #[serde(rename = "run_batch.v1")]
    RunBatchV1 {
        tenant_id: TenantId,
        job_id: JobId,
        batch_id: BatchId,
    },
}

impl DispatchMessage {
    pub fn run_batch(batch: &BatchRef) -> Self {
        Self::RunBatchV1 {
            tenant_id: batch.tenant.clone(),
            job_id: batch.job_id,
            batch_id: batch.batch_id,
        }
    }

    pub fn batch(&self) -> BatchRef {
        match self {
            Self::RunBatchV1 {
                tenant_id,
                job_id,
                batch_id,
            } => BatchRef {
                batch_id: *batch_id,
                job_id: *job_id,
                tenant: tenant_id.clone(),
            },
        }
    }
}

/// The reconciler's end of the queue.
#[async_trait]
pub trait BatchQueue: Send + Sync + 'static {
    /// Pushes one message per batch; returns the batches that could not be
    /// pushed (they are marked undispatched again).
    async fn push(&self, batches: Vec<BatchRef>) -> Vec<BatchRef>;

    /// Whether the queue lost its messages (restart, flush) since any
    /// worker last asked: the reconciler then dispatches every unclaimed
    /// batch again at once instead of after `redispatch_after`. A queue
    /// that cannot lose messages answers `false`.
    async fn was_reset(&self) -> anyhow::Result<bool>;

    /// Drops the queue's bookkeeping of finished messages (about once a
    /// minute).
    async fn vacuum(&self) {}
}

/// Runs one batch message; never fails (the outcome lives in the database).
pub type BatchHandler = Arc<dyn Fn(BatchRef) -> BoxFuture<'static, ()> + Send + Sync>;

/// How a consumer takes messages.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Names this process's consumer (worker id).
    pub name: String,
    /// Messages handled at once at most.
    pub concurrency: usize,
    /// How often an idle consumer polls.
    pub fetch_interval: Duration,
}

/// The executor's end of the queue.
#[async_trait]
pub trait QueueConsumer: Send + Sync + 'static {
    /// Takes messages and calls `handle` for each (up to `concurrency` at
    /// once) until `stop` is cancelled; survives backend failures
    /// (reconnects) on its own.
    async fn consume(
        &self,
        settings: ConsumerSettings,
        handle: BatchHandler,
        stop: CancellationToken,
    );
}

/// Runs an apalis consumer until `stop`, one generation after another: a
/// worker that stops on its own (its backend restarted, flushed or failed)
/// is started again. Each generation has a name of its own (`<name>-<n>`):
/// apalis refuses a name that sent a heartbeat within the last interval.
/// `generation` builds one worker and returns it running, boxed as `Send`
/// where its types are concrete (the compiler cannot prove it through
/// apalis' generic layers otherwise).
pub(crate) async fn run_generations(
    name: &str,
    stop: &CancellationToken,
    mut generation: impl FnMut(String) -> BoxFuture<'static, Result<(), apalis::prelude::WorkerError>>,
) {
    let mut count = 0u32;
    loop {
        count += 1;
        let name = format!("{name}-{count}");
        let result = generation(name.clone()).await;
        if stop.is_cancelled() {
            return;
        }
        match result {
            Ok(()) => tracing::warn!(worker = %name, "queue consumer stopped; restarting it"),
            Err(e) => {
                tracing::warn!(worker = %name, error = %e, "queue consumer failed; restarting it")
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// Both ends of one queue.
#[derive(Clone)]
pub struct Queue {
    pub producer: Arc<dyn BatchQueue>,
    pub consumer: Arc<dyn QueueConsumer>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").finish_non_exhaustive()
    }
}

/// Keeps what is pushed, in order, for the caller to take: a queue for
/// driving dispatch step by step in one process (no consumer; nothing is
/// lost).
#[derive(Debug, Default)]
pub struct MemoryQueue {
    batches: Mutex<VecDeque<BatchRef>>,
}

impl MemoryQueue {
    /// Takes up to `limit` messages, oldest first.
    pub fn take(&self, limit: usize) -> Vec<BatchRef> {
        let Ok(mut batches) = self.batches.lock() else {
            return Vec::new();
        };
        let n = limit.min(batches.len());
        batches.drain(..n).collect()
    }

    pub fn len(&self) -> usize {
        self.batches.lock().map(|b| b.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl BatchQueue for MemoryQueue {
    async fn push(&self, batches: Vec<BatchRef>) -> Vec<BatchRef> {
        match self.batches.lock() {
            Ok(mut queued) => {
                queued.extend(batches);
                Vec::new()
            }
            Err(_) => batches,
        }
    }

    async fn was_reset(&self) -> anyhow::Result<bool> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_ids_only_and_a_version_tag() {
        let batch = BatchRef {
            batch_id: BatchId::new(),
            job_id: JobId::new(),
            tenant: TenantId::parse("acme").expect("valid tenant"),
        };
        let json = serde_json::to_value(DispatchMessage::run_batch(&batch)).expect("serializes");
        assert_eq!(json["type"], "run_batch.v1");
        assert_eq!(json["tenant_id"], "acme");
        assert_eq!(json.as_object().map(|o| o.len()), Some(4));
        let back: DispatchMessage = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back.batch(), batch);
    }
}
