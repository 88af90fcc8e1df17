//! [`DispatchValidations`] on Postgres.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use super::tenant;
use crate::ids::{BatchId, JobId};
use crate::store::dispatch::{ClaimedRange, DispatchValidations, JobRef, SettledValidation};
use crate::store::postgres::{PgStore, decode_error};
use crate::store::{StoreResult, ValidationStatus};
use crate::work::{RangeCheck, RangeToValidate};

/// What `claim_validation_range` returns.
#[derive(sqlx::FromRow)]
struct RangeRow {
    validation_id: Uuid,
    batch_id: Uuid,
    job_id: Uuid,
    tenant_id: String,
    attempts: i32,
    table_name: String,
    key_start: Option<Value>,
    key_end: Option<Value>,
}

#[async_trait]
impl DispatchValidations for PgStore {
    async fn expire_validation_leases(&self) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE validation_results SET status = 'pending', lease_owner = NULL,
                    lease_expires_at = NULL
             WHERE status = 'running' AND lease_expires_at < now()",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn claim_validation_range(
        &self,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<ClaimedRange>> {
        let row: Option<RangeRow> = sqlx::query_as(
            "UPDATE validation_results r SET status = 'running', lease_owner = $1,
                    lease_expires_at = now() + make_interval(secs => $2), attempts = r.attempts + 1
             FROM (SELECT r2.validation_id, r2.batch_id
                   FROM validation_results r2
                   JOIN validations v ON v.id = r2.validation_id AND v.status = 'running'
                   JOIN jobs j ON j.id = r2.job_id AND j.tenant_id = r2.tenant_id
                        AND j.status IN ('completed', 'completed_with_errors', 'failed', 'cancelled')
                   WHERE r2.status = 'pending' AND (r2.not_before IS NULL OR r2.not_before <= now())
                   ORDER BY v.started_at, r2.seq
                   LIMIT 1
                   FOR UPDATE OF r2 SKIP LOCKED) c,
                  batches b
             WHERE r.validation_id = c.validation_id AND r.batch_id = c.batch_id
               AND b.id = r.batch_id AND b.tenant_id = r.tenant_id
             RETURNING r.validation_id, r.batch_id, r.job_id, r.tenant_id, r.attempts,
                       b.table_name, b.key_start, b.key_end",
        )
        .bind(owner)
        .bind(ttl.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(ClaimedRange {
            validation_id: row.validation_id,
            job: JobRef {
                job_id: JobId(row.job_id),
                tenant: tenant(&row.tenant_id)?,
            },
            attempts: row.attempts,
            range: RangeToValidate {
                batch_id: BatchId(row.batch_id),
                table_name: row.table_name,
                key_start: row.key_start,
                key_end: row.key_end,
            },
        }))
    }

    async fn renew_validation_lease(
        &self,
        claimed: &ClaimedRange,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE validation_results SET lease_expires_at = now() + make_interval(secs => $5)
             WHERE validation_id = $1 AND batch_id = $2 AND tenant_id = $3
               AND lease_owner = $4 AND status = 'running'",
        )
        .bind(claimed.validation_id)
        .bind(claimed.range.batch_id.0)
        .bind(claimed.job.tenant.as_str())
        .bind(owner)
        .bind(ttl.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_range(
        &self,
        claimed: &ClaimedRange,
        owner: &str,
        check: &RangeCheck,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE validation_results SET status = 'checked', source_count = $5,
                    target_count = $6, source_checksum = $7, target_checksum = $8, matched = $9,
                    detail = $10, checked_at = now(), lease_owner = NULL, lease_expires_at = NULL
             WHERE validation_id = $1 AND batch_id = $2 AND tenant_id = $3
               AND lease_owner = $4 AND status = 'running'",
        )
        .bind(claimed.validation_id)
        .bind(claimed.range.batch_id.0)
        .bind(claimed.job.tenant.as_str())
        .bind(owner)
        .bind(check.source.rows)
        .bind(check.target.rows)
        .bind(check.source.checksum.to_string())
        .bind(check.target.checksum.to_string())
        .bind(check.matched)
        .bind(&check.detail)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_range(
        &self,
        claimed: &ClaimedRange,
        owner: &str,
        message: &str,
        retry_after: Option<Duration>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE validation_results SET
                    status = CASE WHEN $5::float8 IS NULL THEN 'checked' ELSE 'pending' END,
                    not_before = CASE WHEN $5::float8 IS NULL THEN NULL
                                      ELSE now() + make_interval(secs => $5::float8) END,
                    matched = CASE WHEN $5::float8 IS NULL THEN false END,
                    checked_at = CASE WHEN $5::float8 IS NULL THEN now() END,
                    detail = $6, lease_owner = NULL, lease_expires_at = NULL
             WHERE validation_id = $1 AND batch_id = $2 AND tenant_id = $3
               AND lease_owner = $4 AND status = 'running'",
        )
        .bind(claimed.validation_id)
        .bind(claimed.range.batch_id.0)
        .bind(claimed.job.tenant.as_str())
        .bind(owner)
        .bind(retry_after.map(|d| d.as_secs_f64()))
        .bind(format!("could not compare the range: {message}"))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn settle_validations(&self) -> StoreResult<Vec<SettledValidation>> {
        let rows: Vec<(Uuid, Uuid, String, i32)> = sqlx::query_as(
            "WITH done AS (
                 SELECT v.id,
                        (SELECT count(*) FROM validation_results r
                         WHERE r.validation_id = v.id AND r.matched IS NOT TRUE)::int AS mismatched
                 FROM validations v
                 WHERE v.status = 'running'
                   AND NOT EXISTS (SELECT 1 FROM validation_results r
                                   WHERE r.validation_id = v.id AND r.status <> 'checked')
                 FOR UPDATE OF v SKIP LOCKED
             )
             UPDATE validations v SET
                 status = CASE WHEN d.mismatched = 0 THEN 'passed' ELSE 'failed' END,
                 mismatched = d.mismatched, checked_at = now()
             FROM done d WHERE v.id = d.id
             RETURNING v.id, v.job_id, v.status, v.mismatched",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(validation_id, job_id, status, mismatched)| {
                Ok(SettledValidation {
                    validation_id,
                    job_id: JobId(job_id),
                    status: ValidationStatus::parse(&status)
                        .ok_or_else(|| decode_error("validation status", &status))?,
                    mismatched,
                })
            })
            .collect()
    }
}
