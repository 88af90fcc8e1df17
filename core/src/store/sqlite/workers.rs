//! Worker heartbeats as the API reports them: counts and a tenant's own
//! running batches for everyone, worker ids and hosts for admins only.

use chrono::Utc;

use super::{SqliteStore, timestamp};
use crate::ids::TenantId;
use crate::store::*;

/// A worker whose last heartbeat is older than this is not counted as live
/// (the PostgreSQL backend's window).
pub const LIVE_WORKER_WINDOW_SECONDS: i64 = 30;

/// At most this many of a tenant's running batches are listed.
const MAX_LISTED_BATCHES: i64 = 100;

fn live_since() -> String {
    timestamp(Utc::now() - chrono::Duration::seconds(LIVE_WORKER_WINDOW_SECONDS))
}

#[derive(sqlx::FromRow)]
struct BatchRow {
    id: uuid::fmt::Hyphenated,
    job_id: uuid::fmt::Hyphenated,
    table_name: String,
    seq: i32,
    attempts: i32,
    started_at: Option<chrono::DateTime<Utc>>,
}

pub(super) async fn status(store: &SqliteStore, tenant: &TenantId) -> StoreResult<WorkerStatus> {
    let mut tx = store.begin_read().await?;
    let live_workers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workers WHERE stopped_at IS NULL AND last_seen > $1",
    )
    .bind(live_since())
    .fetch_one(&mut *tx)
    .await?;
    let total_queue_depth: i64 =
        sqlx::query_scalar("SELECT count(*) FROM batches WHERE status = 'pending'")
            .fetch_one(&mut *tx)
            .await?;
    let (queue_depth, in_flight_batches): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'running')
         FROM batches WHERE tenant_id = $1 AND status IN ('pending', 'running')",
    )
    .bind(tenant.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let rows: Vec<BatchRow> = sqlx::query_as(
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
        batches: rows
            .into_iter()
            .map(|r| InFlightBatch {
                id: crate::ids::BatchId(r.id.into_uuid()),
                job_id: crate::ids::JobId(r.job_id.into_uuid()),
                table_name: r.table_name,
                seq: r.seq,
                attempts: r.attempts,
                started_at: r.started_at,
            })
            .collect(),
    })
}

pub(super) async fn live(store: &SqliteStore) -> StoreResult<Vec<WorkerInfo>> {
    Ok(sqlx::query_as(
        "SELECT id, host, concurrency, started_at, last_seen, in_flight, rows_processed
         FROM workers
         WHERE stopped_at IS NULL AND last_seen > $1
         ORDER BY started_at, id",
    )
    .bind(live_since())
    .fetch_all(store.reader())
    .await?)
}
