//! Record-level job logs: listed a page at a time, or streamed for export.

use async_trait::async_trait;
use sqlx::types::Json;
use uuid::fmt::Hyphenated;

use super::{SqliteStore, timestamp, uuid_text};
use crate::StoreError;
use crate::ids::{JobId, TenantId};
use crate::store::rows::{LogColumns, LogPages, levels_at_least};
use crate::store::*;

#[derive(sqlx::FromRow)]
struct LogRow {
    batch_id: Option<Hyphenated>,
    record_key: Option<Json<serde_json::Value>>,
    #[sqlx(flatten)]
    columns: LogColumns,
}

async fn fetch_page(
    store: &SqliteStore,
    tenant: &TenantId,
    job: JobId,
    filter: &LogFilter,
    limit: i64,
) -> StoreResult<Vec<LogEntry>> {
    let job_key = uuid_text(job.0);
    let mut tx = store.begin_read().await?;
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM jobs WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(job_key)
            .fetch_optional(&mut *tx)
            .await?;
    exists.ok_or(StoreError::NotFound)?;
    let rows: Vec<LogRow> = sqlx::query_as(
        "SELECT id, batch_id, level, table_name, record_key, column_name, message, created_at
         FROM job_logs
         WHERE tenant_id = $1 AND job_id = $2
           AND ($3 IS NULL OR level IN (SELECT value FROM json_each($3)))
           AND ($4 IS NULL OR batch_id = $4)
           AND ($5 IS NULL OR created_at >= $5)
           AND ($6 IS NULL OR id > $6)
         ORDER BY id LIMIT $7",
    )
    .bind(tenant.as_str())
    .bind(job_key)
    .bind(levels_at_least(filter.min_level).map(Json))
    .bind(filter.batch_id.map(|b| uuid_text(b.0)))
    .bind(filter.since.map(timestamp))
    .bind(filter.after_id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter()
        .map(|r| {
            r.columns.into_entry(
                r.batch_id.map(Hyphenated::into_uuid),
                r.record_key.map(|k| k.0),
            )
        })
        .collect()
}

#[async_trait]
impl LogPages for SqliteStore {
    async fn log_page(
        &self,
        tenant: &TenantId,
        job: JobId,
        filter: &LogFilter,
        limit: i64,
    ) -> StoreResult<Vec<LogEntry>> {
        fetch_page(self, tenant, job, filter, limit).await
    }
}
