//! Record-level job logs: listed a page at a time, or streamed for export.

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use sqlx::types::Json;
use uuid::fmt::Hyphenated;

use super::{SqliteStore, decode_error, page_size, timestamp, uuid_text};
use crate::StoreError;
use crate::ids::{BatchId, JobId, TenantId};
use crate::job::LogLevel;
use crate::store::*;

/// Rows fetched per round trip while exporting.
const EXPORT_CHUNK: u32 = 1000;

#[derive(sqlx::FromRow)]
struct LogRow {
    id: i64,
    batch_id: Option<Hyphenated>,
    level: String,
    table_name: Option<String>,
    record_key: Option<Json<serde_json::Value>>,
    column_name: Option<String>,
    message: String,
    created_at: DateTime<Utc>,
}

fn levels_at_least(min: Option<LogLevel>) -> Option<Json<Vec<&'static str>>> {
    min.map(|min| {
        Json(
            [
                LogLevel::Debug,
                LogLevel::Info,
                LogLevel::Warn,
                LogLevel::Error,
            ]
            .into_iter()
            .filter(|l| *l >= min)
            .map(LogLevel::as_str)
            .collect(),
        )
    })
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
    .bind(levels_at_least(filter.min_level))
    .bind(filter.batch_id.map(|b| uuid_text(b.0)))
    .bind(filter.since.map(timestamp))
    .bind(filter.after_id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter()
        .map(|r| {
            Ok(LogEntry {
                id: r.id,
                batch_id: r.batch_id.map(|b| BatchId(b.into_uuid())),
                level: LogLevel::parse(&r.level)
                    .ok_or_else(|| decode_error("log level", &r.level))?,
                table_name: r.table_name,
                record_key: r.record_key.map(|k| k.0),
                column_name: r.column_name,
                message: r.message,
                created_at: r.created_at,
            })
        })
        .collect()
}

pub(super) async fn list(
    store: &SqliteStore,
    tenant: &TenantId,
    job: JobId,
    filter: &LogFilter,
) -> StoreResult<Page<LogEntry>> {
    let limit = page_size(filter.limit);
    let mut items = fetch_page(store, tenant, job, filter, limit + 1).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|e| encode_cursor(&e.id.to_string()))
    } else {
        None
    };
    Ok(Page {
        items,
        next_cursor,
        total: None,
    })
}

pub(super) async fn stream(
    store: &SqliteStore,
    tenant: &TenantId,
    job: JobId,
    filter: LogFilter,
) -> StoreResult<BoxStream<'static, StoreResult<LogEntry>>> {
    // Fetch the first chunk eagerly so a missing job is a 404, not a broken stream.
    let first = fetch_page(store, tenant, job, &filter, i64::from(EXPORT_CHUNK)).await?;
    let state = (store.clone(), tenant.clone(), filter, Some(first));
    let pages = stream::try_unfold(
        state,
        move |(store, tenant, mut filter, pending)| async move {
            let page = match pending {
                Some(page) => page,
                None => fetch_page(&store, &tenant, job, &filter, i64::from(EXPORT_CHUNK)).await?,
            };
            if page.is_empty() {
                return Ok::<_, StoreError>(None);
            }
            filter.after_id = page.last().map(|e| e.id);
            Ok(Some((
                stream::iter(page.into_iter().map(Ok)),
                (store, tenant, filter, None),
            )))
        },
    );
    Ok(pages.try_flatten().boxed())
}
