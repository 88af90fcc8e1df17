//! Jobs and their batches.

// Dynamic SQL here only splices constant fragments; values are always bound.
use sqlx::AssertSqlSafe;
use sqlx::SqliteConnection;
use sqlx::types::Json;
use uuid::fmt::Hyphenated;

use super::{SqliteStore, audit, decode_error, now, page_size, timestamp, uuid_text};
use crate::StoreError;
use crate::connection::ConnectionConfig;
use crate::ids::{BatchId, JobId, TenantId};
use crate::job::{BatchStatus, JobSpec, JobStatus};
use crate::secrets::{SEAL_VERSION, SealBinding};
use crate::store::rows::{
    BatchColumns, JobColumns, JobKeys, batch_cursor, check_retry_batches, job_cancelled,
    job_created, job_cursor, job_retried, nothing_to_retry, page, retryable_statuses, table_stats,
};
use crate::store::*;

/// Columns of a job with its row counters summed over its batches.
const JOB_SELECT: &str = "
    SELECT j.id, j.name, j.status, j.source_config_view, j.target_config_view, j.tables,
           j.exclude_tables, j.key_columns, j.nul_characters, j.zero_dates, j.identifiers, j.batch_size, j.max_retries,
           j.max_record_errors, j.verify, j.started_by, j.created_by, j.created_at, j.updated_at,
           j.started_at, j.finished_at, j.rows_estimated, j.error_summary,
           (SELECT COALESCE(sum(b.rows_read), 0) FROM batches b WHERE b.job_id = j.id) AS rows_read,
           (SELECT COALESCE(sum(b.rows_written), 0) FROM batches b WHERE b.job_id = j.id) AS rows_written,
           (SELECT COALESCE(sum(b.rows_rejected), 0) FROM batches b WHERE b.job_id = j.id) AS rows_rejected
    FROM jobs j";

#[derive(sqlx::FromRow)]
struct JobRow {
    id: Hyphenated,
    tables: Json<Vec<String>>,
    exclude_tables: Json<Vec<String>>,
    batch_size: i64,
    max_retries: i64,
    #[sqlx(flatten)]
    columns: JobColumns,
}

impl TryFrom<JobRow> for JobRecord {
    type Error = StoreError;
    fn try_from(row: JobRow) -> Result<Self, StoreError> {
        row.columns.into_record(JobKeys {
            id: row.id.into_uuid(),
            tables: row.tables.0,
            exclude_tables: row.exclude_tables.0,
            batch_size: row.batch_size,
            max_retries: row.max_retries,
        })
    }
}

async fn fetch_job(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    job: JobId,
) -> StoreResult<JobRecord> {
    let sql = format!("{JOB_SELECT} WHERE j.tenant_id = $1 AND j.id = $2");
    let row: Option<JobRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(uuid_text(job.0))
        .fetch_optional(&mut *conn)
        .await?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// Records `action` on `job` in the audit trail, in the transaction of the
/// change, commits, and returns the job as it now is.
async fn audit_and_commit(
    store: &SqliteStore,
    mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    tenant: &TenantId,
    info: &AuditInfo,
    action: AuditAction,
    job: JobId,
    details: serde_json::Value,
) -> StoreResult<JobRecord> {
    let target = job.to_string();
    audit::record(&mut tx, tenant, info, action, Some(&target), details).await?;
    let record = fetch_job(&mut tx, tenant, job).await?;
    store.commit(tx).await?;
    Ok(record)
}
/// The status of a job about to change state. The caller's transaction
/// began `IMMEDIATE`, so it already holds the database's write lock: no
/// other writer can change the row before it commits (what `FOR UPDATE`
/// does on PostgreSQL).
pub(super) async fn lock_job(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    job: JobId,
) -> StoreResult<JobStatus> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM jobs WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(uuid_text(job.0))
            .fetch_optional(&mut *conn)
            .await?;
    let status = status.ok_or(StoreError::NotFound)?;
    JobStatus::parse(&status).ok_or_else(|| decode_error("job status", &status))
}

pub(super) async fn create(
    store: &SqliteStore,
    tenant: &TenantId,
    spec: &JobSpec,
    info: &AuditInfo,
) -> StoreResult<JobRecord> {
    spec.validate()?;
    let id = JobId::new();
    let at = now();
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO jobs (id, tenant_id, name, status, source_config_sealed, target_config_sealed,
                           source_config_view, target_config_view, tables, exclude_tables,
                           batch_size, max_retries, max_record_errors, verify, started_by, created_by,
                           configs_sealed_version, key_columns, nul_characters, zero_dates, identifiers,
                           created_at, updated_at)
         VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                 $19, $20, $21, $21)",
    )
    .bind(uuid_text(id.0))
    .bind(tenant.as_str())
    .bind(spec.name.as_deref())
    .bind(store.secrets.seal_connection(&spec.source_config, binding(tenant, id, "source")))
    .bind(store.secrets.seal_connection(&spec.target_config, binding(tenant, id, "target")))
    .bind(Json(spec.source_config.redacted()))
    .bind(Json(spec.target_config.redacted()))
    .bind(Json(&spec.tables))
    .bind(Json(&spec.exclude_tables))
    .bind(i64::from(spec.batch_size))
    .bind(i64::from(spec.max_retries))
    .bind(i64::try_from(spec.max_record_errors).unwrap_or(i64::MAX))
    .bind(spec.verify)
    .bind(spec.started_by.trim())
    .bind(&info.actor)
    .bind(SEAL_VERSION)
    .bind(Json(&spec.key_columns))
    .bind(spec.nul_characters.as_str())
    .bind(spec.zero_dates.as_str())
    .bind(spec.identifiers.as_str())
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    audit_and_commit(
        store,
        tx,
        tenant,
        info,
        AuditAction::JobCreate,
        id,
        job_created(spec),
    )
    .await
}

pub(super) async fn get(
    store: &SqliteStore,
    tenant: &TenantId,
    job_id: JobId,
) -> StoreResult<JobDetail> {
    // One snapshot for every part of the view.
    let mut tx = store.begin_read().await?;
    let job = fetch_job(&mut tx, tenant, job_id).await?;
    let job_key = uuid_text(job_id.0);

    let rows: Vec<(String, String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT table_name, status, count(*), COALESCE(sum(rows_read), 0),
                COALESCE(sum(rows_written), 0), COALESCE(sum(rows_rejected), 0)
         FROM batches WHERE tenant_id = $1 AND job_id = $2
         GROUP BY table_name, status ORDER BY table_name",
    )
    .bind(tenant.as_str())
    .bind(job_key)
    .fetch_all(&mut *tx)
    .await?;
    let (batches, tables) = table_stats(rows)?;

    let verification_mismatches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM batches WHERE tenant_id = $1 AND job_id = $2 AND verified = 0",
    )
    .bind(tenant.as_str())
    .bind(job_key)
    .fetch_one(&mut *tx)
    .await?;

    let warnings: Json<Vec<String>> =
        sqlx::query_scalar("SELECT plan_warnings FROM jobs WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(job_key)
            .fetch_one(&mut *tx)
            .await?;

    let validation = super::validations::latest(&mut tx, tenant, job_id).await?;

    let top_errors: Vec<(String, i64)> = sqlx::query_as(
        "SELECT message, count(*) AS n FROM job_logs
         WHERE tenant_id = $1 AND job_id = $2 AND level = 'error'
         GROUP BY message ORDER BY n DESC, message LIMIT 5",
    )
    .bind(tenant.as_str())
    .bind(job_key)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    Ok(JobDetail {
        job,
        batches,
        tables,
        verification_mismatches,
        plan_warnings: warnings.0,
        top_errors: top_errors
            .into_iter()
            .map(|(message, count)| ErrorCount { message, count })
            .collect(),
        validation,
    })
}

pub(super) async fn list(
    store: &SqliteStore,
    tenant: &TenantId,
    filter: &JobFilter,
) -> StoreResult<Page<JobRecord>> {
    let limit = page_size(filter.limit);
    let status = filter.status.map(JobStatus::as_str);
    let since = filter.created.since.map(timestamp);
    let until = filter.created.until.map(timestamp);
    let where_clause = "j.tenant_id = $1
        AND ($2 IS NULL OR j.status = $2)
        AND ($3 IS NULL OR j.created_at >= $3)
        AND ($4 IS NULL OR j.created_at < $4)";
    let mut tx = store.begin_read().await?;
    let sql = format!(
        "{JOB_SELECT} WHERE {where_clause}
           AND ($5 IS NULL OR (j.created_at, j.id) < ($5, $6))
         ORDER BY j.created_at DESC, j.id DESC LIMIT $7"
    );
    let rows: Vec<JobRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(status)
        .bind(&since)
        .bind(&until)
        .bind(filter.after.map(|(at, _)| timestamp(at)))
        .bind(filter.after.map(|(_, id)| uuid_text(id.0)))
        .bind(limit + 1)
        .fetch_all(&mut *tx)
        .await?;
    let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM jobs j WHERE {where_clause}"
    )))
    .bind(tenant.as_str())
    .bind(status)
    .bind(&since)
    .bind(&until)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;

    let items = rows
        .into_iter()
        .map(JobRecord::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page(
        items,
        limit,
        Some(total),
        CursorKind::Jobs,
        job_cursor,
    ))
}

#[derive(sqlx::FromRow)]
struct BatchRow {
    id: Hyphenated,
    key_start: Option<Json<serde_json::Value>>,
    key_end: Option<Json<serde_json::Value>>,
    #[sqlx(flatten)]
    columns: BatchColumns,
}

pub(super) async fn list_batches(
    store: &SqliteStore,
    tenant: &TenantId,
    job: JobId,
    filter: &BatchFilter,
) -> StoreResult<Page<BatchRecord>> {
    let limit = page_size(filter.limit);
    let job_key = uuid_text(job.0);
    let mut tx = store.begin_read().await?;
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM jobs WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(job_key)
            .fetch_optional(&mut *tx)
            .await?;
    exists.ok_or(StoreError::NotFound)?;
    let status = filter.status.map(BatchStatus::as_str);
    let rows: Vec<BatchRow> = sqlx::query_as(
        "SELECT id, seq, table_name, key_start, key_end, status, attempts, rows_read, rows_written,
                rows_rejected, verified, verify_detail, last_error, started_at, finished_at
         FROM batches
         WHERE tenant_id = $1 AND job_id = $2 AND ($3 IS NULL OR status = $3)
           AND ($4 IS NULL OR seq > $4)
         ORDER BY seq LIMIT $5",
    )
    .bind(tenant.as_str())
    .bind(job_key)
    .bind(status)
    .bind(filter.after_seq)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM batches WHERE tenant_id = $1 AND job_id = $2 AND ($3 IS NULL OR status = $3)",
    )
    .bind(tenant.as_str())
    .bind(job_key)
    .bind(status)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;

    let items = rows
        .into_iter()
        .map(|row| {
            row.columns.into_record(
                row.id.into_uuid(),
                row.key_start.map(|j| j.0),
                row.key_end.map(|j| j.0),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page(
        items,
        limit,
        Some(total),
        CursorKind::Batches,
        batch_cursor,
    ))
}

pub(super) async fn cancel(
    store: &SqliteStore,
    tenant: &TenantId,
    job: JobId,
    info: &AuditInfo,
) -> StoreResult<JobRecord> {
    let job_key = uuid_text(job.0);
    let at = now();
    let mut tx = store.begin_write().await?;
    let current = lock_job(&mut tx, tenant, job).await?;
    current.on_cancel().map_err(StoreError::Conflict)?;
    let cancelled = sqlx::query(
        "UPDATE batches SET status = 'cancelled', finished_at = $3, updated_at = $3,
                lease_owner = NULL, lease_expires_at = NULL
         WHERE tenant_id = $1 AND job_id = $2 AND status = 'pending'",
    )
    .bind(tenant.as_str())
    .bind(job_key)
    .bind(&at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let running: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM batches WHERE tenant_id = $1 AND job_id = $2 AND status = 'running'",
    )
    .bind(tenant.as_str())
    .bind(job_key)
    .fetch_one(&mut *tx)
    .await?;
    // With nothing in flight there is nothing to wait for.
    let next = if running == 0 {
        JobStatus::Cancelled
    } else {
        JobStatus::Cancelling
    };
    sqlx::query(
        "UPDATE jobs SET status = $3, updated_at = $4,
                finished_at = CASE WHEN $3 = 'cancelled' THEN $4 ELSE finished_at END
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.as_str())
    .bind(job_key)
    .bind(next.as_str())
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    let details = job_cancelled(current, next, cancelled, running);
    audit_and_commit(
        store,
        tx,
        tenant,
        info,
        AuditAction::JobCancel,
        job,
        details,
    )
    .await
}

pub(super) async fn retry(
    store: &SqliteStore,
    tenant: &TenantId,
    job: JobId,
    request: &RetryRequest,
    info: &AuditInfo,
) -> StoreResult<RetryOutcome> {
    let job_key = uuid_text(job.0);
    let at = now();
    let mut tx = store.begin_write().await?;
    let current = lock_job(&mut tx, tenant, job).await?;
    let batch_ids: Vec<String> = request
        .batch_ids
        .iter()
        .map(|b| uuid_text(b.0).to_string())
        .collect();
    // Named batches of a completed job may be re-run too: that is how the
    // ranges a validation found different are repaired.
    let repair = !batch_ids.is_empty() && current == JobStatus::Completed;
    if !repair {
        current.can_retry().map_err(StoreError::Conflict)?;
    }
    if !batch_ids.is_empty() {
        let known: Vec<Hyphenated> = sqlx::query_scalar(
            "SELECT id FROM batches WHERE tenant_id = $1 AND job_id = $2
               AND id IN (SELECT value FROM json_each($3))",
        )
        .bind(tenant.as_str())
        .bind(job_key)
        .bind(Json(&batch_ids))
        .fetch_all(&mut *tx)
        .await?;
        let known: Vec<uuid::Uuid> = known.into_iter().map(Hyphenated::into_uuid).collect();
        check_retry_batches(&request.batch_ids, &known)?;
    }
    let retryable = retryable_statuses(!batch_ids.is_empty());
    let max_attempts = i64::from(request.max_retries) + 1;
    let retried = sqlx::query(
        "UPDATE batches SET status = 'pending', attempts = 0, max_attempts = $5,
                rows_read = 0, rows_written = 0, rows_rejected = 0, verified = NULL,
                verify_detail = NULL, last_error = NULL, lease_owner = NULL,
                lease_expires_at = NULL, started_at = NULL, finished_at = NULL, updated_at = $6
         WHERE tenant_id = $1 AND job_id = $2 AND status IN (SELECT value FROM json_each($3))
           AND (json_array_length($4) = 0 OR id IN (SELECT value FROM json_each($4)))",
    )
    .bind(tenant.as_str())
    .bind(job_key)
    .bind(Json(&retryable))
    .bind(Json(&batch_ids))
    .bind(max_attempts)
    .bind(&at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let planned: i64 =
        sqlx::query_scalar("SELECT count(*) FROM batches WHERE tenant_id = $1 AND job_id = $2")
            .bind(tenant.as_str())
            .bind(job_key)
            .fetch_one(&mut *tx)
            .await?;
    // A job that failed before planning any batch is retried by planning again.
    if retried == 0 && planned > 0 {
        return Err(nothing_to_retry(!batch_ids.is_empty()));
    }
    sqlx::query(
        "UPDATE jobs SET status = 'queued', max_retries = $3, finished_at = NULL,
                error_summary = NULL, updated_at = $4
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.as_str())
    .bind(job_key)
    .bind(i64::from(request.max_retries))
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    let details = job_retried(current, retried, request);
    let record =
        audit_and_commit(store, tx, tenant, info, AuditAction::JobRetry, job, details).await?;
    Ok(RetryOutcome {
        job: record,
        batches_retried: i64::try_from(retried).unwrap_or(i64::MAX),
    })
}

pub(super) async fn connections(
    store: &SqliteStore,
    tenant: &TenantId,
    job: JobId,
) -> StoreResult<(ConnectionConfig, ConnectionConfig)> {
    let sealed: Option<(Vec<u8>, Vec<u8>, i16)> = sqlx::query_as(
        "SELECT source_config_sealed, target_config_sealed, configs_sealed_version
         FROM jobs WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.as_str())
    .bind(uuid_text(job.0))
    .fetch_optional(store.reader())
    .await?;
    let (source, target, version) = sealed.ok_or(StoreError::NotFound)?;
    if version != SEAL_VERSION {
        return Err(StoreError::Secret);
    }
    Ok((
        store
            .secrets
            .open_connection(&source, binding(tenant, job, "source"))?,
        store
            .secrets
            .open_connection(&target, binding(tenant, job, "target"))?,
    ))
}

pub(super) async fn batch_exists(
    store: &SqliteStore,
    tenant: &TenantId,
    job: JobId,
    batch: BatchId,
) -> StoreResult<bool> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM batches WHERE tenant_id = $1 AND job_id = $2 AND id = $3",
    )
    .bind(tenant.as_str())
    .bind(uuid_text(job.0))
    .bind(uuid_text(batch.0))
    .fetch_optional(store.reader())
    .await?;
    Ok(found.is_some())
}

pub(super) fn binding<'a>(tenant: &'a TenantId, job: JobId, side: &'static str) -> SealBinding<'a> {
    SealBinding { tenant, job, side }
}

/// What re-sealing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResealReport {
    pub resealed: u64,
    /// Rows no configured key opens: left as they are, their jobs cannot run.
    pub unreadable: u64,
}

/// Re-seals connection configs with the current key, bound to their row,
/// and re-derives their redacted views. `all = false`: only rows sealed
/// before configs were bound (version 1), as every start-up does; `true`:
/// every row, after a key rotation (`freight reseal`).
pub(super) async fn reseal(store: &SqliteStore, all: bool) -> StoreResult<ResealReport> {
    type Row = (Hyphenated, String, Vec<u8>, Vec<u8>, i16);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, tenant_id, source_config_sealed, target_config_sealed, configs_sealed_version
         FROM jobs WHERE $1 OR configs_sealed_version <> $2",
    )
    .bind(all)
    .bind(SEAL_VERSION)
    .fetch_all(store.reader())
    .await?;
    let mut report = ResealReport::default();
    for (id, tenant, source, target, version) in rows {
        let (Ok(tenant), job) = (TenantId::parse(&tenant), JobId(id.into_uuid())) else {
            report.unreadable += 1;
            continue;
        };
        let open = |sealed: &[u8], side: &'static str| {
            if version == SEAL_VERSION {
                store
                    .secrets
                    .open_connection(sealed, binding(&tenant, job, side))
            } else {
                store.secrets.open_unbound_connection(sealed)
            }
        };
        let (Ok(source), Ok(target)) = (open(&source, "source"), open(&target, "target")) else {
            tracing::warn!(job_id = %job, "connection config opens with no configured key; left as is");
            report.unreadable += 1;
            continue;
        };
        let mut tx = store.begin_write().await?;
        sqlx::query(
            "UPDATE jobs SET source_config_sealed = $3, target_config_sealed = $4,
                             source_config_view = $5, target_config_view = $6,
                             configs_sealed_version = $7
             WHERE id = $1 AND tenant_id = $2 AND configs_sealed_version = $8",
        )
        .bind(uuid_text(job.0))
        .bind(tenant.as_str())
        .bind(
            store
                .secrets
                .seal_connection(&source, binding(&tenant, job, "source")),
        )
        .bind(
            store
                .secrets
                .seal_connection(&target, binding(&tenant, job, "target")),
        )
        .bind(Json(source.redacted()))
        .bind(Json(target.redacted()))
        .bind(SEAL_VERSION)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        store.commit(tx).await?;
        report.resealed += 1;
    }
    Ok(report)
}
