//! Records the store returns and the filters it takes.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::connection::ConnectionView;
use crate::ids::{BatchId, JobId};
use crate::job::{BatchStatus, JobStatus, LogLevel};
use crate::tokens::Role;

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Who made a change, recorded with it in the audit trail.
#[derive(Debug, Clone)]
pub struct AuditInfo {
    pub actor: String,
    pub role: Role,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// One page of a keyset-paginated list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Rows matching the filter across all pages, when cheap to know.
    pub total: Option<i64>,
}

/// The list a cursor belongs to. A cursor is the list's tag and the sort
/// key of the last item of a page, `<tag>:<key>`, in unpadded base64url:
/// opaque to clients, and a cursor of one list (or a token the server did
/// not make) is refused by every other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// `list_migration_jobs`: `<created_at µs>|<job id>`.
    Jobs,
    /// `list_job_batches`: the batch's plan sequence number.
    Batches,
    /// `get_migration_logs`: the log entry id.
    Logs,
    /// `list_audit_events`: the event id.
    Audit,
    /// `list_webhook_deliveries`: `<created_at RFC 3339>|<delivery id>`.
    Deliveries,
}

impl CursorKind {
    fn tag(self) -> &'static str {
        match self {
            Self::Jobs => "jobs",
            Self::Batches => "batches",
            Self::Logs => "logs",
            Self::Audit => "audit",
            Self::Deliveries => "deliveries",
        }
    }

    /// The cursor of the position after an item with this sort key.
    pub fn encode(self, key: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{key}", self.tag()))
    }

    /// The sort key of a cursor of this list; `None` for anything else.
    fn key(self, cursor: &str) -> Option<String> {
        let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let key = raw.strip_prefix(self.tag())?.strip_prefix(':')?;
        Some(key.to_owned())
    }

    /// The sort key of a cursor of this list read by `parse`, which must
    /// give back a value whose key (`key_of`) is the cursor's exactly, so
    /// that only cursors the server made are taken (`+5`, `05`, an upper
    /// case UUID are not).
    fn parse<T>(
        self,
        cursor: &str,
        parse: impl FnOnce(&str) -> Option<T>,
        key_of: impl FnOnce(&T) -> String,
    ) -> Option<T> {
        let key = self.key(cursor)?;
        let value = parse(&key)?;
        (key_of(&value) == key).then_some(value)
    }
}

/// The sort key of `list_jobs`.
pub fn job_cursor_key(created_at: DateTime<Utc>, id: JobId) -> String {
    format!("{}|{id}", created_at.timestamp_micros())
}

/// Parses a `list_jobs` cursor; `None` when it is not one of ours.
pub fn parse_job_cursor(cursor: &str) -> Option<(DateTime<Utc>, JobId)> {
    CursorKind::Jobs.parse(
        cursor,
        |key| {
            let (micros, id) = key.split_once('|')?;
            let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
            Some((at, id.parse().ok()?))
        },
        |(at, id)| job_cursor_key(*at, *id),
    )
}

/// Parses a `list_batches` cursor: a plan sequence number (0 or more).
pub fn parse_batch_cursor(cursor: &str) -> Option<i32> {
    CursorKind::Batches
        .parse(cursor, |key| key.parse::<i32>().ok(), i32::to_string)
        .filter(|seq| *seq >= 0)
}

/// Parses a `list_logs` cursor: a log entry id (1 or more).
pub fn parse_log_cursor(cursor: &str) -> Option<i64> {
    parse_id_cursor(CursorKind::Logs, cursor)
}

/// Parses a `list_audit_events` cursor: an audit event id (1 or more).
pub fn parse_audit_cursor(cursor: &str) -> Option<i64> {
    parse_id_cursor(CursorKind::Audit, cursor)
}

fn parse_id_cursor(kind: CursorKind, cursor: &str) -> Option<i64> {
    kind.parse(cursor, |key| key.parse::<i64>().ok(), i64::to_string)
        .filter(|id| *id >= 1)
}

/// The sort key of a webhook's deliveries: the id is the UUID of the
/// message id (`msg_<simple UUID>`).
pub fn delivery_cursor_key(created_at: DateTime<Utc>, id: uuid::Uuid) -> String {
    format!("{}|{}", created_at.to_rfc3339(), id.simple())
}

/// Parses a deliveries cursor.
pub fn parse_delivery_cursor(cursor: &str) -> Option<(DateTime<Utc>, uuid::Uuid)> {
    CursorKind::Deliveries.parse(
        cursor,
        |key| {
            let (at, id) = key.split_once('|')?;
            Some((
                DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
                uuid::Uuid::parse_str(id).ok()?,
            ))
        },
        |(at, id)| delivery_cursor_key(*at, *id),
    )
}

/// A time window `[since, until)`; open ends are unbounded.
#[derive(Debug, Clone, Default)]
pub struct TimeWindow {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The window of a statistics request: jobs created at or after `since`
/// and before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsWindow {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub created: TimeWindow,
    pub limit: u32,
    /// Position after which to continue, from a previous page.
    pub after: Option<(DateTime<Utc>, JobId)>,
}

#[derive(Debug, Clone, Default)]
pub struct BatchFilter {
    pub status: Option<BatchStatus>,
    pub limit: u32,
    /// Continue after this batch sequence number.
    pub after_seq: Option<i32>,
}

#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Minimum severity.
    pub min_level: Option<LogLevel>,
    pub batch_id: Option<BatchId>,
    pub since: Option<DateTime<Utc>>,
    pub limit: u32,
    pub after_id: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<AuditAction>,
    pub since: Option<DateTime<Utc>>,
    pub limit: u32,
    /// Continue with events older than this id.
    pub before_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct RetryRequest {
    pub max_retries: u32,
    /// Only these batches; all failed ones when empty.
    pub batch_ids: Vec<BatchId>,
}

/// A stored job as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobRecord {
    /// Job identifier.
    pub id: JobId,
    /// Optional name given at creation.
    pub name: Option<String>,
    /// Current state.
    pub status: JobStatus,
    /// Source connection, password masked.
    pub source_config: ConnectionView,
    /// Target connection, password masked.
    pub target_config: ConnectionView,
    /// Tables requested (empty: the whole database or schema).
    pub tables: Vec<String>,
    /// Tables excluded.
    pub exclude_tables: Vec<String>,
    /// Key columns named per table (`JobSpec.key_columns`).
    pub key_columns: BTreeMap<String, Vec<String>>,
    /// What happens to text holding NUL characters.
    pub nul_characters: crate::job::NulCharacters,
    /// What happens to MySQL zero and partial dates.
    pub zero_dates: crate::job::ZeroDates,
    /// How names are spelled on the target.
    pub identifiers: crate::job::Identifiers,
    /// Rows per batch.
    pub batch_size: u32,
    /// Attempts per failed batch.
    pub max_retries: u32,
    /// Rejected records tolerated before the job stops.
    pub max_record_errors: u64,
    /// Whether value checksums are compared after each batch.
    pub verify: bool,
    /// Who started the job.
    pub started_by: String,
    /// Token subject that created the job.
    pub created_by: String,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
    /// Last change of state or counters.
    pub updated_at: DateTime<Utc>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
    /// Rows the planner expects to copy.
    pub rows_estimated: i64,
    /// Rows read from the source.
    pub rows_read: i64,
    /// Rows written to the target.
    pub rows_written: i64,
    /// Rows rejected (see the logs).
    pub rows_rejected: i64,
    /// Short description of what went wrong, when something did.
    pub error_summary: Option<String>,
}

/// Batch counts of a job by state.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct BatchCounts {
    pub total: i64,
    pub pending: i64,
    pub running: i64,
    pub completed: i64,
    pub completed_with_errors: i64,
    pub failed: i64,
    pub cancelled: i64,
}

impl BatchCounts {
    pub fn add(&mut self, status: BatchStatus, count: i64) {
        self.total += count;
        let slot = match status {
            BatchStatus::Pending => &mut self.pending,
            BatchStatus::Running => &mut self.running,
            BatchStatus::Completed => &mut self.completed,
            BatchStatus::CompletedWithErrors => &mut self.completed_with_errors,
            BatchStatus::Failed => &mut self.failed,
            BatchStatus::Cancelled => &mut self.cancelled,
        };
        *slot += count;
    }

    /// Batches in a final state.
    pub fn finished(&self) -> i64 {
        self.completed + self.completed_with_errors + self.failed + self.cancelled
    }
}

/// Progress of one table of a job.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TableStats {
    /// Source table name.
    pub table_name: String,
    /// Batches of this table by state.
    pub batches: BatchCounts,
    /// Rows read.
    pub rows_read: i64,
    /// Rows written.
    pub rows_written: i64,
    /// Rows rejected.
    pub rows_rejected: i64,
}

/// A job with everything `get_migration_job` reports.
#[derive(Debug, Clone)]
pub struct JobDetail {
    pub job: JobRecord,
    pub batches: BatchCounts,
    pub tables: Vec<TableStats>,
    /// Batches whose verification found a mismatch.
    pub verification_mismatches: i64,
    /// Warnings from planning (lossy casts, fallbacks).
    pub plan_warnings: Vec<String>,
    /// The most frequent error messages, most frequent first.
    pub top_errors: Vec<ErrorCount>,
    /// The newest validation of the job; `None` when never validated.
    pub validation: Option<ValidationSummary>,
}

/// State of a validation after the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValidationStatus {
    /// Ranges are still being compared.
    Running,
    /// Every range matched: same row count and checksum on both sides.
    Passed,
    /// At least one range differs (or could not be compared).
    Failed,
}

impl ValidationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Passed => "passed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Running, Self::Passed, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// The last validation of a job: source and target compared per batch key
/// range by row count and in-database checksum.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ValidationSummary {
    /// `running` until every range is compared, then `passed` or `failed`.
    pub status: ValidationStatus,
    /// Batches whose key range differs between source and target (or could
    /// not be compared), in plan order: pass them to `retry_migration_job`
    /// as `batch_ids` to repair them. While running: those found so far.
    pub mismatched_batches: Vec<BatchId>,
    /// When the last range was compared; null while running.
    pub checked_at: Option<DateTime<Utc>>,
    /// Why ranges could not be compared, when some could not (the first
    /// reason in plan order, e.g. a refused or unreachable connection);
    /// those ranges are among `mismatched_batches`. Null when every range
    /// was compared.
    pub error: Option<String>,
}

/// How often one error message occurred.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorCount {
    /// The error message.
    pub message: String,
    /// Occurrences.
    pub count: i64,
}

/// One batch: a fixed key range of one table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchRecord {
    /// Batch identifier.
    pub id: BatchId,
    /// Position of the batch within its job.
    pub seq: i32,
    /// Source table.
    pub table_name: String,
    /// Inclusive lower key bound (values of the key columns); null = unbounded.
    pub key_start: Option<serde_json::Value>,
    /// Exclusive upper key bound; null = unbounded.
    pub key_end: Option<serde_json::Value>,
    /// Current state.
    pub status: BatchStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// Rows read from the source.
    pub rows_read: i64,
    /// Rows written to the target.
    pub rows_written: i64,
    /// Rows rejected.
    pub rows_rejected: i64,
    /// Verification result: true = source and target match.
    pub verified: Option<bool>,
    /// What verification compared or found.
    pub verify_detail: Option<String>,
    /// Last error, if any.
    pub last_error: Option<String>,
    /// When a worker last started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct RetryOutcome {
    pub job: JobRecord,
    pub batches_retried: i64,
}

/// One record-level or job-level log entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogEntry {
    /// Entry id, increasing in time order.
    pub id: i64,
    /// Batch the entry belongs to, if any.
    pub batch_id: Option<BatchId>,
    /// Severity.
    pub level: LogLevel,
    /// Table concerned.
    pub table_name: Option<String>,
    /// Key of the offending record (key column values).
    pub record_key: Option<serde_json::Value>,
    /// Column concerned, where known.
    pub column_name: Option<String>,
    /// What happened (the database's error for rejected records).
    pub message: String,
    /// When it was logged.
    pub created_at: DateTime<Utc>,
}

/// A tenant's jobs over a time window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobStatistics {
    /// Start of the window (jobs created at or after): `since` as asked,
    /// or 30 days before the request.
    pub since: DateTime<Utc>,
    /// End of the window (jobs created before): `until` as asked, or the
    /// time of the request.
    pub until: DateTime<Utc>,
    /// Jobs created in the window.
    pub total_jobs: i64,
    /// Jobs by state.
    pub by_status: BTreeMap<String, i64>,
    /// completed / finished jobs (0..1); null when none finished.
    pub success_rate: Option<f64>,
    /// Rows read across the jobs.
    pub rows_read: i64,
    /// Rows written across the jobs.
    pub rows_written: i64,
    /// Rows rejected across the jobs.
    pub rows_rejected: i64,
    /// Mean wall time of finished jobs, seconds.
    pub avg_duration_seconds: Option<f64>,
}

/// One tenant's figures, for admins.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantStatistics {
    /// Tenant.
    pub tenant_id: String,
    /// Jobs created in the window.
    pub total_jobs: i64,
    /// Jobs by state.
    pub by_status: BTreeMap<String, i64>,
    /// Rows written.
    pub rows_written: i64,
    /// Rows rejected.
    pub rows_rejected: i64,
    /// Most recent job creation.
    pub last_job_at: Option<DateTime<Utc>>,
}

/// What an audit event records: `<target type>.<verb>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum AuditAction {
    #[serde(rename = "job.create")]
    JobCreate,
    #[serde(rename = "job.cancel")]
    JobCancel,
    #[serde(rename = "job.retry")]
    JobRetry,
    #[serde(rename = "job.validate")]
    JobValidate,
    #[serde(rename = "webhook.create")]
    WebhookCreate,
    #[serde(rename = "webhook.delete")]
    WebhookDelete,
}

impl AuditAction {
    const ALL: [Self; 6] = [
        Self::JobCreate,
        Self::JobCancel,
        Self::JobRetry,
        Self::JobValidate,
        Self::WebhookCreate,
        Self::WebhookDelete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::JobCreate => "job.create",
            Self::JobCancel => "job.cancel",
            Self::JobRetry => "job.retry",
            Self::JobValidate => "job.validate",
            Self::WebhookCreate => "webhook.create",
            Self::WebhookDelete => "webhook.delete",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }

    /// The kind of object the action is done to.
    pub fn target_type(self) -> AuditTargetType {
        match self {
            Self::JobCreate | Self::JobCancel | Self::JobRetry | Self::JobValidate => {
                AuditTargetType::Job
            }
            Self::WebhookCreate | Self::WebhookDelete => AuditTargetType::Webhook,
        }
    }
}

/// The kind of object an audit event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditTargetType {
    Job,
    Webhook,
}

impl AuditTargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Job, Self::Webhook]
            .into_iter()
            .find(|t| t.as_str() == raw)
    }
}

/// One audit event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEvent {
    /// Event id, increasing in time order.
    pub id: i64,
    /// Token subject that acted.
    pub actor: String,
    /// Role of the actor.
    pub actor_role: Role,
    /// What was done.
    pub action: AuditAction,
    /// Kind of object acted on.
    pub target_type: AuditTargetType,
    /// Identifier of the object acted on.
    pub target_id: Option<String>,
    /// Client IP address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Extra facts about the change.
    pub details: serde_json::Value,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

/// One worker process, from its heartbeats.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct WorkerInfo {
    /// Worker id.
    pub id: String,
    /// Host name.
    pub host: String,
    /// Batches it runs concurrently at most.
    pub concurrency: i32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Last heartbeat.
    pub last_seen: DateTime<Utc>,
    /// Batches it is running now.
    pub in_flight: i32,
    /// Rows it has copied since it started.
    pub rows_processed: i64,
}

/// Live workers and the work waiting for them, as one tenant may see them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkerStatus {
    /// Live workers (recent heartbeat) with their ids and host names: only
    /// for callers with the admin role, an empty list for everyone else
    /// (`live_workers` has the count).
    pub workers: Vec<WorkerInfo>,
    /// Number of live workers.
    pub live_workers: i64,
    /// This tenant's batches waiting for a worker.
    pub queue_depth: i64,
    /// This tenant's batches being copied now.
    pub in_flight_batches: i64,
    /// Batches waiting across all tenants.
    pub total_queue_depth: i64,
    /// This tenant's batches being copied now, longest running first (at
    /// most 100; `in_flight_batches` has the count).
    pub batches: Vec<InFlightBatch>,
}

/// One of a tenant's batches a worker is copying now.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct InFlightBatch {
    /// Batch identifier.
    pub id: BatchId,
    /// Job it belongs to.
    pub job_id: JobId,
    /// Source table.
    pub table_name: String,
    /// Position of the batch within its job.
    pub seq: i32,
    /// Attempts made so far, this one included.
    pub attempts: i32,
    /// When a worker started this attempt.
    pub started_at: Option<DateTime<Utc>>,
}

/// What kind of durable event a job recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEventKind {
    /// The job changed state.
    Status,
    /// A batch attempt failed (retried with backoff, or failed for good).
    BatchFailed,
}

/// One durable event of a job, as the event triggers wrote it.
#[derive(Debug, Clone)]
pub struct JobEvent {
    /// Increasing id; `Last-Event-ID` of the event stream.
    pub id: i64,
    pub kind: JobEventKind,
    pub data: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// A webhook to register.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Where deliveries are POSTed (already checked by the connection policy).
    pub url: String,
    pub events: Vec<crate::webhooks::WebhookEventType>,
}

/// A registered webhook endpoint; its secret is never shown again.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookRecord {
    /// Webhook identifier.
    pub id: crate::ids::WebhookId,
    /// Endpoint deliveries are POSTed to.
    pub url: String,
    /// Events delivered to it.
    pub events: Vec<crate::webhooks::WebhookEventType>,
    /// Token subject that registered it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A webhook just registered, with its signing secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub webhook: WebhookRecord,
    /// Signing secret (`whsec_…`, Standard Webhooks): shown only in this
    /// response. Verify `webhook-signature` with it.
    pub secret: String,
}

/// State of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed; no more will be made.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// One message to one webhook, with its attempts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDelivery {
    /// Stable message id, sent as `webhook-id` on every attempt.
    pub id: String,
    pub webhook_id: crate::ids::WebhookId,
    /// The event delivered.
    pub event_type: crate::webhooks::WebhookEventType,
    /// The JSON body sent.
    pub payload: serde_json::Value,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// HTTP status of the last attempt, when the endpoint answered.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Filters and paging of webhook deliveries.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub limit: u32,
    /// Deliveries created before this one (keyset paging).
    pub before: Option<(DateTime<Utc>, uuid::Uuid)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    #[test]
    fn cursors_read_back_in_their_own_list_only() {
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        let job = JobId::new();
        let jobs = CursorKind::Jobs.encode(&job_cursor_key(at, job));
        assert_eq!(parse_job_cursor(&jobs), Some((at, job)));
        let batches = CursorKind::Batches.encode("12");
        assert_eq!(parse_batch_cursor(&batches), Some(12));
        let logs = CursorKind::Logs.encode("7");
        assert_eq!(parse_log_cursor(&logs), Some(7));
        let audit = CursorKind::Audit.encode("7");
        assert_eq!(parse_audit_cursor(&audit), Some(7));
        let delivery = uuid::Uuid::now_v7();
        let deliveries = CursorKind::Deliveries.encode(&delivery_cursor_key(at, delivery));
        assert_eq!(parse_delivery_cursor(&deliveries), Some((at, delivery)));

        // Opaque: nothing of the position shows through unencoded.
        assert!(!batches.contains("12") && !jobs.contains('|'));
        // A cursor of one list is no position in another.
        for foreign in [&jobs, &logs, &audit, &deliveries] {
            assert_eq!(parse_batch_cursor(foreign), None, "{foreign}");
        }
        for foreign in [&batches, &audit] {
            assert_eq!(parse_log_cursor(foreign), None);
        }
        for foreign in [&batches, &logs] {
            assert_eq!(parse_audit_cursor(foreign), None);
            assert_eq!(parse_job_cursor(foreign), None);
            assert_eq!(parse_delivery_cursor(foreign), None);
        }
    }

    #[test]
    fn cursors_the_server_did_not_make_are_refused() {
        for forged in [
            "LTE".to_owned(), // "-1", untagged
            raw("12"),
            raw("batches:-1"),
            raw("batches:+3"),
            raw("batches:03"),
            raw("batches:3 "),
            raw("batches:"),
            raw("batches:99999999999"),
            raw("batches12"),
            raw("Batches:3"),
            "!!".to_owned(),
            String::new(),
        ] {
            assert_eq!(parse_batch_cursor(&forged), None, "{forged}");
        }
        for forged in [raw("logs:0"), raw("logs:-5"), raw("audit:1")] {
            assert_eq!(parse_log_cursor(&forged), None, "{forged}");
        }
        let job = uuid::Uuid::now_v7();
        let upper = raw(&format!(
            "jobs:1|{}",
            job.hyphenated().to_string().to_uppercase()
        ));
        assert_eq!(parse_job_cursor(&upper), None);
        assert!(parse_job_cursor(&raw(&format!("jobs:1|{job}"))).is_some());
        assert_eq!(parse_job_cursor(&raw(&format!("jobs:01|{job}"))), None);
        // Padded base64 is not what the server writes.
        let padded = base64::engine::general_purpose::URL_SAFE.encode("batches:12");
        assert_ne!(padded, CursorKind::Batches.encode("12"));
        assert_eq!(parse_batch_cursor(&padded), None);
    }
}
