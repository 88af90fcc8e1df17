//! Aggregates over a tenant's jobs, and across tenants for admins.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{SqliteStore, timestamp};
use crate::ids::TenantId;
use crate::job::JobStatus;
use crate::store::*;

fn empty_by_status() -> BTreeMap<String, i64> {
    JobStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect()
}

pub(super) async fn for_tenant(
    store: &SqliteStore,
    tenant: &TenantId,
    window: &TimeWindow,
) -> StoreResult<JobStatistics> {
    let since = window.since.map(timestamp);
    let until = window.until.map(timestamp);
    let mut tx = store.begin_read().await?;
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM jobs
         WHERE tenant_id = $1 AND ($2 IS NULL OR created_at >= $2)
           AND ($3 IS NULL OR created_at < $3)
         GROUP BY status",
    )
    .bind(tenant.as_str())
    .bind(&since)
    .bind(&until)
    .fetch_all(&mut *tx)
    .await?;
    let (rows_read, rows_written, rows_rejected): (i64, i64, i64) = sqlx::query_as(
        "SELECT COALESCE(sum(b.rows_read), 0), COALESCE(sum(b.rows_written), 0),
                COALESCE(sum(b.rows_rejected), 0)
         FROM jobs j JOIN batches b ON b.job_id = j.id
         WHERE j.tenant_id = $1 AND b.tenant_id = $1
           AND ($2 IS NULL OR j.created_at >= $2) AND ($3 IS NULL OR j.created_at < $3)",
    )
    .bind(tenant.as_str())
    .bind(&since)
    .bind(&until)
    .fetch_one(&mut *tx)
    .await?;
    // julianday() is in days, with millisecond precision.
    let avg_duration: Option<f64> = sqlx::query_scalar(
        "SELECT avg((julianday(finished_at) - julianday(COALESCE(started_at, created_at))) * 86400.0)
         FROM jobs WHERE tenant_id = $1 AND finished_at IS NOT NULL
           AND ($2 IS NULL OR created_at >= $2) AND ($3 IS NULL OR created_at < $3)",
    )
    .bind(tenant.as_str())
    .bind(&since)
    .bind(&until)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut by_status = empty_by_status();
    let mut total_jobs = 0;
    for (status, count) in counts {
        total_jobs += count;
        by_status.insert(status, count);
    }
    let count_of = |s: JobStatus| by_status.get(s.as_str()).copied().unwrap_or_default();
    let finished: i64 = JobStatus::ALL
        .into_iter()
        .filter(|s| s.is_finished())
        .map(count_of)
        .sum();
    let success_rate =
        (finished > 0).then(|| count_of(JobStatus::Completed) as f64 / finished as f64);
    Ok(JobStatistics {
        since: window.since,
        until: window.until,
        total_jobs,
        by_status,
        success_rate,
        rows_read,
        rows_written,
        rows_rejected,
        avg_duration_seconds: avg_duration,
    })
}

pub(super) async fn all_tenants(
    store: &SqliteStore,
    window: &TimeWindow,
) -> StoreResult<Vec<TenantStatistics>> {
    let since = window.since.map(timestamp);
    let until = window.until.map(timestamp);
    // Deliberately unscoped: the caller has checked the admin role.
    let mut tx = store.begin_read().await?;
    let counts: Vec<(String, String, i64, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT tenant_id, status, count(*), max(created_at) FROM jobs
         WHERE ($1 IS NULL OR created_at >= $1) AND ($2 IS NULL OR created_at < $2)
         GROUP BY tenant_id, status ORDER BY tenant_id",
    )
    .bind(&since)
    .bind(&until)
    .fetch_all(&mut *tx)
    .await?;
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT j.tenant_id, COALESCE(sum(b.rows_written), 0), COALESCE(sum(b.rows_rejected), 0)
         FROM jobs j JOIN batches b ON b.job_id = j.id
         WHERE ($1 IS NULL OR j.created_at >= $1) AND ($2 IS NULL OR j.created_at < $2)
         GROUP BY j.tenant_id",
    )
    .bind(&since)
    .bind(&until)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut tenants: BTreeMap<String, TenantStatistics> = BTreeMap::new();
    for (tenant_id, status, count, last) in counts {
        let entry = tenants
            .entry(tenant_id.clone())
            .or_insert_with(|| TenantStatistics {
                tenant_id,
                total_jobs: 0,
                by_status: empty_by_status(),
                rows_written: 0,
                rows_rejected: 0,
                last_job_at: None,
            });
        entry.total_jobs += count;
        entry.by_status.insert(status, count);
        entry.last_job_at = entry.last_job_at.max(last);
    }
    for (tenant_id, written, rejected) in rows {
        if let Some(entry) = tenants.get_mut(&tenant_id) {
            entry.rows_written = written;
            entry.rows_rejected = rejected;
        }
    }
    Ok(tenants.into_values().collect())
}
