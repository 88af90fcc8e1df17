//! [`DispatchJobs`] on Postgres.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use serde_json::Value;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use super::{insert_log, interval_secs, job_ref, lock_job_if_owned, release_in_tx, tenant};
use crate::StoreError;
use crate::ids::{BatchId, JobId};
use crate::job::{JobStatus, LogLevel};
use crate::store::StoreResult;
use crate::store::dispatch::{DispatchJobs, JobRef, JobSettings, PlanStored, StartedJob};
use crate::store::postgres::PgStore;
use crate::store::rows::SettingsColumns;
use crate::work::JobPlan;

/// Where job and validation triggers announce changes.
const NOTIFY_CHANNEL: &str = "freight_jobs";

/// What `job_settings` reads.
#[derive(sqlx::FromRow)]
struct SettingsRow {
    tables: Vec<String>,
    exclude_tables: Vec<String>,
    batch_size: i32,
    #[sqlx(flatten)]
    columns: SettingsColumns,
}

impl PgStore {
    /// Takes the job lease of the oldest running job that meets `condition`
    /// (SQL over `jobs j`, a constant) and whose lease is free.
    async fn claim_job_lease(
        &self,
        owner: &str,
        ttl: Duration,
        condition: &'static str,
    ) -> StoreResult<Option<JobRef>> {
        let sql = format!(
            "UPDATE jobs SET dispatch_owner = $1, dispatch_lease_until = now() + make_interval(secs => $2)
             WHERE id = (SELECT j.id FROM jobs j
                         WHERE j.status = 'running'
                           AND (j.dispatch_lease_until IS NULL OR j.dispatch_lease_until < now())
                           AND {condition}
                         ORDER BY j.created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id, tenant_id"
        );
        let row: Option<(Uuid, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(interval_secs(ttl))
            .fetch_optional(&self.pool)
            .await?;
        row.map(job_ref).transpose()
    }
}

#[async_trait]
impl DispatchJobs for PgStore {
    async fn start_queued_job(&self) -> StoreResult<Option<StartedJob>> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(Uuid, String)> = sqlx::query_as(
            "UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, now()),
                    finished_at = NULL, updated_at = now(),
                    dispatch_owner = NULL, dispatch_lease_until = NULL
             WHERE id = (SELECT id FROM jobs WHERE status = 'queued'
                         ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id, tenant_id",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let job = job_ref(row)?;
        let pending = sqlx::query(
            "UPDATE batches SET not_before = NULL, dispatched_at = NULL, lost_leases = 0, updated_at = now()
             WHERE job_id = $1 AND tenant_id = $2 AND status = 'pending'",
        )
        .bind(job.job_id.0)
        .bind(job.tenant.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        insert_log(&mut tx, &job, None, LogLevel::Info, None, "job started").await?;
        tx.commit().await?;
        Ok(Some(StartedJob {
            job,
            pending_batches: i64::try_from(pending).unwrap_or(i64::MAX),
        }))
    }

    async fn claim_job_to_plan(&self, owner: &str, ttl: Duration) -> StoreResult<Option<JobRef>> {
        self.claim_job_lease(
            owner,
            ttl,
            "NOT EXISTS (SELECT 1 FROM batches b WHERE b.job_id = j.id)",
        )
        .await
    }

    async fn claim_job_to_finish(&self, owner: &str, ttl: Duration) -> StoreResult<Option<JobRef>> {
        self.claim_job_lease(
            owner,
            ttl,
            "EXISTS (SELECT 1 FROM batches b WHERE b.job_id = j.id)
             AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.job_id = j.id
                             AND b.status IN ('pending', 'running'))",
        )
        .await
    }

    async fn renew_job_lease(&self, job: &JobRef, owner: &str, ttl: Duration) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET dispatch_lease_until = now() + make_interval(secs => $4)
             WHERE id = $1 AND tenant_id = $2 AND dispatch_owner = $3 AND status = 'running'",
        )
        .bind(job.job_id.0)
        .bind(job.tenant.as_str())
        .bind(owner)
        .bind(interval_secs(ttl))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn job_settings(&self, job: &JobRef) -> StoreResult<JobSettings> {
        let row: Option<SettingsRow> = sqlx::query_as(
            "SELECT source_config_sealed, target_config_sealed, configs_sealed_version,
                    tables, exclude_tables, batch_size, verify, key_columns, nul_characters,
                    zero_dates, identifiers
             FROM jobs WHERE id = $1 AND tenant_id = $2",
        )
        .bind(job.job_id.0)
        .bind(job.tenant.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let row = row.ok_or(StoreError::NotFound)?;
        row.columns.open(
            &self.secrets,
            job,
            row.tables,
            row.exclude_tables,
            row.batch_size.into(),
        )
    }

    async fn store_plan(
        &self,
        job: &JobRef,
        owner: &str,
        plan: &JobPlan,
    ) -> StoreResult<PlanStored> {
        let mut tx = self.pool.begin().await?;
        let Some(max_retries) = lock_job_if_owned(&mut tx, job, owner).await? else {
            return Ok(PlanStored::Discarded);
        };
        let n = plan.batches.len();
        let ids: Vec<Uuid> = (0..n).map(|_| BatchId::new().0).collect();
        let seqs: Vec<i32> = (0..n)
            .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
            .collect();
        let tables: Vec<&str> = plan.batches.iter().map(|b| b.table_name.as_str()).collect();
        let starts: Vec<Option<Value>> = plan.batches.iter().map(|b| b.key_start.clone()).collect();
        let ends: Vec<Option<Value>> = plan.batches.iter().map(|b| b.key_end.clone()).collect();
        sqlx::query(
            "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, key_start, key_end, status, max_attempts)
             SELECT id, $1, $2, seq, table_name, key_start, key_end, 'pending', $8
             FROM UNNEST($3::uuid[], $4::int4[], $5::text[], $6::jsonb[], $7::jsonb[])
                  AS t(id, seq, table_name, key_start, key_end)",
        )
        .bind(job.job_id.0)
        .bind(job.tenant.as_str())
        .bind(&ids)
        .bind(&seqs)
        .bind(&tables)
        .bind(&starts)
        .bind(&ends)
        .bind(max_retries.saturating_add(1))
        .execute(&mut *tx)
        .await?;
        let mut warnings: Vec<String> = plan.report.warnings.clone();
        for table in &plan.report.tables {
            warnings.extend(
                table
                    .warnings
                    .iter()
                    .map(|w| format!("{}: {w}", table.table_name)),
            );
        }
        sqlx::query(
            "UPDATE jobs SET rows_estimated = $3, plan_warnings = $4, updated_at = now(),
                    dispatch_owner = NULL, dispatch_lease_until = NULL
             WHERE id = $1 AND tenant_id = $2",
        )
        .bind(job.job_id.0)
        .bind(job.tenant.as_str())
        .bind(plan.report.total_rows_estimate)
        .bind(sqlx::types::Json(&warnings))
        .execute(&mut *tx)
        .await?;
        if n == 0 {
            sqlx::query(
                "UPDATE jobs SET status = 'completed', finished_at = now(), updated_at = now()
                 WHERE id = $1 AND tenant_id = $2",
            )
            .bind(job.job_id.0)
            .bind(job.tenant.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let message = format!(
            "planned {n} batches over {} tables, about {} rows",
            plan.report.tables.len(),
            plan.report.total_rows_estimate
        );
        insert_log(&mut tx, job, None, LogLevel::Info, None, &message).await?;
        if n == 0 {
            insert_log(
                &mut tx,
                job,
                None,
                LogLevel::Info,
                None,
                "job completed: nothing to copy",
            )
            .await?;
        }
        for warning in &warnings {
            insert_log(&mut tx, job, None, LogLevel::Warn, None, warning).await?;
        }
        tx.commit().await?;
        Ok(PlanStored::Stored { batches: n })
    }

    async fn fail_job(&self, job: &JobRef, owner: &str, summary: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        if lock_job_if_owned(&mut tx, job, owner).await?.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE jobs SET status = 'failed', error_summary = $3, finished_at = now(), updated_at = now(),
                    dispatch_owner = NULL, dispatch_lease_until = NULL
             WHERE id = $1 AND tenant_id = $2",
        )
        .bind(job.job_id.0)
        .bind(job.tenant.as_str())
        .bind(summary)
        .execute(&mut *tx)
        .await?;
        insert_log(&mut tx, job, None, LogLevel::Error, None, summary).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn release_job_lease(
        &self,
        job: &JobRef,
        owner: &str,
        retry_after: Duration,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET dispatch_owner = NULL, dispatch_lease_until = now() + make_interval(secs => $4)
             WHERE id = $1 AND tenant_id = $2 AND dispatch_owner = $3",
        )
        .bind(job.job_id.0)
        .bind(job.tenant.as_str())
        .bind(owner)
        .bind(interval_secs(retry_after))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finalize_job(
        &self,
        job: &JobRef,
        owner: &str,
        finish: Option<Result<Vec<String>, String>>,
    ) -> StoreResult<Option<JobStatus>> {
        let mut tx = self.pool.begin().await?;
        if lock_job_if_owned(&mut tx, job, owner).await?.is_none() {
            return Ok(None);
        }
        let counts: BatchCounts = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status IN ('pending', 'running')) AS open,
                        count(*) FILTER (WHERE status = 'failed') AS failed,
                        count(*) FILTER (WHERE status = 'completed_with_errors') AS with_errors,
                        count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
                        count(*) AS total,
                        COALESCE(sum(rows_rejected), 0)::bigint AS rejected,
                        count(*) FILTER (WHERE verified = false) AS mismatched
                 FROM batches WHERE job_id = $1 AND tenant_id = $2",
        )
        .bind(job.job_id.0)
        .bind(job.tenant.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let BatchCounts {
            open,
            failed,
            with_errors,
            cancelled,
            total,
            rejected,
            mismatched,
        } = counts;
        if open > 0 {
            // A batch came back (lease expiry) since we looked: not final yet.
            release_in_tx(&mut tx, job, owner).await?;
            tx.commit().await?;
            return Ok(None);
        }
        let mut problems = Vec::new();
        if failed > 0 {
            let first_error: Option<String> = sqlx::query_scalar(
                "SELECT last_error FROM batches WHERE job_id = $1 AND tenant_id = $2 AND status = 'failed'
                 ORDER BY seq LIMIT 1",
            )
            .bind(job.job_id.0)
            .bind(job.tenant.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .flatten();
            problems.push(match first_error {
                Some(e) => format!("{failed} of {total} batches failed (first: {e})"),
                None => format!("{failed} of {total} batches failed"),
            });
        }
        if rejected > 0 {
            problems.push(format!("{rejected} records rejected (see the job logs)"));
        }
        if mismatched > 0 {
            problems.push(format!(
                "{mismatched} batches did not verify (see the job logs)"
            ));
        }
        if cancelled > 0 {
            problems.push(format!("{cancelled} batches cancelled"));
        }
        let mut finish_failed = false;
        // Values the batches converted (zero dates, tinyint(1)), per table and column.
        let noted: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT table_name, verify_detail FROM batches
             WHERE job_id = $1 AND tenant_id = $2 AND verify_detail LIKE $3 ORDER BY seq",
        )
        .bind(job.job_id.0)
        .bind(job.tenant.as_str())
        .bind(format!("%{}%", crate::work::CONVERSIONS_NOTE))
        .fetch_all(&mut *tx)
        .await?;
        let mut warnings =
            crate::work::conversion_warnings(noted.iter().map(|(t, d)| (t.as_str(), d.as_deref())));
        match &finish {
            Some(Ok(finished)) => warnings.extend(finished.iter().cloned()),
            Some(Err(e)) => {
                finish_failed = true;
                let message = format!("recreating indexes and foreign keys failed: {e}");
                insert_log(&mut tx, job, None, LogLevel::Error, None, &message).await?;
                problems.push(message);
            }
            None => {}
        }
        for w in &warnings {
            insert_log(&mut tx, job, None, LogLevel::Warn, None, w).await?;
        }
        if !warnings.is_empty() {
            sqlx::query(
                "UPDATE jobs SET plan_warnings = plan_warnings || $3 WHERE id = $1 AND tenant_id = $2",
            )
            .bind(job.job_id.0)
            .bind(job.tenant.as_str())
            .bind(sqlx::types::Json(&warnings))
            .execute(&mut *tx)
            .await?;
        }
        let status = if failed > 0 {
            JobStatus::Failed
        } else if with_errors > 0
            || cancelled > 0
            || mismatched > 0
            || rejected > 0
            || finish_failed
        {
            JobStatus::CompletedWithErrors
        } else {
            JobStatus::Completed
        };
        let summary = (!problems.is_empty()).then(|| problems.join("; "));
        sqlx::query(
            "UPDATE jobs SET status = $3, error_summary = $4, finished_at = now(), updated_at = now(),
                    dispatch_owner = NULL, dispatch_lease_until = NULL
             WHERE id = $1 AND tenant_id = $2",
        )
        .bind(job.job_id.0)
        .bind(job.tenant.as_str())
        .bind(status.as_str())
        .bind(summary.as_deref())
        .execute(&mut *tx)
        .await?;
        let level = if status == JobStatus::Completed {
            LogLevel::Info
        } else {
            LogLevel::Warn
        };
        let message = match &summary {
            Some(s) => format!("job {}: {s}", status.as_str()),
            None => format!("job {}", status.as_str()),
        };
        insert_log(&mut tx, job, None, level, None, &message).await?;
        tx.commit().await?;
        Ok(Some(status))
    }

    async fn unsuccessful_batches(&self, job: &JobRef) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM batches
             WHERE job_id = $1 AND tenant_id = $2 AND status IN ('failed', 'cancelled')",
        )
        .bind(job.job_id.0)
        .bind(job.tenant.as_str())
        .fetch_one(&self.pool)
        .await?)
    }

    async fn settle_cancelling(&self) -> StoreResult<Vec<JobRef>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE batches b SET status = 'cancelled', finished_at = now(), updated_at = now(),
                    lease_owner = NULL, lease_expires_at = NULL
             FROM jobs j
             WHERE j.id = b.job_id AND j.status = 'cancelling' AND b.status = 'pending'",
        )
        .execute(&mut *tx)
        .await?;
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "UPDATE jobs j SET status = 'cancelled', finished_at = now(), updated_at = now(),
                    dispatch_owner = NULL, dispatch_lease_until = NULL
             WHERE j.status = 'cancelling'
               AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.job_id = j.id AND b.status = 'running')
             RETURNING j.id, j.tenant_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for (id, t) in rows {
            let job = JobRef {
                job_id: JobId(id),
                tenant: tenant(&t)?,
            };
            insert_log(&mut tx, &job, None, LogLevel::Info, None, "job cancelled").await?;
            jobs.push(job);
        }
        tx.commit().await?;
        Ok(jobs)
    }

    async fn inactive_jobs(&self, jobs: &[JobId]) -> StoreResult<Vec<JobId>> {
        let ids: Vec<Uuid> = jobs.iter().map(|j| j.0).collect();
        let rows: Vec<Uuid> = sqlx::query_scalar(
            "SELECT i FROM UNNEST($1::uuid[]) AS i
             WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE id = i AND status IN ('queued', 'running', 'cancelling'))",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(JobId).collect())
    }

    async fn watch_jobs(&self) -> StoreResult<BoxStream<'static, ()>> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        // Ends at the first error (a lost connection): the caller listens
        // again, and its poll covers the gap.
        Ok(listener
            .into_stream()
            .take_while(|n| futures::future::ready(n.is_ok()))
            .map(|_| ())
            .boxed())
    }
}

/// The batch figures that settle a job.
#[derive(sqlx::FromRow)]
struct BatchCounts {
    open: i64,
    failed: i64,
    with_errors: i64,
    cancelled: i64,
    total: i64,
    rejected: i64,
    mismatched: i64,
}
