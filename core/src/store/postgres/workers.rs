//! Worker heartbeats as the API reports them.

use super::PgStore;
use crate::ids::TenantId;
use crate::store::*;

/// A worker whose last heartbeat is older than this is not counted as live.
pub const LIVE_WORKER_WINDOW_SECONDS: i64 = 30;

pub(super) async fn status(store: &PgStore, tenant: &TenantId) -> StoreResult<WorkerStatus> {
    let workers: Vec<WorkerInfo> = sqlx::query_as(
        "SELECT id, host, concurrency, started_at, last_seen, in_flight, rows_processed
         FROM workers
         WHERE stopped_at IS NULL AND last_seen > now() - make_interval(secs => $1)
         ORDER BY started_at, id",
    )
    .bind(LIVE_WORKER_WINDOW_SECONDS as f64)
    .fetch_all(store.pool())
    .await?;
    let total_queue_depth: i64 =
        sqlx::query_scalar("SELECT count(*) FROM batches WHERE status = 'pending'")
            .fetch_one(store.pool())
            .await?;
    let mut tx = store.scoped(tenant).await?;
    let (queue_depth, in_flight_batches): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'running')
         FROM batches WHERE tenant_id = $1 AND status IN ('pending', 'running')",
    )
    .bind(tenant.as_str())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;

    Ok(WorkerStatus {
        live_workers: workers.len() as i64,
        workers,
        queue_depth,
        in_flight_batches,
        total_queue_depth,
    })
}
