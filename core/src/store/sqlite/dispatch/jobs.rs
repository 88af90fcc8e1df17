//! [`DispatchJobs`] on SQLite.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use sqlx::types::Json;
use tokio::sync::broadcast::error::RecvError;
use uuid::fmt::Hyphenated;

use super::{after, insert_log, job_if_owned, job_ref, release_in_tx, tenant};
use crate::StoreError;
use crate::ids::{BatchId, JobId};
use crate::job::{JobStatus, LogLevel};
use crate::store::StoreResult;
use crate::store::dispatch::{DispatchJobs, JobRef, JobSettings, PlanStored, StartedJob};
use crate::store::rows::SettingsColumns;
use crate::store::sqlite::{SqliteStore, timestamp, uuid_text};
use crate::work::JobPlan;

/// What `job_settings` reads.
#[derive(sqlx::FromRow)]
struct SettingsRow {
    tables: Json<Vec<String>>,
    exclude_tables: Json<Vec<String>>,
    batch_size: i64,
    #[sqlx(flatten)]
    columns: SettingsColumns,
}

impl SqliteStore {
    /// Takes the job lease of the oldest running job that meets `condition`
    /// (SQL over `jobs j`, a constant) and whose lease is free.
    async fn claim_job_lease(
        &self,
        owner: &str,
        ttl: Duration,
        condition: &'static str,
    ) -> StoreResult<Option<JobRef>> {
        let at = Utc::now();
        let sql = format!(
            "UPDATE jobs SET dispatch_owner = $1, dispatch_lease_until = $2
             WHERE id = (SELECT j.id FROM jobs j
                         WHERE j.status = 'running'
                           AND (j.dispatch_lease_until IS NULL OR j.dispatch_lease_until < $3)
                           AND {condition}
                         ORDER BY j.created_at LIMIT 1)
             RETURNING id, tenant_id"
        );
        let mut tx = self.begin_write().await?;
        let row: Option<(Hyphenated, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(after(at, ttl))
            .bind(timestamp(at))
            .fetch_optional(&mut *tx)
            .await?;
        self.commit(tx).await?;
        row.map(job_ref).transpose()
    }
}

#[async_trait]
impl DispatchJobs for SqliteStore {
    async fn start_queued_job(&self) -> StoreResult<Option<StartedJob>> {
        let now = timestamp(Utc::now());
        let mut tx = self.begin_write().await?;
        let row: Option<(Hyphenated, String)> = sqlx::query_as(
            "UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, $1),
                    finished_at = NULL, updated_at = $1,
                    dispatch_owner = NULL, dispatch_lease_until = NULL
             WHERE id = (SELECT id FROM jobs WHERE status = 'queued'
                         ORDER BY created_at, id LIMIT 1)
             RETURNING id, tenant_id",
        )
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let job = job_ref(row)?;
        let pending = sqlx::query(
            "UPDATE batches SET not_before = NULL, dispatched_at = NULL, lost_leases = 0, updated_at = $3
             WHERE job_id = $1 AND tenant_id = $2 AND status = 'pending'",
        )
        .bind(uuid_text(job.job_id.0))
        .bind(job.tenant.as_str())
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        insert_log(
            &mut tx,
            &job,
            None,
            LogLevel::Info,
            None,
            "job started",
            &now,
        )
        .await?;
        self.commit(tx).await?;
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
        self.update_one(
            sqlx::query(
                "UPDATE jobs SET dispatch_lease_until = $4
                 WHERE id = $1 AND tenant_id = $2 AND dispatch_owner = $3 AND status = 'running'",
            )
            .bind(uuid_text(job.job_id.0))
            .bind(job.tenant.as_str())
            .bind(owner)
            .bind(after(Utc::now(), ttl)),
        )
        .await
    }

    async fn job_settings(&self, job: &JobRef) -> StoreResult<JobSettings> {
        let row: Option<SettingsRow> = sqlx::query_as(
            "SELECT source_config_sealed, target_config_sealed, configs_sealed_version,
                    tables, exclude_tables, batch_size, verify, key_columns, nul_characters,
                    zero_dates, identifiers
             FROM jobs WHERE id = $1 AND tenant_id = $2",
        )
        .bind(uuid_text(job.job_id.0))
        .bind(job.tenant.as_str())
        .fetch_optional(self.reader())
        .await?;
        let row = row.ok_or(StoreError::NotFound)?;
        row.columns.open(
            &self.secrets,
            job,
            row.tables.0,
            row.exclude_tables.0,
            row.batch_size,
        )
    }

    async fn store_plan(
        &self,
        job: &JobRef,
        owner: &str,
        plan: &JobPlan,
    ) -> StoreResult<PlanStored> {
        let now = timestamp(Utc::now());
        let mut tx = self.begin_write().await?;
        let Some(max_retries) = job_if_owned(&mut tx, job, owner).await? else {
            return Ok(PlanStored::Discarded);
        };
        let n = plan.batches.len();
        // One statement for the whole plan: [id, table, start, end] per
        // batch, its index in the array is its seq.
        let rows: Vec<serde_json::Value> = plan
            .batches
            .iter()
            .map(|b| {
                serde_json::json!([
                    uuid_text(BatchId::new().0).to_string(),
                    b.table_name,
                    b.key_start,
                    b.key_end
                ])
            })
            .collect();
        sqlx::query(
            "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, key_start, key_end, status,
                                  max_attempts, created_at, updated_at)
             SELECT value ->> '$[0]', $1, $2, key, value ->> '$[1]',
                    NULLIF(value -> '$[2]', 'null'), NULLIF(value -> '$[3]', 'null'),
                    'pending', $4, $5, $5
             FROM json_each($3)",
        )
        .bind(uuid_text(job.job_id.0))
        .bind(job.tenant.as_str())
        .bind(Json(rows))
        .bind(max_retries.saturating_add(1))
        .bind(&now)
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
            "UPDATE jobs SET rows_estimated = $3, plan_warnings = $4, updated_at = $5,
                    dispatch_owner = NULL, dispatch_lease_until = NULL
             WHERE id = $1 AND tenant_id = $2",
        )
        .bind(uuid_text(job.job_id.0))
        .bind(job.tenant.as_str())
        .bind(plan.report.total_rows_estimate)
        .bind(Json(&warnings))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if n == 0 {
            sqlx::query(
                "UPDATE jobs SET status = 'completed', finished_at = $3, updated_at = $3
                 WHERE id = $1 AND tenant_id = $2",
            )
            .bind(uuid_text(job.job_id.0))
            .bind(job.tenant.as_str())
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        let message = format!(
            "planned {n} batches over {} tables, about {} rows",
            plan.report.tables.len(),
            plan.report.total_rows_estimate
        );
        insert_log(&mut tx, job, None, LogLevel::Info, None, &message, &now).await?;
        if n == 0 {
            insert_log(
                &mut tx,
                job,
                None,
                LogLevel::Info,
                None,
                "job completed: nothing to copy",
                &now,
            )
            .await?;
        }
        for warning in &warnings {
            insert_log(&mut tx, job, None, LogLevel::Warn, None, warning, &now).await?;
        }
        self.commit(tx).await?;
        Ok(PlanStored::Stored { batches: n })
    }

    async fn fail_job(&self, job: &JobRef, owner: &str, summary: &str) -> StoreResult<bool> {
        let now = timestamp(Utc::now());
        let mut tx = self.begin_write().await?;
        if job_if_owned(&mut tx, job, owner).await?.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE jobs SET status = 'failed', error_summary = $3, finished_at = $4, updated_at = $4,
                    dispatch_owner = NULL, dispatch_lease_until = NULL
             WHERE id = $1 AND tenant_id = $2",
        )
        .bind(uuid_text(job.job_id.0))
        .bind(job.tenant.as_str())
        .bind(summary)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        insert_log(&mut tx, job, None, LogLevel::Error, None, summary, &now).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn release_job_lease(
        &self,
        job: &JobRef,
        owner: &str,
        retry_after: Duration,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE jobs SET dispatch_owner = NULL, dispatch_lease_until = $4
             WHERE id = $1 AND tenant_id = $2 AND dispatch_owner = $3",
        )
        .bind(uuid_text(job.job_id.0))
        .bind(job.tenant.as_str())
        .bind(owner)
        .bind(after(Utc::now(), retry_after))
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await
    }

    async fn finalize_job(
        &self,
        job: &JobRef,
        owner: &str,
        finish: Option<Result<Vec<String>, String>>,
    ) -> StoreResult<Option<JobStatus>> {
        let now = timestamp(Utc::now());
        let mut tx = self.begin_write().await?;
        if job_if_owned(&mut tx, job, owner).await?.is_none() {
            return Ok(None);
        }
        let counts: BatchCounts = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status IN ('pending', 'running')) AS open,
                    count(*) FILTER (WHERE status = 'failed') AS failed,
                    count(*) FILTER (WHERE status = 'completed_with_errors') AS with_errors,
                    count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
                    count(*) AS total,
                    COALESCE(sum(rows_rejected), 0) AS rejected,
                    count(*) FILTER (WHERE verified = 0) AS mismatched
             FROM batches WHERE job_id = $1 AND tenant_id = $2",
        )
        .bind(uuid_text(job.job_id.0))
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
            self.commit(tx).await?;
            return Ok(None);
        }
        let mut problems = Vec::new();
        if failed > 0 {
            let first_error: Option<String> = sqlx::query_scalar(
                "SELECT last_error FROM batches WHERE job_id = $1 AND tenant_id = $2 AND status = 'failed'
                 ORDER BY seq LIMIT 1",
            )
            .bind(uuid_text(job.job_id.0))
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
        .bind(uuid_text(job.job_id.0))
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
                insert_log(&mut tx, job, None, LogLevel::Error, None, &message, &now).await?;
                problems.push(message);
            }
            None => {}
        }
        for w in &warnings {
            insert_log(&mut tx, job, None, LogLevel::Warn, None, w, &now).await?;
        }
        if !warnings.is_empty() {
            let stored: Json<Vec<String>> = sqlx::query_scalar(
                "SELECT plan_warnings FROM jobs WHERE id = $1 AND tenant_id = $2",
            )
            .bind(uuid_text(job.job_id.0))
            .bind(job.tenant.as_str())
            .fetch_one(&mut *tx)
            .await?;
            let mut all = stored.0;
            all.extend(warnings.iter().cloned());
            sqlx::query("UPDATE jobs SET plan_warnings = $3 WHERE id = $1 AND tenant_id = $2")
                .bind(uuid_text(job.job_id.0))
                .bind(job.tenant.as_str())
                .bind(Json(all))
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
            "UPDATE jobs SET status = $3, error_summary = $4, finished_at = $5, updated_at = $5,
                    dispatch_owner = NULL, dispatch_lease_until = NULL
             WHERE id = $1 AND tenant_id = $2",
        )
        .bind(uuid_text(job.job_id.0))
        .bind(job.tenant.as_str())
        .bind(status.as_str())
        .bind(summary.as_deref())
        .bind(&now)
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
        insert_log(&mut tx, job, None, level, None, &message, &now).await?;
        self.commit(tx).await?;
        Ok(Some(status))
    }

    async fn unsuccessful_batches(&self, job: &JobRef) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM batches
             WHERE job_id = $1 AND tenant_id = $2 AND status IN ('failed', 'cancelled')",
        )
        .bind(uuid_text(job.job_id.0))
        .bind(job.tenant.as_str())
        .fetch_one(self.reader())
        .await?)
    }

    async fn settle_cancelling(&self) -> StoreResult<Vec<JobRef>> {
        let now = timestamp(Utc::now());
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE batches SET status = 'cancelled', finished_at = $1, updated_at = $1,
                    lease_owner = NULL, lease_expires_at = NULL
             WHERE status = 'pending'
               AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = batches.job_id
                           AND j.tenant_id = batches.tenant_id AND j.status = 'cancelling')",
        )
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let rows: Vec<(Hyphenated, String)> = sqlx::query_as(
            "UPDATE jobs SET status = 'cancelled', finished_at = $1, updated_at = $1,
                    dispatch_owner = NULL, dispatch_lease_until = NULL
             WHERE status = 'cancelling'
               AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.job_id = jobs.id AND b.status = 'running')
             RETURNING id, tenant_id",
        )
        .bind(&now)
        .fetch_all(&mut *tx)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for (id, t) in rows {
            let job = JobRef {
                job_id: JobId(id.into_uuid()),
                tenant: tenant(&t)?,
            };
            insert_log(
                &mut tx,
                &job,
                None,
                LogLevel::Info,
                None,
                "job cancelled",
                &now,
            )
            .await?;
            jobs.push(job);
        }
        self.commit(tx).await?;
        Ok(jobs)
    }

    async fn inactive_jobs(&self, jobs: &[JobId]) -> StoreResult<Vec<JobId>> {
        let ids: Vec<String> = jobs.iter().map(|j| uuid_text(j.0).to_string()).collect();
        let rows: Vec<Hyphenated> = sqlx::query_scalar(
            "SELECT i.value FROM json_each($1) AS i
             WHERE NOT EXISTS (SELECT 1 FROM jobs
                               WHERE id = i.value AND status IN ('queued', 'running', 'cancelling'))
             ORDER BY i.key",
        )
        .bind(Json(ids))
        .fetch_all(self.reader())
        .await?;
        Ok(rows.into_iter().map(|id| JobId(id.into_uuid())).collect())
    }

    async fn watch_jobs(&self) -> StoreResult<BoxStream<'static, ()>> {
        // This process writes the file alone, and every write commits
        // through `SqliteStore::commit`, which announces job and
        // validation changes here. A listener that fell behind gets one
        // wake-up for what it missed.
        Ok(
            futures::stream::unfold(self.wakeups.subscribe(), |mut receiver| async move {
                match receiver.recv().await {
                    Ok(()) | Err(RecvError::Lagged(_)) => Some(((), receiver)),
                    Err(RecvError::Closed) => None,
                }
            })
            .boxed(),
        )
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
