//! apalis on Redis: the producer the reconciler pushes with, the consumer
//! workers take batches from, and the marker that notices a Redis that lost
//! its data.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use apalis::prelude::{
    BackendExt as _, BoxDynError, TaskSink, WorkerBuilder, WorkerBuilderExt as _,
};
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use async_trait::async_trait;
use freight_core::store::dispatch::BatchRef;
use tokio_util::sync::CancellationToken;

use super::{BatchHandler, BatchQueue, ConsumerSettings, DispatchMessage, Queue, QueueConsumer};

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

pub fn storage(conn: ConnectionManager, queue_name: &str) -> Storage {
    RedisStorage::new(conn).with_config(storage_config(queue_name))
}

/// Connects to Redis; both ends of the queue `queue_name`.
pub async fn connect(redis_url: &str, queue_name: &str) -> anyhow::Result<Queue> {
    let conn = apalis_redis::connect(redis_url)
        .await
        .context("connecting to Redis (REDIS_URL)")?;
    Ok(Queue {
        producer: Arc::new(Producer::new(conn.clone(), queue_name)),
        consumer: Arc::new(Consumer {
            conn,
            queue_name: queue_name.to_owned(),
        }),
    })
}

/// Pushes batch messages.
#[derive(Clone)]
pub struct Producer {
    storage: Storage,
    conn: ConnectionManager,
    /// Present while Redis keeps this queue's data; see [`BatchQueue::was_reset`].
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
}

#[async_trait]
impl BatchQueue for Producer {
    async fn push(&self, batches: Vec<BatchRef>) -> Vec<BatchRef> {
        // A clone per call (not per batch): pushing needs `&mut`, and the
        // reconciler and the refill push concurrently.
        let mut storage = self.storage.clone();
        let mut failed = Vec::new();
        for batch in batches {
            if let Err(e) = storage.push(DispatchMessage::run_batch(&batch)).await {
                tracing::warn!(job_id = %batch.job_id, batch_id = %batch.batch_id, error = %e, "could not push a batch to Redis");
                failed.push(batch);
            }
        }
        failed
    }

    /// Redis keeps nothing on disk here: a marker key that only a reset
    /// removes is set again, and the one reconciler that re-creates it
    /// learns that every message in flight is gone. Also true on a
    /// brand-new Redis, which is harmless.
    async fn was_reset(&self) -> anyhow::Result<bool> {
        let mut conn = self.conn.clone();
        let created: Option<String> = redis::cmd("SET")
            .arg(&self.marker_key)
            .arg("1")
            .arg("NX")
            .query_async(&mut conn)
            .await
            .context("checking the queue marker in Redis")?;
        Ok(created.is_some())
    }

    async fn vacuum(&self) {
        use apalis_core::backend::Vacuum as _;
        let mut storage = self.storage.clone();
        match storage.vacuum().await {
            Ok(n) if n > 0 => tracing::debug!(removed = n, "vacuumed finished queue tasks"),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "vacuuming the queue failed"),
        }
    }
}

/// The apalis worker that takes batch messages off the Redis queue. It is
/// restarted whenever it stops on its own (Redis restarted or flushed, a
/// connection dropped): apalis ends a worker whose backend fails.
pub struct Consumer {
    conn: ConnectionManager,
    queue_name: String,
}

#[async_trait]
impl QueueConsumer for Consumer {
    async fn consume(
        &self,
        settings: ConsumerSettings,
        handle: BatchHandler,
        stop: CancellationToken,
    ) {
        super::run_generations(&settings.name, &stop, |name| {
            let storage = storage(self.conn.clone(), &self.queue_name)
                .poll_with_interval(settings.fetch_interval);
            let handler = handle.clone();
            let worker = WorkerBuilder::new(name.as_str())
                .backend(storage)
                .concurrency(settings.concurrency)
                .build(move |message: DispatchMessage| {
                    let run = handler(message.batch());
                    async move {
                        run.await;
                        Ok::<(), BoxDynError>(())
                    }
                });
            let until = stop.clone();
            Box::pin(worker.run_until(async move {
                until.cancelled().await;
                Ok::<(), std::io::Error>(())
            }))
        })
        .await;
    }
}
