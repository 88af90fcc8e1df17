//! Durable job events (written by triggers, see migration 0007) and the
//! notifications that announce them.

use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use super::PgStore;
use crate::ids::{JobId, TenantId};
use crate::store::{JobEvent, JobEventKind, StoreResult};

/// Channel the event triggers notify, with the job id as payload.
const CHANNEL: &str = "freight_job_events";

/// Events of `job` after `after`, oldest first. Events are numbered at
/// commit time under a lock held until the commit is visible (migration
/// 0010), so `seq` order is commit order: no transaction can commit a
/// smaller `seq` after a reader saw a larger one, and a reader that resumes
/// after the last id it saw misses nothing. Nothing is held back, so no
/// transaction elsewhere (even in another database of the cluster) can
/// stall a stream.
pub(super) async fn after(
    store: &PgStore,
    tenant: &TenantId,
    job: JobId,
    after: i64,
    limit: i64,
) -> StoreResult<Vec<JobEvent>> {
    type Row = (
        i64,
        String,
        serde_json::Value,
        chrono::DateTime<chrono::Utc>,
    );
    let mut tx = store.scoped(tenant).await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT seq, kind, data, created_at FROM job_events
         WHERE tenant_id = $1 AND job_id = $2 AND seq > $3
         ORDER BY seq LIMIT $4",
    )
    .bind(tenant.as_str())
    .bind(job.0)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, kind, data, at)| {
            let kind = match kind.as_str() {
                "status" => JobEventKind::Status,
                "batch_failed" => JobEventKind::BatchFailed,
                _ => return None,
            };
            Some(JobEvent { id, kind, data, at })
        })
        .collect())
}

/// The newest event id of `job` (0 when none).
pub(super) async fn last_id(store: &PgStore, tenant: &TenantId, job: JobId) -> StoreResult<i64> {
    let mut tx = store.scoped(tenant).await?;
    let last: Option<i64> =
        sqlx::query_scalar("SELECT max(seq) FROM job_events WHERE tenant_id = $1 AND job_id = $2")
            .bind(tenant.as_str())
            .bind(job.0)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(last.unwrap_or(0))
}

/// Ids of jobs with new events, from every process writing to this
/// database; ends when the listening connection is lost.
pub(super) async fn watch(store: &PgStore) -> StoreResult<BoxStream<'static, JobId>> {
    let mut listener = PgListener::connect_with(&store.pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener
        .into_stream()
        .take_while(|n| futures::future::ready(n.is_ok()))
        .filter_map(|n| async move {
            n.ok()
                .and_then(|n| Uuid::parse_str(n.payload()).ok())
                .map(JobId)
        })
        .boxed())
}
