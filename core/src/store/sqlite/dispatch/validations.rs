//! [`DispatchValidations`] on SQLite.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::types::Json;
use uuid::fmt::Hyphenated;

use super::{after, tenant};
use crate::ids::{BatchId, JobId};
use crate::store::dispatch::{ClaimedRange, DispatchValidations, JobRef, SettledValidation};
use crate::store::sqlite::{SqliteStore, decode_error, timestamp, uuid_text};
use crate::store::{StoreResult, ValidationStatus};
use crate::work::{RangeCheck, RangeToValidate};

type RangeRow = (
    Hyphenated,
    Hyphenated,
    Hyphenated,
    String,
    String,
    Option<Json<serde_json::Value>>,
    Option<Json<serde_json::Value>>,
);

#[async_trait]
impl DispatchValidations for SqliteStore {
    async fn expire_validation_leases(&self) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE validation_results SET status = 'pending', lease_owner = NULL,
                    lease_expires_at = NULL
             WHERE status = 'running' AND lease_expires_at < $1",
        )
        .bind(timestamp(Utc::now()))
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(done.rows_affected())
    }

    async fn claim_validation_range(
        &self,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<ClaimedRange>> {
        let at = Utc::now();
        let now = timestamp(at);
        let mut tx = self.begin_write().await?;
        let row: Option<RangeRow> = sqlx::query_as(
            "SELECT r.validation_id, r.batch_id, r.job_id, r.tenant_id,
                    b.table_name, b.key_start, b.key_end
             FROM validation_results r
             JOIN validations v ON v.id = r.validation_id AND v.tenant_id = r.tenant_id
                  AND v.status = 'running'
             JOIN jobs j ON j.id = r.job_id AND j.tenant_id = r.tenant_id
                  AND j.status IN ('completed', 'completed_with_errors', 'failed', 'cancelled')
             JOIN batches b ON b.id = r.batch_id AND b.tenant_id = r.tenant_id
             WHERE r.status = 'pending' AND (r.not_before IS NULL OR r.not_before <= $1)
             ORDER BY v.started_at, r.seq
             LIMIT 1",
        )
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((validation_id, batch_id, job_id, raw_tenant, table_name, key_start, key_end)) =
            row
        else {
            return Ok(None);
        };
        let attempts: i32 = sqlx::query_scalar(
            "UPDATE validation_results SET status = 'running', lease_owner = $4,
                    lease_expires_at = $5, attempts = attempts + 1
             WHERE validation_id = $1 AND batch_id = $2 AND tenant_id = $3
             RETURNING attempts",
        )
        .bind(validation_id)
        .bind(batch_id)
        .bind(&raw_tenant)
        .bind(owner)
        .bind(after(at, ttl))
        .fetch_one(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(Some(ClaimedRange {
            validation_id: validation_id.into_uuid(),
            job: JobRef {
                job_id: JobId(job_id.into_uuid()),
                tenant: tenant(&raw_tenant)?,
            },
            attempts,
            range: RangeToValidate {
                batch_id: BatchId(batch_id.into_uuid()),
                table_name,
                key_start: key_start.map(|k| k.0),
                key_end: key_end.map(|k| k.0),
            },
        }))
    }

    async fn renew_validation_lease(
        &self,
        claimed: &ClaimedRange,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE validation_results SET lease_expires_at = $5
             WHERE validation_id = $1 AND batch_id = $2 AND tenant_id = $3
               AND lease_owner = $4 AND status = 'running'",
        )
        .bind(uuid_text(claimed.validation_id))
        .bind(uuid_text(claimed.range.batch_id.0))
        .bind(claimed.job.tenant.as_str())
        .bind(owner)
        .bind(after(Utc::now(), ttl))
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_range(
        &self,
        claimed: &ClaimedRange,
        owner: &str,
        check: &RangeCheck,
    ) -> StoreResult<bool> {
        self.update_one(
            sqlx::query(
                "UPDATE validation_results SET status = 'checked', source_count = $5,
                        target_count = $6, source_checksum = $7, target_checksum = $8, matched = $9,
                        detail = $10, checked_at = $11, lease_owner = NULL, lease_expires_at = NULL
                 WHERE validation_id = $1 AND batch_id = $2 AND tenant_id = $3
                   AND lease_owner = $4 AND status = 'running'",
            )
            .bind(uuid_text(claimed.validation_id))
            .bind(uuid_text(claimed.range.batch_id.0))
            .bind(claimed.job.tenant.as_str())
            .bind(owner)
            .bind(check.source.rows)
            .bind(check.target.rows)
            .bind(check.source.checksum.to_string())
            .bind(check.target.checksum.to_string())
            .bind(check.matched)
            .bind(&check.detail)
            .bind(timestamp(Utc::now())),
        )
        .await
    }

    async fn fail_range(
        &self,
        claimed: &ClaimedRange,
        owner: &str,
        message: &str,
        retry_after: Option<Duration>,
    ) -> StoreResult<bool> {
        let at = Utc::now();
        let (status, not_before, matched, checked_at) = match retry_after {
            Some(d) => ("pending", Some(after(at, d)), None, None),
            None => ("checked", None, Some(false), Some(timestamp(at))),
        };
        self.update_one(
            sqlx::query(
                "UPDATE validation_results SET status = $5, not_before = $6, matched = $7,
                        checked_at = $8, detail = $9, lease_owner = NULL, lease_expires_at = NULL
                 WHERE validation_id = $1 AND batch_id = $2 AND tenant_id = $3
                   AND lease_owner = $4 AND status = 'running'",
            )
            .bind(uuid_text(claimed.validation_id))
            .bind(uuid_text(claimed.range.batch_id.0))
            .bind(claimed.job.tenant.as_str())
            .bind(owner)
            .bind(status)
            .bind(not_before)
            .bind(matched)
            .bind(checked_at)
            .bind(format!("could not compare the range: {message}")),
        )
        .await
    }

    async fn settle_validations(&self) -> StoreResult<Vec<SettledValidation>> {
        let now = timestamp(Utc::now());
        let mut tx = self.begin_write().await?;
        let done: Vec<(Hyphenated, Hyphenated, String, i32)> = sqlx::query_as(
            "SELECT v.id, v.job_id, v.tenant_id,
                    (SELECT count(*) FROM validation_results r
                     WHERE r.validation_id = v.id AND r.tenant_id = v.tenant_id
                       AND r.matched IS NOT 1) AS mismatched
             FROM validations v
             WHERE v.status = 'running'
               AND NOT EXISTS (SELECT 1 FROM validation_results r
                               WHERE r.validation_id = v.id AND r.status <> 'checked')",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut settled = Vec::with_capacity(done.len());
        for (id, job_id, raw_tenant, mismatched) in done {
            let status = if mismatched == 0 {
                ValidationStatus::Passed
            } else {
                ValidationStatus::Failed
            };
            // The outbox trigger writes `validation.finished` deliveries.
            let stored: String = sqlx::query_scalar(
                "UPDATE validations SET status = $3, mismatched = $4, checked_at = $5
                 WHERE id = $1 AND tenant_id = $2
                 RETURNING status",
            )
            .bind(id)
            .bind(&raw_tenant)
            .bind(status.as_str())
            .bind(mismatched)
            .bind(&now)
            .fetch_one(&mut *tx)
            .await?;
            settled.push(SettledValidation {
                validation_id: id.into_uuid(),
                job_id: JobId(job_id.into_uuid()),
                status: ValidationStatus::parse(&stored)
                    .ok_or_else(|| decode_error("validation status", &stored))?,
                mismatched,
            });
        }
        self.commit(tx).await?;
        Ok(settled)
    }
}
