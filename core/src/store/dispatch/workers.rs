//! The `workers` rows: one per worker process, upserted by its heartbeat,
//! `stopped_at` set on a clean exit. The API reads them
//! ([`Store::live_workers`](crate::store::Store::live_workers)); the
//! dispatch window counts their slots.

use async_trait::async_trait;

use crate::store::StoreResult;

/// Heartbeat figures of a worker process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerBeat {
    pub id: String,
    pub host: String,
    pub pid: i32,
    /// Batches it runs at once at most.
    pub concurrency: i32,
    pub in_flight: i32,
    /// Rows copied since it started.
    pub rows_processed: i64,
}

#[async_trait]
pub trait WorkerRegistry: Send + Sync + 'static {
    /// Inserts the worker (`started_at`, `last_seen` now) or updates it:
    /// `last_seen` now, `in_flight`, `rows_processed`, `concurrency`, and
    /// `stopped_at` cleared (`host`, `pid`, `started_at` kept).
    async fn heartbeat(&self, beat: &WorkerBeat) -> StoreResult<()>;

    /// Records a clean exit: `stopped_at` and `last_seen` now, `in_flight`
    /// 0, the final `rows_processed`.
    async fn mark_stopped(&self, beat: &WorkerBeat) -> StoreResult<()>;
}
