//! Worker heartbeats as the API reports them: counts and a tenant's own
//! running batches for everyone, worker ids and hosts for admins only.

use super::PgStore;
use crate::ids::TenantId;
use crate::store::*;

/// A worker whose last heartbeat is older than this is not counted as live.
pub const LIVE_WORKER_WINDOW_SECONDS: i64 = 30;

/// At most this many of a tenant's running batches are listed.
const MAX_LISTED_BATCHES: i64 = 100;

pub(super) async fn status(store: &PgStore, tenant: &TenantId) -> StoreResult<WorkerStatus> {
    let live_workers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workers
         WHERE stopped_at IS NULL AND last_seen > now() - make_interval(secs => $1)",
    )
    .bind(LIVE_WORKER_WINDOW_SECONDS as f64)
    .fetch_one(store.pool())
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
    let batches: Vec<InFlightBatch> = sqlx::query_as(
        "SELECT id, job_id, table_name, seq, attempts, started_at
         FROM batches WHERE tenant_id = $1 AND status = 'running'
         ORDER BY started_at NULLS LAST, id LIMIT $2",
    )
    .bind(tenant.as_str())
    .bind(MAX_LISTED_BATCHES)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    Ok(WorkerStatus {
        workers: Vec::new(),
        live_workers,
        queue_depth,
        in_flight_batches,
        total_queue_depth,
        batches,
    })
}

pub(super) async fn live(store: &PgStore) -> StoreResult<Vec<WorkerInfo>> {
    Ok(sqlx::query_as(
        "SELECT id, host, concurrency, started_at, last_seen, in_flight, rows_processed
         FROM workers
         WHERE stopped_at IS NULL AND last_seen > now() - make_interval(secs => $1)
         ORDER BY started_at, id",
    )
    .bind(LIVE_WORKER_WINDOW_SECONDS as f64)
    .fetch_all(store.pool())
    .await?)
}
