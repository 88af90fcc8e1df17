//! Aggregates over a tenant's jobs, and across tenants for admins.

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::ids::TenantId;
use crate::store::rows::{RowTotals, job_statistics, tenant_statistics};
use crate::store::*;

pub(super) async fn for_tenant(
    store: &PgStore,
    tenant: &TenantId,
    window: &StatsWindow,
) -> StoreResult<JobStatistics> {
    let mut tx = store.scoped(tenant).await?;
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM jobs
         WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR created_at >= $2)
           AND ($3::timestamptz IS NULL OR created_at < $3)
         GROUP BY status",
    )
    .bind(tenant.as_str())
    .bind(window.since)
    .bind(window.until)
    .fetch_all(&mut *tx)
    .await?;
    let (rows_read, rows_written, rows_rejected, avg_duration): (i64, i64, i64, Option<f64>) = sqlx::query_as(
        "SELECT COALESCE(sum(b.rows_read), 0)::bigint, COALESCE(sum(b.rows_written), 0)::bigint,
                COALESCE(sum(b.rows_rejected), 0)::bigint,
                (SELECT avg(extract(epoch FROM j2.finished_at - COALESCE(j2.started_at, j2.created_at)))::float8
                 FROM jobs j2 WHERE j2.tenant_id = $1 AND j2.finished_at IS NOT NULL
                   AND ($2::timestamptz IS NULL OR j2.created_at >= $2)
                   AND ($3::timestamptz IS NULL OR j2.created_at < $3))
         FROM jobs j JOIN batches b ON b.job_id = j.id
         WHERE j.tenant_id = $1 AND ($2::timestamptz IS NULL OR j.created_at >= $2)
           AND ($3::timestamptz IS NULL OR j.created_at < $3)",
    )
    .bind(tenant.as_str())
    .bind(window.since)
    .bind(window.until)
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
    store: &PgStore,
    window: &StatsWindow,
) -> StoreResult<Vec<TenantStatistics>> {
    // Deliberately unscoped: the caller has checked the admin role.
    let counts: Vec<(String, String, i64, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT tenant_id, status, count(*), max(created_at) FROM jobs
         WHERE ($1::timestamptz IS NULL OR created_at >= $1) AND ($2::timestamptz IS NULL OR created_at < $2)
         GROUP BY tenant_id, status ORDER BY tenant_id",
    )
    .bind(window.since)
    .bind(window.until)
    .fetch_all(store.pool())
    .await?;
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT j.tenant_id, COALESCE(sum(b.rows_written), 0)::bigint, COALESCE(sum(b.rows_rejected), 0)::bigint
         FROM jobs j JOIN batches b ON b.job_id = j.id
         WHERE ($1::timestamptz IS NULL OR j.created_at >= $1) AND ($2::timestamptz IS NULL OR j.created_at < $2)
         GROUP BY j.tenant_id",
    )
    .bind(window.since)
    .bind(window.until)
    .fetch_all(store.pool())
    .await?;

    Ok(tenant_statistics(counts, rows))
}
