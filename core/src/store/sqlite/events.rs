//! Durable job events (written by triggers, see
//! `migrations/sqlite/0001_control_plane.sql`) and the in-process
//! announcements of new ones.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::types::Json;
use tokio::sync::broadcast::error::RecvError;

use super::{SqliteStore, uuid_text};
use crate::ids::{JobId, TenantId};
use crate::store::{JobEvent, JobEventKind, StoreResult};

/// Events of `job` after `after`, oldest first. One writer commits events
/// in `seq` order, so what a reader sees is never followed by a smaller
/// id: resuming after the last id seen misses nothing.
pub(super) async fn after(
    store: &SqliteStore,
    tenant: &TenantId,
    job: JobId,
    after: i64,
    limit: i64,
) -> StoreResult<Vec<JobEvent>> {
    type Row = (i64, String, Json<serde_json::Value>, DateTime<Utc>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT seq, kind, data, created_at FROM job_events
         WHERE tenant_id = $1 AND job_id = $2 AND seq > $3
         ORDER BY seq LIMIT $4",
    )
    .bind(tenant.as_str())
    .bind(uuid_text(job.0))
    .bind(after)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, kind, data, at)| {
            let kind = match kind.as_str() {
                "status" => JobEventKind::Status,
                "batch_failed" => JobEventKind::BatchFailed,
                _ => return None,
            };
            Some(JobEvent {
                id,
                kind,
                data: data.0,
                at,
            })
        })
        .collect())
}

/// The newest event id of `job` (0 when none).
pub(super) async fn last_id(
    store: &SqliteStore,
    tenant: &TenantId,
    job: JobId,
) -> StoreResult<i64> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT max(seq) FROM job_events WHERE tenant_id = $1 AND job_id = $2")
            .bind(tenant.as_str())
            .bind(uuid_text(job.0))
            .fetch_one(store.reader())
            .await?;
    Ok(last.unwrap_or(0))
}

/// Ids of jobs with new events, announced by this process's commits. A
/// listener that falls behind skips what it missed: event streams re-read
/// their job every second anyway.
pub(super) fn watch(store: &SqliteStore) -> BoxStream<'static, JobId> {
    futures::stream::unfold(store.events.subscribe(), |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(job) => return Some((job, receiver)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .boxed()
}
