//! What both backends do the same way once their columns are decoded:
//! rows into domain records, pages and their cursors, and the checks
//! and arithmetic around the SQL. The SQL itself, and the decoding of
//! column types that differ (ids, arrays, integer widths), stays in each
//! backend.
//!
//! The `#[derive(sqlx::FromRow)]` structs here decode on any backend: a
//! backend's own row struct holds the columns whose types differ and
//! `#[sqlx(flatten)]`s one of these for the rest.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use sqlx::types::Json;
use uuid::Uuid;

use super::dispatch::{JobRef, JobSettings};
use super::*;
use crate::connection::ConnectionView;
use crate::job::{
    BatchStatus, Identifiers, JobSpec, JobStatus, LogLevel, NulCharacters, ZeroDates,
};
use crate::secrets::{SEAL_VERSION, SealBinding, SecretBox};
use crate::tokens::Role;
use crate::webhooks::{WebhookEventType, message_id};
use crate::{FieldError, StoreError, ValidationError};

/// Clamps a requested page size to `1..=MAX_PAGE_SIZE`, defaulting when 0.
pub(super) fn page_size(limit: u32) -> i64 {
    match limit {
        0 => i64::from(super::DEFAULT_PAGE_SIZE),
        n => i64::from(n.min(super::MAX_PAGE_SIZE)),
    }
}

pub(super) fn decode_error(what: &str, value: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(
        format!("unknown {what} {value:?}").into(),
    ))
}

/// A page from rows fetched with `LIMIT limit + 1`: the extra row, when
/// there is one, only says that another page follows, whose cursor is the
/// sort key (`cursor_key`) of the last item kept, tagged as a cursor of
/// the `kind` list.
pub(super) fn page<T>(
    mut items: Vec<T>,
    limit: i64,
    total: Option<i64>,
    kind: CursorKind,
    cursor_key: impl Fn(&T) -> String,
) -> Page<T> {
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        items.last().map(|last| kind.encode(&cursor_key(last)))
    } else {
        None
    };
    Page {
        items,
        next_cursor,
        total,
    }
}

/// The sort key of `list_jobs` (read back by `parse_job_cursor`).
pub(super) fn job_cursor(job: &JobRecord) -> String {
    job_cursor_key(job.created_at, job.id)
}

/// Columns of a job (with its batches' summed row counters) whose types
/// decode alike on both backends.
#[derive(sqlx::FromRow)]
pub(super) struct JobColumns {
    name: Option<String>,
    status: String,
    source_config_view: Json<ConnectionView>,
    target_config_view: Json<ConnectionView>,
    key_columns: Json<BTreeMap<String, Vec<String>>>,
    nul_characters: String,
    zero_dates: String,
    identifiers: String,
    max_record_errors: i64,
    verify: bool,
    started_by: String,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    rows_estimated: i64,
    error_summary: Option<String>,
    rows_read: i64,
    rows_written: i64,
    rows_rejected: i64,
}

/// The columns of a job each backend decodes its own way.
pub(super) struct JobKeys {
    pub id: Uuid,
    pub tables: Vec<String>,
    pub exclude_tables: Vec<String>,
    pub batch_size: i64,
    pub max_retries: i64,
}

impl JobColumns {
    pub(super) fn into_record(self, keys: JobKeys) -> StoreResult<JobRecord> {
        Ok(JobRecord {
            id: JobId(keys.id),
            name: self.name,
            status: JobStatus::parse(&self.status)
                .ok_or_else(|| decode_error("job status", &self.status))?,
            source_config: self.source_config_view.0,
            target_config: self.target_config_view.0,
            tables: keys.tables,
            exclude_tables: keys.exclude_tables,
            key_columns: self.key_columns.0,
            nul_characters: NulCharacters::parse(&self.nul_characters)
                .ok_or_else(|| decode_error("nul_characters", &self.nul_characters))?,
            zero_dates: ZeroDates::parse(&self.zero_dates)
                .ok_or_else(|| decode_error("zero_dates", &self.zero_dates))?,
            identifiers: Identifiers::parse(&self.identifiers)
                .ok_or_else(|| decode_error("identifiers", &self.identifiers))?,
            batch_size: u32::try_from(keys.batch_size).unwrap_or_default(),
            max_retries: u32::try_from(keys.max_retries).unwrap_or_default(),
            max_record_errors: u64::try_from(self.max_record_errors).unwrap_or_default(),
            verify: self.verify,
            started_by: self.started_by,
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            rows_estimated: self.rows_estimated,
            rows_read: self.rows_read,
            rows_written: self.rows_written,
            rows_rejected: self.rows_rejected,
            error_summary: self.error_summary,
        })
    }
}

/// Columns of a batch whose types decode alike on both backends.
#[derive(sqlx::FromRow)]
pub(super) struct BatchColumns {
    seq: i32,
    table_name: String,
    status: String,
    attempts: i32,
    rows_read: i64,
    rows_written: i64,
    rows_rejected: i64,
    verified: Option<bool>,
    verify_detail: Option<String>,
    last_error: Option<String>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl BatchColumns {
    pub(super) fn into_record(
        self,
        id: Uuid,
        key_start: Option<serde_json::Value>,
        key_end: Option<serde_json::Value>,
    ) -> StoreResult<BatchRecord> {
        Ok(BatchRecord {
            id: BatchId(id),
            seq: self.seq,
            table_name: self.table_name,
            key_start,
            key_end,
            status: BatchStatus::parse(&self.status)
                .ok_or_else(|| decode_error("batch status", &self.status))?,
            attempts: self.attempts,
            rows_read: self.rows_read,
            rows_written: self.rows_written,
            rows_rejected: self.rows_rejected,
            verified: self.verified,
            verify_detail: self.verify_detail,
            last_error: self.last_error,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}

/// The cursor key of `list_batches`.
pub(super) fn batch_cursor(batch: &BatchRecord) -> String {
    batch.seq.to_string()
}

/// Batch counts of a job, overall and per table, from rows of
/// `(table_name, status, count, rows_read, rows_written, rows_rejected)`
/// grouped by table and status and ordered by table.
pub(super) fn table_stats(
    rows: Vec<(String, String, i64, i64, i64, i64)>,
) -> StoreResult<(BatchCounts, Vec<TableStats>)> {
    let mut batches = BatchCounts::default();
    let mut tables: Vec<TableStats> = Vec::new();
    for (table_name, status, count, read, written, rejected) in rows {
        let status =
            BatchStatus::parse(&status).ok_or_else(|| decode_error("batch status", &status))?;
        batches.add(status, count);
        let entry = match tables.last_mut() {
            Some(last) if last.table_name == table_name => last,
            _ => {
                tables.push(TableStats {
                    table_name,
                    batches: BatchCounts::default(),
                    rows_read: 0,
                    rows_written: 0,
                    rows_rejected: 0,
                });
                tables.last_mut().ok_or(StoreError::NotFound)?
            }
        };
        entry.batches.add(status, count);
        entry.rows_read += read;
        entry.rows_written += written;
        entry.rows_rejected += rejected;
    }
    Ok((batches, tables))
}

/// Fails, naming each by its position, when a retry request names batches
/// that are not among `known` (the job's batches found of those named).
pub(super) fn check_retry_batches(requested: &[BatchId], known: &[Uuid]) -> StoreResult<()> {
    // A set: both lists are as long as the caller's body allows.
    let known: std::collections::HashSet<&Uuid> = known.iter().collect();
    let unknown: Vec<_> = requested
        .iter()
        .enumerate()
        .filter(|(_, b)| !known.contains(&b.0))
        .map(|(i, b)| FieldError {
            field: format!("batch_ids[{i}]"),
            message: format!("{b} is not a batch of this job"),
        })
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ValidationError(unknown).into())
    }
}

/// The batch statuses a retry resets: the retryable ones, and completed
/// ones too when batches are named (a repair after a validation).
pub(super) fn retryable_statuses(named: bool) -> Vec<&'static str> {
    let mut retryable: Vec<&str> = BatchStatus::RETRYABLE.iter().map(|s| s.as_str()).collect();
    if named {
        retryable.push(BatchStatus::Completed.as_str());
    }
    retryable
}

/// Why a retry that reset no batch of a planned job is refused.
pub(super) fn nothing_to_retry(named: bool) -> StoreError {
    StoreError::Conflict(if named {
        "none of the given batches has finished".into()
    } else {
        "the job has no failed, rejected or cancelled batches to retry".into()
    })
}

/// The log levels at or above `min` (a log filter's `min_level`).
pub(super) fn levels_at_least(min: Option<LogLevel>) -> Option<Vec<&'static str>> {
    min.map(|min| {
        [
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
        ]
        .into_iter()
        .filter(|l| *l >= min)
        .map(LogLevel::as_str)
        .collect()
    })
}

/// Columns of a job log row whose types decode alike on both backends.
#[derive(sqlx::FromRow)]
pub(super) struct LogColumns {
    id: i64,
    level: String,
    table_name: Option<String>,
    column_name: Option<String>,
    message: String,
    created_at: DateTime<Utc>,
}

impl LogColumns {
    pub(super) fn into_entry(
        self,
        batch_id: Option<Uuid>,
        record_key: Option<serde_json::Value>,
    ) -> StoreResult<LogEntry> {
        Ok(LogEntry {
            id: self.id,
            batch_id: batch_id.map(BatchId),
            level: LogLevel::parse(&self.level)
                .ok_or_else(|| decode_error("log level", &self.level))?,
            table_name: self.table_name,
            record_key,
            column_name: self.column_name,
            message: self.message,
            created_at: self.created_at,
        })
    }
}

/// Rows fetched per round trip while exporting.
const EXPORT_CHUNK: u32 = 1000;

/// A backend's query for one page of a job's logs, in id order after
/// `filter.after_id`; `NotFound` when the job is not the tenant's.
#[async_trait]
pub(super) trait LogPages: Clone + Send + Sync + 'static {
    async fn log_page(
        &self,
        tenant: &TenantId,
        job: JobId,
        filter: &LogFilter,
        limit: i64,
    ) -> StoreResult<Vec<LogEntry>>;
}

pub(super) async fn list_logs(
    store: &impl LogPages,
    tenant: &TenantId,
    job: JobId,
    filter: &LogFilter,
) -> StoreResult<Page<LogEntry>> {
    let limit = page_size(filter.limit);
    let items = store.log_page(tenant, job, filter, limit + 1).await?;
    Ok(page(items, limit, None, CursorKind::Logs, |e| {
        e.id.to_string()
    }))
}

/// Every log entry of a job matching `filter`, fetched a chunk at a time.
pub(super) async fn stream_logs<S: LogPages>(
    store: &S,
    tenant: &TenantId,
    job: JobId,
    filter: LogFilter,
) -> StoreResult<BoxStream<'static, StoreResult<LogEntry>>> {
    // Fetch the first chunk eagerly so a missing job is a 404, not a broken stream.
    let first = store
        .log_page(tenant, job, &filter, i64::from(EXPORT_CHUNK))
        .await?;
    let state = (store.clone(), tenant.clone(), filter, Some(first));
    let pages = stream::try_unfold(
        state,
        move |(store, tenant, mut filter, pending)| async move {
            let page = match pending {
                Some(page) => page,
                None => {
                    store
                        .log_page(&tenant, job, &filter, i64::from(EXPORT_CHUNK))
                        .await?
                }
            };
            if page.is_empty() {
                return Ok::<_, StoreError>(None);
            }
            filter.after_id = page.last().map(|e| e.id);
            Ok(Some((
                stream::iter(page.into_iter().map(Ok)),
                (store, tenant, filter, None),
            )))
        },
    );
    Ok(pages.try_flatten().boxed())
}

/// Columns of a job a worker needs to run it (`job_settings`), whose types
/// decode alike on both backends.
#[derive(sqlx::FromRow)]
pub(super) struct SettingsColumns {
    source_config_sealed: Vec<u8>,
    target_config_sealed: Vec<u8>,
    configs_sealed_version: i16,
    verify: bool,
    key_columns: Json<BTreeMap<String, Vec<String>>>,
    nul_characters: String,
    zero_dates: String,
    identifiers: String,
}

impl SettingsColumns {
    /// Opens the sealed connection configs (bound to the job's row) and
    /// parses the job's options.
    pub(super) fn open(
        self,
        secrets: &SecretBox,
        job: &JobRef,
        tables: Vec<String>,
        exclude_tables: Vec<String>,
        batch_size: i64,
    ) -> StoreResult<JobSettings> {
        if self.configs_sealed_version != SEAL_VERSION {
            return Err(StoreError::Corrupt(format!(
                "job {}: connection configs are sealed in an older format; restart Freight or run `freight reseal`",
                job.job_id
            )));
        }
        let binding = |side| SealBinding {
            tenant: &job.tenant,
            job: job.job_id,
            side,
        };
        let corrupt = |what: &str, value: &str| {
            StoreError::Corrupt(format!("job {}: unknown {what} {value:?}", job.job_id))
        };
        Ok(JobSettings {
            job: job.clone(),
            source: secrets.open_connection(&self.source_config_sealed, binding("source"))?,
            target: secrets.open_connection(&self.target_config_sealed, binding("target"))?,
            nul_characters: NulCharacters::parse(&self.nul_characters)
                .ok_or_else(|| corrupt("nul_characters", &self.nul_characters))?,
            zero_dates: ZeroDates::parse(&self.zero_dates)
                .ok_or_else(|| corrupt("zero_dates", &self.zero_dates))?,
            identifiers: Identifiers::parse(&self.identifiers)
                .ok_or_else(|| corrupt("identifiers", &self.identifiers))?,
            tables,
            exclude_tables,
            batch_size: u32::try_from(batch_size).unwrap_or(1).max(1),
            verify: self.verify,
            key_columns: self.key_columns.0,
        })
    }
}

fn empty_by_status() -> BTreeMap<String, i64> {
    JobStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect()
}

/// Summed row counters of a set of jobs' batches.
pub(super) struct RowTotals {
    pub read: i64,
    pub written: i64,
    pub rejected: i64,
}

/// A tenant's statistics from its job counts by status, its batches' row
/// totals and the mean duration of its finished jobs.
pub(super) fn job_statistics(
    window: &StatsWindow,
    counts: Vec<(String, i64)>,
    rows: RowTotals,
    avg_duration_seconds: Option<f64>,
) -> JobStatistics {
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
    JobStatistics {
        since: window.since,
        until: window.until,
        total_jobs,
        by_status,
        success_rate,
        rows_read: rows.read,
        rows_written: rows.written,
        rows_rejected: rows.rejected,
        avg_duration_seconds,
    }
}

/// Per-tenant statistics from job counts by `(tenant, status)` with the
/// latest creation time, and rows written and rejected by tenant.
pub(super) fn tenant_statistics(
    counts: Vec<(String, String, i64, Option<DateTime<Utc>>)>,
    rows: Vec<(String, i64, i64)>,
) -> Vec<TenantStatistics> {
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
    tenants.into_values().collect()
}

/// A webhook from its columns, its event names parsed.
pub(super) fn webhook_record(
    id: Uuid,
    url: String,
    events: &[String],
    created_by: String,
    created_at: DateTime<Utc>,
) -> StoreResult<WebhookRecord> {
    let events = events
        .iter()
        .map(|e| WebhookEventType::parse(e).ok_or_else(|| decode_error("webhook event", e)))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(WebhookRecord {
        id: WebhookId(id),
        url,
        events,
        created_by,
        created_at,
    })
}

/// Columns of a webhook delivery whose types decode alike on both backends.
#[derive(sqlx::FromRow)]
pub(super) struct DeliveryColumns {
    event_type: String,
    status: String,
    attempts: i32,
    last_status: Option<i32>,
    last_error: Option<String>,
    next_attempt_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

impl DeliveryColumns {
    pub(super) fn into_delivery(
        self,
        id: Uuid,
        webhook_id: Uuid,
        payload: serde_json::Value,
    ) -> StoreResult<WebhookDelivery> {
        let status = DeliveryStatus::parse(&self.status)
            .ok_or_else(|| decode_error("delivery status", &self.status))?;
        Ok(WebhookDelivery {
            id: message_id(id),
            webhook_id: WebhookId(webhook_id),
            event_type: WebhookEventType::parse(&self.event_type)
                .ok_or_else(|| decode_error("webhook event type", &self.event_type))?,
            payload,
            status,
            attempts: self.attempts,
            last_status: self.last_status,
            last_error: self.last_error,
            // Only a pending delivery is still to be attempted.
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(self.next_attempt_at),
            created_at: self.created_at,
            delivered_at: self.delivered_at,
        })
    }
}

/// The cursor key of a webhook's deliveries, read back by
/// [`parse_delivery_cursor`].
pub(super) fn delivery_cursor(delivery: &WebhookDelivery) -> String {
    // The id is always `msg_<simple UUID>` (`message_id`).
    format!(
        "{}|{}",
        delivery.created_at.to_rfc3339(),
        delivery.id.trim_start_matches("msg_")
    )
}

/// How an actor's role is written in the audit trail.
pub(super) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Engineer => "engineer",
        Role::Admin => "admin",
    }
}

/// An audit trail row; `details` is JSON on both backends.
#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    actor: String,
    actor_role: String,
    action: String,
    target_type: String,
    target_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    details: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> StoreResult<Self> {
        Ok(AuditEvent {
            id: r.id,
            actor: r.actor,
            actor_role: r
                .actor_role
                .parse()
                .map_err(|_| decode_error("audit actor role", &r.actor_role))?,
            action: AuditAction::parse(&r.action)
                .ok_or_else(|| decode_error("audit action", &r.action))?,
            target_type: AuditTargetType::parse(&r.target_type)
                .ok_or_else(|| decode_error("audit target type", &r.target_type))?,
            target_id: r.target_id,
            ip: r.ip,
            user_agent: r.user_agent,
            details: r.details.0,
            created_at: r.created_at,
        })
    }
}

/// What the audit trail records of a job's creation.
pub(super) fn job_created(spec: &JobSpec) -> serde_json::Value {
    serde_json::json!({
        "name": spec.name,
        "source_type": spec.source_config.kind,
        "target_type": spec.target_config.kind,
        "tables": spec.tables,
    })
}

/// What the audit trail records of a cancellation.
pub(super) fn job_cancelled(
    from: JobStatus,
    to: JobStatus,
    batches_cancelled: u64,
    batches_in_flight: i64,
) -> serde_json::Value {
    serde_json::json!({
        "from_status": from,
        "to_status": to,
        "batches_cancelled": batches_cancelled,
        "batches_in_flight": batches_in_flight,
    })
}

/// What the audit trail records of a retry.
pub(super) fn job_retried(
    from: JobStatus,
    batches_retried: u64,
    request: &RetryRequest,
) -> serde_json::Value {
    serde_json::json!({
        "from_status": from,
        "batches_retried": batches_retried,
        "batch_ids": request.batch_ids,
        "max_retries": request.max_retries,
    })
}

/// A job is validated once it has finished.
pub(super) fn check_can_validate(status: JobStatus) -> StoreResult<()> {
    if matches!(
        status,
        JobStatus::Queued | JobStatus::Running | JobStatus::Cancelling
    ) {
        return Err(StoreError::Conflict(format!(
            "job is {}: validate it once it has finished",
            status.as_str()
        )));
    }
    Ok(())
}
