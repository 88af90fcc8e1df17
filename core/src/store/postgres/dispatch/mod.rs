//! PostgreSQL backend of the dispatch traits
//! ([`DispatchStore`](crate::store::dispatch::DispatchStore)), one file per
//! aggregate.
//!
//! Workers connect as the database owner (no row-level security: they
//! serve every tenant), so every statement names the job (and tenant) it
//! is about. State changes that several workers may race for are single
//! atomic statements or use `FOR UPDATE SKIP LOCKED`; writes that belong
//! to one worker's lease are guarded by `lease_owner` / `dispatch_owner`.

mod batches;
mod jobs;
mod logs;
mod outbox;
mod validations;
mod workers;

use std::time::Duration;

use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::ids::{BatchId, JobId, TenantId};
use crate::job::LogLevel;
use crate::store::StoreResult;
use crate::store::dispatch::{ClaimedBatch, JobRef};
use crate::work::RejectedRecord;

fn interval_secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn tenant(raw: &str) -> StoreResult<TenantId> {
    TenantId::parse(raw).map_err(|_| super::decode_error("tenant id", raw))
}

/// A `(id, tenant_id)` row as a [`JobRef`].
fn job_ref((id, raw_tenant): (Uuid, String)) -> StoreResult<JobRef> {
    Ok(JobRef {
        job_id: JobId(id),
        tenant: tenant(&raw_tenant)?,
    })
}

/// Locks the job row if it is running and we hold its dispatch lease;
/// returns its `max_retries`.
async fn lock_job_if_owned(
    tx: &mut Transaction<'static, Postgres>,
    job: &JobRef,
    owner: &str,
) -> StoreResult<Option<i32>> {
    Ok(sqlx::query_scalar(
        "SELECT max_retries FROM jobs
         WHERE id = $1 AND tenant_id = $2 AND status = 'running' AND dispatch_owner = $3
         FOR UPDATE",
    )
    .bind(job.job_id.0)
    .bind(job.tenant.as_str())
    .bind(owner)
    .fetch_optional(&mut **tx)
    .await?)
}

async fn release_in_tx(
    tx: &mut Transaction<'static, Postgres>,
    job: &JobRef,
    owner: &str,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE jobs SET dispatch_owner = NULL, dispatch_lease_until = NULL
         WHERE id = $1 AND tenant_id = $2 AND dispatch_owner = $3",
    )
    .bind(job.job_id.0)
    .bind(job.tenant.as_str())
    .bind(owner)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One error log row per rejected record: key, table, column, message.
async fn insert_rejected(
    conn: &mut PgConnection,
    claimed: &ClaimedBatch,
    rejected: &[RejectedRecord],
) -> StoreResult<()> {
    if rejected.is_empty() {
        return Ok(());
    }
    let batch = &claimed.batch;
    let keys: Vec<serde_json::Value> = rejected.iter().map(|r| r.key.clone()).collect();
    let columns: Vec<Option<&str>> = rejected.iter().map(|r| r.column.as_deref()).collect();
    let messages: Vec<&str> = rejected.iter().map(|r| r.message.as_str()).collect();
    sqlx::query(
        "INSERT INTO job_logs (job_id, tenant_id, batch_id, level, table_name, record_key, column_name, message)
         SELECT $1, $2, $3, 'error', $4, k, c, m
         FROM UNNEST($5::jsonb[], $6::text[], $7::text[]) AS t(k, c, m)",
    )
    .bind(batch.job_id.0)
    .bind(batch.tenant.as_str())
    .bind(batch.batch_id.0)
    .bind(&claimed.run.table_name)
    .bind(&keys)
    .bind(&columns)
    .bind(&messages)
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_log(
    conn: &mut PgConnection,
    job: &JobRef,
    batch: Option<BatchId>,
    level: LogLevel,
    table: Option<&str>,
    message: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO job_logs (job_id, tenant_id, batch_id, level, table_name, message)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(job.job_id.0)
    .bind(job.tenant.as_str())
    .bind(batch.map(|b| b.0))
    .bind(level.as_str())
    .bind(table)
    .bind(message)
    .execute(conn)
    .await?;
    Ok(())
}
