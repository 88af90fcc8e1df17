//! SQLite backend of the dispatch traits
//! ([`DispatchStore`](crate::store::dispatch::DispatchStore)), one file per
//! aggregate, the same statements as `postgres::dispatch` translated.
//!
//! What `FOR UPDATE [SKIP LOCKED]` does on PostgreSQL, the one writer does
//! here: every write is a `BEGIN IMMEDIATE` transaction on the store's
//! single writer connection, so a claim's read and its write see no other
//! write in between, and two claimers of one row run one after the other
//! (the second finds it taken). Without row-level security, every
//! statement about a job or batch names its tenant.
//!
//! Times: the store's process is the only one writing the file, so its
//! clock is the database's; instants are computed once per transaction and
//! stored as [`timestamp`](super::timestamp) text.

mod batches;
mod jobs;
mod logs;
mod outbox;
mod validations;
mod workers;

pub use workers::TakenOver;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use sqlx::types::Json;
use uuid::fmt::Hyphenated;

use super::{decode_error, timestamp, uuid_text};
use crate::ids::{BatchId, JobId, TenantId};
use crate::job::LogLevel;
use crate::store::StoreResult;
use crate::store::dispatch::{ClaimedBatch, JobRef};
use crate::work::RejectedRecord;

/// `at + d`, as stored.
fn after(at: DateTime<Utc>, d: Duration) -> String {
    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    timestamp(at.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC))
}

/// `at - d`, as stored.
fn before(at: DateTime<Utc>, d: Duration) -> String {
    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    timestamp(at.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC))
}

fn tenant(raw: &str) -> StoreResult<TenantId> {
    TenantId::parse(raw).map_err(|_| decode_error("tenant id", raw))
}

/// A `(id, tenant_id)` row as a [`JobRef`].
fn job_ref((id, raw_tenant): (Hyphenated, String)) -> StoreResult<JobRef> {
    Ok(JobRef {
        job_id: JobId(id.into_uuid()),
        tenant: tenant(&raw_tenant)?,
    })
}

/// The job's `max_retries` if it is running and `owner` holds its dispatch
/// lease. The caller's transaction holds the write lock, so the answer
/// stays true until it commits.
async fn job_if_owned(
    conn: &mut SqliteConnection,
    job: &JobRef,
    owner: &str,
) -> StoreResult<Option<i32>> {
    Ok(sqlx::query_scalar(
        "SELECT max_retries FROM jobs
         WHERE id = $1 AND tenant_id = $2 AND status = 'running' AND dispatch_owner = $3",
    )
    .bind(uuid_text(job.job_id.0))
    .bind(job.tenant.as_str())
    .bind(owner)
    .fetch_optional(conn)
    .await?)
}

async fn release_in_tx(conn: &mut SqliteConnection, job: &JobRef, owner: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE jobs SET dispatch_owner = NULL, dispatch_lease_until = NULL
         WHERE id = $1 AND tenant_id = $2 AND dispatch_owner = $3",
    )
    .bind(uuid_text(job.job_id.0))
    .bind(job.tenant.as_str())
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(())
}

/// One error log row per rejected record: key, table, column, message.
async fn insert_rejected(
    conn: &mut SqliteConnection,
    claimed: &ClaimedBatch,
    rejected: &[RejectedRecord],
    at: &str,
) -> StoreResult<()> {
    if rejected.is_empty() {
        return Ok(());
    }
    let batch = &claimed.batch;
    let rows: Vec<serde_json::Value> = rejected
        .iter()
        .map(|r| serde_json::json!({"k": r.key, "c": r.column, "m": r.message}))
        .collect();
    // One statement for any number of records: `->` keeps the key as JSON
    // text, `->>` gives column and message as SQL text.
    sqlx::query(
        "INSERT INTO job_logs (job_id, tenant_id, batch_id, level, table_name, record_key, column_name, message, created_at)
         SELECT $1, $2, $3, 'error', $4, NULLIF(value -> '$.k', 'null'), value ->> '$.c', value ->> '$.m', $6
         FROM json_each($5) ORDER BY key",
    )
    .bind(uuid_text(batch.job_id.0))
    .bind(batch.tenant.as_str())
    .bind(uuid_text(batch.batch_id.0))
    .bind(&claimed.run.table_name)
    .bind(Json(rows))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_log(
    conn: &mut SqliteConnection,
    job: &JobRef,
    batch: Option<BatchId>,
    level: LogLevel,
    table: Option<&str>,
    message: &str,
    at: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO job_logs (job_id, tenant_id, batch_id, level, table_name, message, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid_text(job.job_id.0))
    .bind(job.tenant.as_str())
    .bind(batch.map(|b| uuid_text(b.0)))
    .bind(level.as_str())
    .bind(table)
    .bind(message)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
