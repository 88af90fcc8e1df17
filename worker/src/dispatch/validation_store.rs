//! Every query the validation phase makes to Freight's database: range
//! tasks are claimed under a lease like batches (Postgres is the record:
//! a dead worker's lease expires and the range is taken again; Redis is not
//! involved, so losing it loses nothing), their results recorded under the
//! lease, and a validation settles once no range is open.

use std::time::Duration;

use anyhow::Context as _;
use freight_core::ids::{BatchId, JobId};
use serde_json::Value;
use uuid::Uuid;

use super::store::{DispatchStore, JobRef};
use crate::engine::{RangeCheck, RangeToValidate};

/// A range task this worker holds the lease on.
#[derive(Debug, Clone)]
pub struct ClaimedRange {
    pub validation_id: Uuid,
    pub job: JobRef,
    pub attempts: i32,
    pub range: RangeToValidate,
}

/// A validation that just ended.
#[derive(Debug, Clone)]
pub struct SettledValidation {
    pub validation_id: Uuid,
    pub job_id: JobId,
    pub status: String,
    pub mismatched: i32,
}

impl DispatchStore {
    /// Running range tasks whose worker stopped renewing go back to pending.
    pub async fn expire_validation_leases(&self) -> anyhow::Result<u64> {
        let done = sqlx::query(
            "UPDATE validation_results SET status = 'pending', lease_owner = NULL,
                    lease_expires_at = NULL
             WHERE status = 'running' AND lease_expires_at < now()",
        )
        .execute(self.pool())
        .await
        .context("expiring validation leases")?;
        Ok(done.rows_affected())
    }

    /// Takes the lease of one pending, due range of a running validation
    /// whose job is not being changed (a retry in progress waits).
    pub async fn claim_validation_range(
        &self,
        owner: &str,
        ttl: Duration,
    ) -> anyhow::Result<Option<ClaimedRange>> {
        type Row = (
            Uuid,
            Uuid,
            Uuid,
            String,
            i32,
            String,
            Option<Value>,
            Option<Value>,
        );
        let row: Option<Row> = sqlx::query_as(
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
        .fetch_optional(self.pool())
        .await
        .context("claiming a validation range")?;
        let Some((
            validation_id,
            batch_id,
            job_id,
            tenant,
            attempts,
            table_name,
            key_start,
            key_end,
        )) = row
        else {
            return Ok(None);
        };
        let tenant = freight_core::ids::TenantId::parse(&tenant)
            .map_err(|_| anyhow::anyhow!("invalid tenant id {tenant:?} in the database"))?;
        Ok(Some(ClaimedRange {
            validation_id,
            job: JobRef {
                job_id: JobId(job_id),
                tenant,
            },
            attempts,
            range: RangeToValidate {
                batch_id: BatchId(batch_id),
                table_name,
                key_start,
                key_end,
            },
        }))
    }

    /// Extends a range lease; `false` when it is no longer ours.
    pub async fn renew_validation_lease(
        &self,
        claimed: &ClaimedRange,
        owner: &str,
        ttl: Duration,
    ) -> anyhow::Result<bool> {
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
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores the comparison of a range under our lease; `false` when the
    /// lease was lost (nothing stored).
    pub async fn record_range(
        &self,
        claimed: &ClaimedRange,
        owner: &str,
        check: &RangeCheck,
    ) -> anyhow::Result<bool> {
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
        .execute(self.pool())
        .await
        .context("recording a validated range")?;
        Ok(done.rows_affected() == 1)
    }

    /// A range that could not be compared: pending again after `retry_after`,
    /// or checked as not matching (it cannot be shown equal) with the reason.
    pub async fn fail_range(
        &self,
        claimed: &ClaimedRange,
        owner: &str,
        message: &str,
        retry_after: Option<Duration>,
    ) -> anyhow::Result<bool> {
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
        .execute(self.pool())
        .await
        .context("recording a range that could not be validated")?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends every running validation with no open range: `passed` when all
    /// matched, else `failed`. Run after each range (the last one to commit
    /// settles it) and on every pass (a backstop).
    pub async fn settle_validations(&self) -> anyhow::Result<Vec<SettledValidation>> {
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
        .fetch_all(self.pool())
        .await
        .context("settling validations")?;
        Ok(rows
            .into_iter()
            .map(
                |(validation_id, job_id, status, mismatched)| SettledValidation {
                    validation_id,
                    job_id: JobId(job_id),
                    status,
                    mismatched,
                },
            )
            .collect())
    }
}
