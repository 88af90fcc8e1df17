//! Validations after the load: requested here (one range task per batch),
//! compared by workers (`freight_worker::dispatch`), summarized in the job
//! view.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use uuid::Uuid;
use uuid::fmt::Hyphenated;

use super::{SqliteStore, audit, decode_error, jobs::lock_job, now, uuid_text};
use crate::StoreError;
use crate::ids::{BatchId, JobId, TenantId};
use crate::store::rows::check_can_validate;
use crate::store::*;

pub(super) async fn start(
    store: &SqliteStore,
    tenant: &TenantId,
    job: JobId,
    info: &AuditInfo,
) -> StoreResult<ValidationSummary> {
    let mut tx = store.begin_write().await?;
    let status = lock_job(&mut tx, tenant, job).await?;
    check_can_validate(status)?;
    // The write lock is held: no second request races this one.
    if let Some(running) = latest(&mut tx, tenant, job)
        .await?
        .filter(|v| v.status == ValidationStatus::Running)
    {
        store.commit(tx).await?;
        return Ok(running);
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO validations (id, tenant_id, job_id, status, created_by, started_at)
         VALUES ($1, $2, $3, 'running', $4, $5)",
    )
    .bind(uuid_text(id))
    .bind(tenant.as_str())
    .bind(uuid_text(job.0))
    .bind(&info.actor)
    .bind(now())
    .execute(&mut *tx)
    .await?;
    let ranges = sqlx::query(
        "INSERT INTO validation_results (validation_id, batch_id, tenant_id, job_id, seq)
         SELECT $1, id, tenant_id, job_id, seq FROM batches
         WHERE tenant_id = $2 AND job_id = $3",
    )
    .bind(uuid_text(id))
    .bind(tenant.as_str())
    .bind(uuid_text(job.0))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if ranges == 0 {
        return Err(StoreError::Conflict(
            "the job has no batches to validate (it failed before planning)".into(),
        ));
    }
    sqlx::query("UPDATE validations SET ranges_total = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.as_str())
        .bind(uuid_text(id))
        .bind(i64::try_from(ranges).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        tenant,
        info,
        AuditAction::JobValidate,
        Some(&job.to_string()),
        serde_json::json!({ "validation_id": id, "ranges": ranges }),
    )
    .await?;
    store.commit(tx).await?;
    Ok(ValidationSummary {
        status: ValidationStatus::Running,
        mismatched_batches: Vec::new(),
        checked_at: None,
        error: None,
    })
}

/// The newest validation of a job with the batches found to differ so far.
pub(super) async fn latest(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    job: JobId,
) -> StoreResult<Option<ValidationSummary>> {
    let row: Option<(Hyphenated, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT id, status, checked_at FROM validations
         WHERE tenant_id = $1 AND job_id = $2 ORDER BY started_at DESC, id DESC LIMIT 1",
    )
    .bind(tenant.as_str())
    .bind(uuid_text(job.0))
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, status, checked_at)) = row else {
        return Ok(None);
    };
    let status = ValidationStatus::parse(&status)
        .ok_or_else(|| decode_error("validation status", &status))?;
    let mismatched: Vec<Hyphenated> = sqlx::query_scalar(
        "SELECT batch_id FROM validation_results
         WHERE tenant_id = $1 AND validation_id = $2 AND status = 'checked' AND matched = 0
         ORDER BY seq",
    )
    .bind(tenant.as_str())
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    // A range that could not be compared is settled unmatched with no
    // counts; its detail says why.
    let error: Option<String> = sqlx::query_scalar(
        "SELECT detail FROM validation_results
         WHERE tenant_id = $1 AND validation_id = $2 AND status = 'checked' AND matched = 0
           AND source_count IS NULL
         ORDER BY seq LIMIT 1",
    )
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .flatten();
    Ok(Some(ValidationSummary {
        status,
        mismatched_batches: mismatched
            .into_iter()
            .map(|b| BatchId(b.into_uuid()))
            .collect(),
        checked_at,
        error,
    }))
}
