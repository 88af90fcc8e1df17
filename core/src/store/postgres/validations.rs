//! Validations after the load: requested here (one range task per batch),
//! compared by workers (`freight_worker::dispatch`), summarized in the job
//! view.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PgStore, audit, decode_error, jobs::lock_job};
use crate::StoreError;
use crate::ids::{BatchId, JobId, TenantId};
use crate::store::rows::check_can_validate;
use crate::store::*;

pub(super) async fn start(
    store: &PgStore,
    tenant: &TenantId,
    job: JobId,
    info: &AuditInfo,
) -> StoreResult<ValidationSummary> {
    let mut tx = store.scoped(tenant).await?;
    let status = lock_job(&mut tx, tenant, job).await?;
    check_can_validate(status)?;
    // The job row is locked: no second request races this one.
    if let Some(running) = latest(&mut tx, tenant, job)
        .await?
        .filter(|v| v.status == ValidationStatus::Running)
    {
        tx.commit().await?;
        return Ok(running);
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO validations (id, tenant_id, job_id, status, created_by)
         VALUES ($1, $2, $3, 'running', $4)",
    )
    .bind(id)
    .bind(tenant.as_str())
    .bind(job.0)
    .bind(&info.actor)
    .execute(&mut *tx)
    .await?;
    let ranges = sqlx::query(
        "INSERT INTO validation_results (validation_id, batch_id, tenant_id, job_id, seq)
         SELECT $1, id, tenant_id, job_id, seq FROM batches
         WHERE tenant_id = $2 AND job_id = $3",
    )
    .bind(id)
    .bind(tenant.as_str())
    .bind(job.0)
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
        .bind(id)
        .bind(i32::try_from(ranges).unwrap_or(i32::MAX))
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
    tx.commit().await?;
    Ok(ValidationSummary {
        status: ValidationStatus::Running,
        mismatched_batches: Vec::new(),
        checked_at: None,
        error: None,
    })
}

/// The newest validation of a job with the batches found to differ so far.
pub(super) async fn latest(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    job: JobId,
) -> StoreResult<Option<ValidationSummary>> {
    let row: Option<(Uuid, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT id, status, checked_at FROM validations
         WHERE tenant_id = $1 AND job_id = $2 ORDER BY started_at DESC, id DESC LIMIT 1",
    )
    .bind(tenant.as_str())
    .bind(job.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, status, checked_at)) = row else {
        return Ok(None);
    };
    let status = ValidationStatus::parse(&status)
        .ok_or_else(|| decode_error("validation status", &status))?;
    let mismatched: Vec<Uuid> = sqlx::query_scalar(
        "SELECT batch_id FROM validation_results
         WHERE tenant_id = $1 AND validation_id = $2 AND status = 'checked' AND matched = false
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
         WHERE tenant_id = $1 AND validation_id = $2 AND status = 'checked' AND matched = false
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
        mismatched_batches: mismatched.into_iter().map(BatchId).collect(),
        checked_at,
        error,
    }))
}
