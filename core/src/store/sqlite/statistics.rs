//! Aggregates over a tenant's jobs, and across tenants for admins.

use chrono::{DateTime, Utc};

use super::{SqliteStore, timestamp};
use crate::ids::TenantId;
use crate::store::rows::{RowTotals, job_statistics, tenant_statistics};
use crate::store::*;

pub(super) async fn for_tenant(
    store: &SqliteStore,
    tenant: &TenantId,
    window: &StatsWindow,
) -> StoreResult<JobStatistics> {
    let since = timestamp(window.since);
    let until = timestamp(window.until);
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

    let rows = RowTotals {
        read: rows_read,
        written: rows_written,
        rejected: rows_rejected,
    };
    Ok(job_statistics(window, counts, rows, avg_duration))
}

pub(super) async fn all_tenants(
    store: &SqliteStore,
    window: &StatsWindow,
) -> StoreResult<Vec<TenantStatistics>> {
    let since = timestamp(window.since);
    let until = timestamp(window.until);
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

    Ok(tenant_statistics(counts, rows))
}
