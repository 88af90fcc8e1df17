//! [`DispatchBatches`] on SQLite.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::fmt::Hyphenated;

use super::{after, before, insert_log, insert_rejected, tenant};
use crate::ids::{BatchId, JobId};
use crate::job::{BatchStatus, JobStatus, LogLevel};
use crate::store::StoreResult;
use crate::store::dispatch::{
    AttemptFailed, BatchRef, ClaimedBatch, DispatchBatches, DispatchState, ExpiredLease,
};
use crate::store::sqlite::{SqliteStore, timestamp, uuid_text};
use crate::work::{BatchOutcome, BatchToRun, RejectedRecord};

/// What `claim_batch` reads back from the row it claimed.
#[derive(sqlx::FromRow)]
struct ClaimRow {
    seq: i32,
    table_name: String,
    key_start: Option<Json<serde_json::Value>>,
    key_end: Option<Json<serde_json::Value>>,
    attempts: i32,
    max_attempts: i32,
    lost_leases: i32,
}

/// A running batch whose lease expired, as `expire_leases` reads it.
#[derive(sqlx::FromRow)]
struct ExpiredRow {
    id: Hyphenated,
    job_id: Hyphenated,
    tenant_id: String,
    seq: i32,
    lost_leases: i32,
    lease_owner: Option<String>,
    job_status: String,
}

fn batch_ref(id: Hyphenated, job_id: Hyphenated, raw_tenant: &str) -> StoreResult<BatchRef> {
    Ok(BatchRef {
        batch_id: BatchId(id.into_uuid()),
        job_id: JobId(job_id.into_uuid()),
        tenant: tenant(raw_tenant)?,
    })
}

/// The status of a batch's job, read under the caller's write lock.
async fn job_status(
    conn: &mut sqlx::SqliteConnection,
    batch: &BatchRef,
) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1 AND tenant_id = $2")
            .bind(uuid_text(batch.job_id.0))
            .bind(batch.tenant.as_str())
            .fetch_optional(conn)
            .await?,
    )
}

#[async_trait]
impl DispatchBatches for SqliteStore {
    async fn expire_leases(&self, max_lost_leases: i32) -> StoreResult<Vec<ExpiredLease>> {
        let now = timestamp(Utc::now());
        let mut tx = self.begin_write().await?;
        let rows: Vec<ExpiredRow> = sqlx::query_as(
            "SELECT b.id, b.job_id, b.tenant_id, b.seq, b.lost_leases, b.lease_owner,
                    j.status AS job_status
             FROM batches b JOIN jobs j ON j.id = b.job_id AND j.tenant_id = b.tenant_id
             WHERE b.status = 'running' AND b.lease_expires_at < $1
             ORDER BY b.job_id, b.seq",
        )
        .bind(&now)
        .fetch_all(&mut *tx)
        .await?;
        let mut expired = Vec::with_capacity(rows.len());
        for row in rows {
            let batch = batch_ref(row.id, row.job_id, &row.tenant_id)?;
            let lost = row.lost_leases.saturating_add(1);
            let new_status = if row.job_status == JobStatus::Cancelling.as_str() {
                BatchStatus::Cancelled
            } else if lost >= max_lost_leases {
                BatchStatus::Failed
            } else {
                BatchStatus::Pending
            };
            let finished = (new_status != BatchStatus::Pending).then_some(now.as_str());
            sqlx::query(
                "UPDATE batches SET status = $3, lost_leases = $4,
                        last_error = 'the worker running this batch stopped (lease expired)',
                        finished_at = $5, lease_owner = NULL, lease_expires_at = NULL,
                        dispatched_at = NULL, not_before = NULL, updated_at = $6
                 WHERE id = $1 AND tenant_id = $2",
            )
            .bind(row.id)
            .bind(&row.tenant_id)
            .bind(new_status.as_str())
            .bind(lost)
            .bind(finished)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            let seq = row.seq;
            let message = match new_status {
                BatchStatus::Failed => format!(
                    "batch {seq}: its worker stopped {max_lost_leases} times while running it; giving up"
                ),
                BatchStatus::Cancelled => {
                    format!("batch {seq}: its worker stopped; cancelled with the job")
                }
                _ => format!("batch {seq}: its worker stopped (lease expired); running it again"),
            };
            insert_log(
                &mut tx,
                &batch.job(),
                Some(batch.batch_id),
                LogLevel::Warn,
                None,
                &message,
                &now,
            )
            .await?;
            expired.push(ExpiredLease {
                batch,
                seq,
                new_status,
                previous_owner: row.lease_owner,
            });
        }
        self.commit(tx).await?;
        Ok(expired)
    }

    async fn dispatch_state(
        &self,
        redispatch_after: Duration,
        live_window: Duration,
    ) -> StoreResult<DispatchState> {
        let at = Utc::now();
        let (outstanding, live_slots, cancelling): (i64, i64, bool) = sqlx::query_as(
            "SELECT
                 (SELECT count(*) FROM batches WHERE status = 'pending' AND dispatched_at > $1),
                 (SELECT COALESCE(sum(concurrency), 0) FROM workers
                  WHERE stopped_at IS NULL AND last_seen > $2),
                 EXISTS (SELECT 1 FROM jobs WHERE status = 'cancelling')",
        )
        .bind(before(at, redispatch_after))
        .bind(before(at, live_window))
        .fetch_one(self.reader())
        .await?;
        Ok(DispatchState {
            outstanding,
            live_slots,
            cancelling,
        })
    }

    async fn take_dispatchable(
        &self,
        limit: i64,
        redispatch_after: Duration,
    ) -> StoreResult<Vec<BatchRef>> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let at = Utc::now();
        let now = timestamp(at);
        let cut = before(at, redispatch_after);
        let mut tx = self.begin_write().await?;
        // Jobs take turns: a job's k-th candidate (in seq order) has turn
        // k + its batches running or recently dispatched; fewest first,
        // then older jobs, then seq.
        let due: Vec<(Hyphenated, Hyphenated, String)> = sqlx::query_as(
            "WITH active AS (
                 SELECT job_id, count(*) AS n FROM batches
                 WHERE status = 'running' OR (status = 'pending' AND dispatched_at >= $2)
                 GROUP BY job_id
             ), candidates AS (
                 SELECT b.id, b.job_id, b.tenant_id, b.seq, j.created_at,
                        row_number() OVER (PARTITION BY b.job_id ORDER BY b.seq) AS rank
                 FROM batches b JOIN jobs j ON j.id = b.job_id AND j.tenant_id = b.tenant_id
                 WHERE j.status = 'running' AND b.status = 'pending'
                   AND (b.not_before IS NULL OR b.not_before <= $3)
                   AND (b.dispatched_at IS NULL OR b.dispatched_at < $2)
             )
             SELECT c.id, c.job_id, c.tenant_id
             FROM candidates c LEFT JOIN active a ON a.job_id = c.job_id
             WHERE c.rank <= $1
             ORDER BY COALESCE(a.n, 0) + c.rank, c.created_at, c.seq
             LIMIT $1",
        )
        .bind(limit)
        .bind(&cut)
        .bind(&now)
        .fetch_all(&mut *tx)
        .await?;
        let ids: Vec<String> = due.iter().map(|(id, _, _)| id.to_string()).collect();
        sqlx::query(
            "UPDATE batches SET dispatched_at = $2
             WHERE status = 'pending' AND id IN (SELECT value FROM json_each($1))",
        )
        .bind(Json(&ids))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        due.into_iter()
            .map(|(id, job_id, t)| batch_ref(id, job_id, &t))
            .collect()
    }

    async fn forget_dispatches(&self) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let forgotten = sqlx::query(
            "UPDATE batches SET dispatched_at = NULL
             WHERE status = 'pending' AND dispatched_at IS NOT NULL",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.commit(tx).await?;
        Ok(forgotten)
    }

    async fn undispatch(&self, batches: &[BatchRef]) -> StoreResult<()> {
        let refs: Vec<(String, &str)> = batches
            .iter()
            .map(|b| (uuid_text(b.batch_id.0).to_string(), b.tenant.as_str()))
            .collect();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE batches SET dispatched_at = NULL
             WHERE status = 'pending'
               AND EXISTS (SELECT 1 FROM json_each($1) r
                           WHERE r.value ->> '$[0]' = batches.id
                             AND r.value ->> '$[1]' = batches.tenant_id)",
        )
        .bind(Json(&refs))
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await
    }

    async fn next_due_in(&self) -> StoreResult<Option<Duration>> {
        let at = Utc::now();
        let next: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT min(b.not_before)
             FROM batches b JOIN jobs j ON j.id = b.job_id AND j.tenant_id = b.tenant_id
             WHERE b.status = 'pending' AND j.status = 'running' AND b.not_before > $1",
        )
        .bind(timestamp(at))
        .fetch_one(self.reader())
        .await?;
        Ok(next.map(|next| (next - at).to_std().unwrap_or_default()))
    }

    async fn claim_batch(
        &self,
        batch: &BatchRef,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<ClaimedBatch>> {
        let at = Utc::now();
        let now = timestamp(at);
        let job_key = uuid_text(batch.job_id.0);
        // The write lock from BEGIN IMMEDIATE makes the three statements
        // one step: a second claimer of this batch runs after the commit
        // and finds it running.
        let mut tx = self.begin_write().await?;
        let max_record_errors: Option<i64> = sqlx::query_scalar(
            "SELECT max_record_errors FROM jobs WHERE id = $1 AND tenant_id = $2 AND status = 'running'",
        )
        .bind(job_key)
        .bind(batch.tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(max_record_errors) = max_record_errors else {
            return Ok(None);
        };
        let row: Option<ClaimRow> = sqlx::query_as(
            "UPDATE batches SET status = 'running', lease_owner = $4, lease_expires_at = $5,
                    attempts = attempts + 1, started_at = $6, finished_at = NULL,
                    dispatched_at = NULL, updated_at = $6
             WHERE id = $1 AND job_id = $2 AND tenant_id = $3 AND status = 'pending'
               AND (not_before IS NULL OR not_before <= $6)
             RETURNING seq, table_name, key_start, key_end, attempts, max_attempts, lost_leases",
        )
        .bind(uuid_text(batch.batch_id.0))
        .bind(job_key)
        .bind(batch.tenant.as_str())
        .bind(owner)
        .bind(after(at, ttl))
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let rejected_elsewhere: i64 = if max_record_errors == 0 {
            0
        } else {
            sqlx::query_scalar(
                "SELECT COALESCE(sum(rows_rejected), 0) FROM batches
                 WHERE job_id = $1 AND tenant_id = $2 AND id <> $3",
            )
            .bind(job_key)
            .bind(batch.tenant.as_str())
            .bind(uuid_text(batch.batch_id.0))
            .fetch_one(&mut *tx)
            .await?
        };
        self.commit(tx).await?;
        let budget =
            u64::try_from(max_record_errors.saturating_sub(rejected_elsewhere)).unwrap_or(0);
        Ok(Some(ClaimedBatch {
            batch: batch.clone(),
            seq: row.seq,
            run: BatchToRun {
                batch_id: batch.batch_id,
                table_name: row.table_name,
                key_start: row.key_start.map(|k| k.0),
                key_end: row.key_end.map(|k| k.0),
                record_error_budget: budget,
            },
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            lost_leases: row.lost_leases,
        }))
    }

    async fn renew_batch_lease(
        &self,
        batch: &BatchRef,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<bool> {
        self.update_one(
            sqlx::query(
                "UPDATE batches SET lease_expires_at = $4
                 WHERE id = $1 AND tenant_id = $2 AND lease_owner = $3 AND status = 'running'",
            )
            .bind(uuid_text(batch.batch_id.0))
            .bind(batch.tenant.as_str())
            .bind(owner)
            .bind(after(Utc::now(), ttl)),
        )
        .await
    }

    async fn complete_batch(
        &self,
        claimed: &ClaimedBatch,
        owner: &str,
        outcome: &BatchOutcome,
    ) -> StoreResult<Option<BatchStatus>> {
        let batch = &claimed.batch;
        let now = timestamp(Utc::now());
        let mismatch = outcome.verified == Some(false);
        let status = if outcome.rejected.is_empty() && !mismatch {
            BatchStatus::Completed
        } else {
            BatchStatus::CompletedWithErrors
        };
        let rejected = i64::try_from(outcome.rejected.len()).unwrap_or(i64::MAX);
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE batches SET status = $4, rows_read = $5, rows_written = $6, rows_rejected = $7,
                    verified = $8, verify_detail = $9, last_error = NULL, finished_at = $10,
                    lease_owner = NULL, lease_expires_at = NULL, not_before = NULL, updated_at = $10
             WHERE id = $1 AND tenant_id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(uuid_text(batch.batch_id.0))
        .bind(batch.tenant.as_str())
        .bind(owner)
        .bind(status.as_str())
        .bind(outcome.rows_read)
        .bind(outcome.rows_written)
        .bind(rejected)
        .bind(outcome.verified)
        .bind(outcome.verify_detail.as_deref())
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Ok(None);
        }
        let job = batch.job();
        insert_rejected(&mut tx, claimed, &outcome.rejected, &now).await?;
        if mismatch {
            let detail = outcome
                .verify_detail
                .as_deref()
                .unwrap_or("source and target differ");
            let message = format!(
                "batch {} of table {}: verification failed: {detail}",
                claimed.seq, claimed.run.table_name
            );
            insert_log(
                &mut tx,
                &job,
                Some(batch.batch_id),
                LogLevel::Error,
                Some(&claimed.run.table_name),
                &message,
                &now,
            )
            .await?;
            sqlx::query(
                "UPDATE jobs SET error_summary = COALESCE(error_summary || '; ', '') || $3, updated_at = $4
                 WHERE id = $1 AND tenant_id = $2",
            )
            .bind(uuid_text(job.job_id.0))
            .bind(job.tenant.as_str())
            .bind(&message)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await?;
        Ok(Some(status))
    }

    async fn fail_attempt(
        &self,
        claimed: &ClaimedBatch,
        owner: &str,
        error: &str,
        retry_after: Option<Duration>,
        rejected: &[RejectedRecord],
    ) -> StoreResult<AttemptFailed> {
        let batch = &claimed.batch;
        let at = Utc::now();
        let now = timestamp(at);
        let mut tx = self.begin_write().await?;
        let cancelling =
            job_status(&mut tx, batch).await?.as_deref() == Some(JobStatus::Cancelling.as_str());
        let (status, result) = match retry_after {
            _ if cancelling => (BatchStatus::Cancelled, AttemptFailed::Cancelled),
            Some(_) => (BatchStatus::Pending, AttemptFailed::WillRetry),
            None => (BatchStatus::Failed, AttemptFailed::Failed),
        };
        let pending = status == BatchStatus::Pending;
        let updated = sqlx::query(
            "UPDATE batches SET status = $4, last_error = $5, not_before = $6, finished_at = $7,
                    rows_read = 0, rows_written = 0, rows_rejected = $8,
                    lease_owner = NULL, lease_expires_at = NULL, dispatched_at = NULL, updated_at = $9
             WHERE id = $1 AND tenant_id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(uuid_text(batch.batch_id.0))
        .bind(batch.tenant.as_str())
        .bind(owner)
        .bind(status.as_str())
        .bind(error)
        .bind(pending.then(|| after(at, retry_after.unwrap_or_default())))
        .bind((!pending).then_some(now.as_str()))
        .bind(i64::try_from(rejected.len()).unwrap_or(i64::MAX))
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Ok(AttemptFailed::LeaseLost);
        }
        let (level, message) = result.log_line(claimed, error, retry_after);
        insert_log(
            &mut tx,
            &batch.job(),
            Some(batch.batch_id),
            level,
            Some(&claimed.run.table_name),
            &message,
            &now,
        )
        .await?;
        insert_rejected(&mut tx, claimed, rejected, &now).await?;
        self.commit(tx).await?;
        Ok(result)
    }

    async fn release_batch(&self, claimed: &ClaimedBatch, owner: &str) -> StoreResult<bool> {
        let batch = &claimed.batch;
        let now = timestamp(Utc::now());
        let mut tx = self.begin_write().await?;
        let cancelling =
            job_status(&mut tx, batch).await?.as_deref() == Some(JobStatus::Cancelling.as_str());
        let status = if cancelling {
            BatchStatus::Cancelled
        } else {
            BatchStatus::Pending
        };
        let done = sqlx::query(
            "UPDATE batches SET status = $4, finished_at = $5,
                 attempts = max(attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL,
                 dispatched_at = NULL, updated_at = $6
             WHERE id = $1 AND tenant_id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(uuid_text(batch.batch_id.0))
        .bind(batch.tenant.as_str())
        .bind(owner)
        .bind(status.as_str())
        .bind(cancelling.then_some(now.as_str()))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(done.rows_affected() == 1)
    }
}
