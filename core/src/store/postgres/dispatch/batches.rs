//! [`DispatchBatches`] on Postgres.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use super::{insert_log, insert_rejected, interval_secs, tenant};
use crate::ids::{BatchId, JobId};
use crate::job::{BatchStatus, JobStatus, LogLevel};
use crate::store::StoreResult;
use crate::store::dispatch::{
    AttemptFailed, BatchRef, ClaimedBatch, DispatchBatches, DispatchState, ExpiredLease,
};
use crate::store::postgres::PgStore;
use crate::work::{BatchOutcome, BatchToRun, RejectedRecord};

/// What `expire_leases` returns per batch.
#[derive(sqlx::FromRow)]
struct ExpiredRow {
    id: Uuid,
    job_id: Uuid,
    tenant_id: String,
    seq: i32,
    status: String,
    lease_owner: Option<String>,
}

/// What `claim_batch` returns.
#[derive(sqlx::FromRow)]
struct ClaimRow {
    seq: i32,
    table_name: String,
    key_start: Option<Value>,
    key_end: Option<Value>,
    attempts: i32,
    max_attempts: i32,
    lost_leases: i32,
    max_record_errors: i64,
    rejected_elsewhere: i64,
}

#[async_trait]
impl DispatchBatches for PgStore {
    async fn expire_leases(&self, max_lost_leases: i32) -> StoreResult<Vec<ExpiredLease>> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<ExpiredRow> = sqlx::query_as(
            "WITH expired AS (
                 SELECT b.id, b.lease_owner, j.status AS job_status
                 FROM batches b JOIN jobs j ON j.id = b.job_id
                 WHERE b.status = 'running' AND b.lease_expires_at < now()
                 FOR UPDATE OF b SKIP LOCKED
             )
             UPDATE batches b SET
                 status = CASE WHEN e.job_status = 'cancelling' THEN 'cancelled'
                               WHEN b.lost_leases + 1 >= $1 THEN 'failed'
                               ELSE 'pending' END,
                 lost_leases = b.lost_leases + 1,
                 last_error = 'the worker running this batch stopped (lease expired)',
                 finished_at = CASE WHEN e.job_status = 'cancelling' OR b.lost_leases + 1 >= $1
                                    THEN now() END,
                 lease_owner = NULL, lease_expires_at = NULL, dispatched_at = NULL,
                 not_before = NULL, updated_at = now()
             FROM expired e WHERE e.id = b.id
             RETURNING b.id, b.job_id, b.tenant_id, b.seq, b.status, e.lease_owner",
        )
        .bind(max_lost_leases)
        .fetch_all(&mut *tx)
        .await?;
        let mut expired = Vec::with_capacity(rows.len());
        for row in rows {
            let batch = BatchRef {
                batch_id: BatchId(row.id),
                job_id: JobId(row.job_id),
                tenant: tenant(&row.tenant_id)?,
            };
            let seq = row.seq;
            let new_status = BatchStatus::parse(&row.status).unwrap_or(BatchStatus::Pending);
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
            )
            .await?;
            expired.push(ExpiredLease {
                batch,
                seq,
                new_status,
                previous_owner: row.lease_owner,
            });
        }
        tx.commit().await?;
        Ok(expired)
    }

    async fn dispatch_state(
        &self,
        redispatch_after: Duration,
        live_window: Duration,
    ) -> StoreResult<DispatchState> {
        let (outstanding, live_slots, cancelling): (i64, i64, bool) = sqlx::query_as(
            "SELECT
                 (SELECT count(*) FROM batches
                  WHERE status = 'pending' AND dispatched_at > now() - make_interval(secs => $1)),
                 (SELECT COALESCE(sum(concurrency), 0)::bigint FROM workers
                  WHERE stopped_at IS NULL AND last_seen > now() - make_interval(secs => $2)),
                 EXISTS (SELECT 1 FROM jobs WHERE status = 'cancelling')",
        )
        .bind(interval_secs(redispatch_after))
        .bind(interval_secs(live_window))
        .fetch_one(&self.pool)
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
        let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
            "WITH active AS (
                 SELECT job_id, count(*) AS n FROM batches
                 WHERE status = 'running'
                    OR (status = 'pending' AND dispatched_at >= now() - make_interval(secs => $2))
                 GROUP BY job_id
             ), ranked AS (
                 -- Per job, only its first $1 candidates in key order: no
                 -- more can be taken, and ranking every pending batch of a
                 -- 2,000-batch job cost 7 ms per refill instead of 1.4.
                 SELECT c.id, j.created_at, c.seq, COALESCE(a.n, 0) + c.rank AS turn
                 FROM jobs j
                 LEFT JOIN active a ON a.job_id = j.id
                 CROSS JOIN LATERAL (
                     SELECT b.id, b.seq, row_number() OVER (ORDER BY b.seq) AS rank
                     FROM batches b
                     WHERE b.job_id = j.id AND b.status = 'pending'
                       AND (b.not_before IS NULL OR b.not_before <= now())
                       AND (b.dispatched_at IS NULL OR b.dispatched_at < now() - make_interval(secs => $2))
                     ORDER BY b.seq
                     LIMIT $1
                 ) c
                 WHERE j.status = 'running'
             ), due AS (
                 SELECT b.id FROM batches b JOIN ranked r ON r.id = b.id
                 WHERE b.status = 'pending'
                 ORDER BY r.turn, r.created_at, r.seq
                 LIMIT $1
                 FOR UPDATE OF b SKIP LOCKED
             )
             UPDATE batches b SET dispatched_at = now()
             FROM due WHERE due.id = b.id
             RETURNING b.id, b.job_id, b.tenant_id",
        )
        .bind(limit)
        .bind(interval_secs(redispatch_after))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, job_id, t)| {
                Ok(BatchRef {
                    batch_id: BatchId(id),
                    job_id: JobId(job_id),
                    tenant: tenant(&t)?,
                })
            })
            .collect()
    }

    async fn forget_dispatches(&self) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE batches SET dispatched_at = NULL
             WHERE status = 'pending' AND dispatched_at IS NOT NULL",
        )
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn undispatch(&self, batches: &[BatchRef]) -> StoreResult<()> {
        let ids: Vec<Uuid> = batches.iter().map(|b| b.batch_id.0).collect();
        sqlx::query(
            "UPDATE batches SET dispatched_at = NULL WHERE id = ANY($1) AND status = 'pending'",
        )
        .bind(&ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn next_due_in(&self) -> StoreResult<Option<Duration>> {
        let secs: Option<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM (min(b.not_before) - now()))::float8
             FROM batches b JOIN jobs j ON j.id = b.job_id
             WHERE b.status = 'pending' AND j.status = 'running' AND b.not_before > now()",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(secs.map(|s| Duration::from_secs_f64(s.max(0.0))))
    }

    async fn claim_batch(
        &self,
        batch: &BatchRef,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<ClaimedBatch>> {
        let row: Option<ClaimRow> = sqlx::query_as(
            "UPDATE batches b SET status = 'running', lease_owner = $4,
                    lease_expires_at = now() + make_interval(secs => $5),
                    attempts = b.attempts + 1, started_at = now(), finished_at = NULL,
                    dispatched_at = NULL, updated_at = now()
             FROM (SELECT id, max_record_errors FROM jobs
                   WHERE id = $2 AND tenant_id = $3 AND status = 'running' FOR SHARE) j
             WHERE b.id = $1 AND b.job_id = j.id AND b.tenant_id = $3 AND b.status = 'pending'
               AND (b.not_before IS NULL OR b.not_before <= now())
             RETURNING b.seq, b.table_name, b.key_start, b.key_end, b.attempts, b.max_attempts,
                       b.lost_leases, j.max_record_errors,
                       CASE WHEN j.max_record_errors = 0 THEN 0::bigint
                            ELSE (SELECT COALESCE(sum(o.rows_rejected), 0)::bigint FROM batches o
                                  WHERE o.job_id = b.job_id AND o.id <> b.id) END
                           AS rejected_elsewhere",
        )
        .bind(batch.batch_id.0)
        .bind(batch.job_id.0)
        .bind(batch.tenant.as_str())
        .bind(owner)
        .bind(interval_secs(ttl))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let budget = u64::try_from(row.max_record_errors.saturating_sub(row.rejected_elsewhere))
            .unwrap_or(0);
        Ok(Some(ClaimedBatch {
            batch: batch.clone(),
            seq: row.seq,
            run: BatchToRun {
                batch_id: batch.batch_id,
                table_name: row.table_name,
                key_start: row.key_start,
                key_end: row.key_end,
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
        let done = sqlx::query(
            "UPDATE batches SET lease_expires_at = now() + make_interval(secs => $4)
             WHERE id = $1 AND tenant_id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(batch.batch_id.0)
        .bind(batch.tenant.as_str())
        .bind(owner)
        .bind(interval_secs(ttl))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_batch(
        &self,
        claimed: &ClaimedBatch,
        owner: &str,
        outcome: &BatchOutcome,
    ) -> StoreResult<Option<BatchStatus>> {
        let batch = &claimed.batch;
        let mismatch = outcome.verified == Some(false);
        let status = if outcome.rejected.is_empty() && !mismatch {
            BatchStatus::Completed
        } else {
            BatchStatus::CompletedWithErrors
        };
        let rejected = i64::try_from(outcome.rejected.len()).unwrap_or(i64::MAX);
        // The common case writes one row: no transaction round trips.
        let single = matches!(status, BatchStatus::Completed);
        let mut tx = if single {
            None
        } else {
            Some(self.pool.begin().await?)
        };
        let update = sqlx::query(
            "UPDATE batches SET status = $4, rows_read = $5, rows_written = $6, rows_rejected = $7,
                    verified = $8, verify_detail = $9, last_error = NULL, finished_at = now(),
                    lease_owner = NULL, lease_expires_at = NULL, not_before = NULL, updated_at = now()
             WHERE id = $1 AND tenant_id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(batch.batch_id.0)
        .bind(batch.tenant.as_str())
        .bind(owner)
        .bind(status.as_str())
        .bind(outcome.rows_read)
        .bind(outcome.rows_written)
        .bind(rejected)
        .bind(outcome.verified)
        .bind(outcome.verify_detail.as_deref());
        let updated = match tx.as_mut() {
            Some(tx) => update.execute(&mut **tx).await?,
            None => update.execute(&self.pool).await?,
        }
        .rows_affected();
        let Some(mut tx) = tx else {
            return Ok((updated == 1).then_some(status));
        };
        if updated != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let job = batch.job();
        insert_rejected(&mut tx, claimed, &outcome.rejected).await?;
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
            )
            .await?;
            sqlx::query(
                "UPDATE jobs SET error_summary = COALESCE(error_summary || '; ', '') || $3, updated_at = now()
                 WHERE id = $1 AND tenant_id = $2",
            )
            .bind(job.job_id.0)
            .bind(job.tenant.as_str())
            .bind(&message)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
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
        let mut tx = self.pool.begin().await?;
        let job_status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM jobs WHERE id = $1 AND tenant_id = $2 FOR SHARE",
        )
        .bind(batch.job_id.0)
        .bind(batch.tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let cancelling = job_status.as_deref() == Some(JobStatus::Cancelling.as_str());
        let (status, result) = match retry_after {
            _ if cancelling => (BatchStatus::Cancelled, AttemptFailed::Cancelled),
            Some(_) => (BatchStatus::Pending, AttemptFailed::WillRetry),
            None => (BatchStatus::Failed, AttemptFailed::Failed),
        };
        let updated = sqlx::query(
            "UPDATE batches SET status = $4, last_error = $5,
                    not_before = CASE WHEN $4 = 'pending' THEN now() + make_interval(secs => $6) END,
                    finished_at = CASE WHEN $4 = 'pending' THEN NULL ELSE now() END,
                    rows_read = 0, rows_written = 0, rows_rejected = $7,
                    lease_owner = NULL, lease_expires_at = NULL, dispatched_at = NULL, updated_at = now()
             WHERE id = $1 AND tenant_id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(batch.batch_id.0)
        .bind(batch.tenant.as_str())
        .bind(owner)
        .bind(status.as_str())
        .bind(error)
        .bind(retry_after.map(interval_secs).unwrap_or(0.0))
        .bind(i64::try_from(rejected.len()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            tx.rollback().await?;
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
        )
        .await?;
        insert_rejected(&mut tx, claimed, rejected).await?;
        tx.commit().await?;
        Ok(result)
    }

    async fn release_batch(&self, claimed: &ClaimedBatch, owner: &str) -> StoreResult<bool> {
        let batch = &claimed.batch;
        let done = sqlx::query(
            "UPDATE batches SET
                 status = CASE WHEN (SELECT status FROM jobs WHERE id = $4) = 'cancelling'
                               THEN 'cancelled' ELSE 'pending' END,
                 finished_at = CASE WHEN (SELECT status FROM jobs WHERE id = $4) = 'cancelling'
                               THEN now() END,
                 attempts = GREATEST(attempts - 1, 0), lease_owner = NULL, lease_expires_at = NULL,
                 dispatched_at = NULL, updated_at = now()
             WHERE id = $1 AND tenant_id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(batch.batch_id.0)
        .bind(batch.tenant.as_str())
        .bind(owner)
        .bind(batch.job_id.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
