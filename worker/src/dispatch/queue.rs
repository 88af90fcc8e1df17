//! The apalis/Redis side: the message a batch is dispatched with, the
//! producer the reconciler pushes with, and the consumer's storage.
//!
//! Redis only carries "run batch X" hints. A message may be lost (Redis
//! keeps nothing on disk here) or delivered twice (apalis re-enqueues the
//! tasks of workers it thinks are dead); the batch claim in Postgres makes
//! both harmless. apalis' own retries are never used: the handler always
//! acks, and attempts are counted in Postgres.

use std::time::Duration;

use anyhow::Context as _;
use apalis::prelude::TaskSink;
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use freight_core::ids::{BatchId, JobId, TenantId};
use serde::{Deserialize, Serialize};

use super::store::BatchRef;

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

pub type Storage = RedisStorage<DispatchMessage>;

/// The apalis-redis configuration shared by producer and consumer: the
/// queue name is explicit on both sides (the default is the Rust type path).
pub fn storage_config(queue_name: &str) -> Config {
    Config::default()
        .queue(queue_name)
        // One task per fetch: a worker does not hoard messages that an idle
        // worker could run.
        .batch_size(1)
        .heartbeat_interval(Duration::from_secs(5))
        .missed_heartbeats(6)
        .persist_results(false)
        .emit_events(false)
}

pub async fn connect(redis_url: &str) -> anyhow::Result<ConnectionManager> {
    apalis_redis::connect(redis_url)
        .await
        .context("connecting to Redis (REDIS_URL)")
}

pub fn storage(conn: ConnectionManager, queue_name: &str) -> Storage {
    RedisStorage::new(conn).with_config(storage_config(queue_name))
}

/// Pushes batch messages; the reconciler's end of the queue.
#[derive(Clone)]
pub struct Producer {
    storage: Storage,
    conn: ConnectionManager,
    /// Present while Redis keeps this queue's data; see [`Producer::queue_was_reset`].
    marker_key: String,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").finish_non_exhaustive()
    }
}

impl Producer {
    pub fn new(conn: ConnectionManager, queue_name: &str) -> Self {
        Self {
            storage: storage(conn.clone(), queue_name),
            conn,
            marker_key: format!("{queue_name}:freight-alive"),
        }
    }

    /// Whether Redis lost this queue's data (restarted without persistence,
    /// flushed, keys deleted) since the last call by any worker: a marker
    /// key that only a reset removes is set again, and the one reconciler
    /// that re-creates it learns that every message in flight is gone.
    /// Also true on a brand-new Redis, which is harmless.
    pub async fn queue_was_reset(&mut self) -> anyhow::Result<bool> {
        let created: Option<String> = redis::cmd("SET")
            .arg(&self.marker_key)
            .arg("1")
            .arg("NX")
            .query_async(&mut self.conn)
            .await
            .context("checking the queue marker in Redis")?;
        Ok(created.is_some())
    }

    /// Pushes one message per batch; returns the batches that could not be
    /// pushed.
    pub async fn push(&mut self, batches: Vec<BatchRef>) -> Vec<BatchRef> {
        let mut failed = Vec::new();
        for batch in batches {
            if let Err(e) = self.storage.push(DispatchMessage::run_batch(&batch)).await {
                tracing::warn!(job_id = %batch.job_id, batch_id = %batch.batch_id, error = %e, "could not push a batch to Redis");
                failed.push(batch);
            }
        }
        failed
    }

    /// Drops finished task bookkeeping from Redis.
    pub async fn vacuum(&mut self) {
        use apalis_core::backend::Vacuum as _;
        match self.storage.vacuum().await {
            Ok(n) if n > 0 => tracing::debug!(removed = n, "vacuumed finished queue tasks"),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "vacuuming the queue failed"),
        }
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
