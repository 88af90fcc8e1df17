//! Migration jobs: what a tenant asks for, and the states a job and its
//! batches move through.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::connection::ConnectionConfig;
use crate::error::{ValidationError, Validator};

/// 10,000: the 2M-row benchmark copies about twice as fast as at 1,000
/// (per-batch transactions and bookkeeping), and a batch of that size still
/// streams in a few MB; the bad-record search costs 14 halvings, not 10.
pub const DEFAULT_BATCH_SIZE: u32 = 10_000;
pub const MAX_BATCH_SIZE: u32 = 100_000;
pub const DEFAULT_MAX_RETRIES: u32 = 3;
pub const MAX_MAX_RETRIES: u32 = 50;

/// Lifecycle of a migration job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Stored, waiting for a worker to plan and dispatch it.
    Queued,
    /// Batches are being copied.
    Running,
    /// Every batch copied and verified.
    Completed,
    /// Finished, but some records were rejected (see the logs).
    CompletedWithErrors,
    /// Finished with batches that failed after all retries.
    Failed,
    /// Cancel requested; in-flight batches are finishing.
    Cancelling,
    /// Cancelled; no batch was left half-written.
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 7] = [
        Self::Queued,
        Self::Running,
        Self::Completed,
        Self::CompletedWithErrors,
        Self::Failed,
        Self::Cancelling,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::CompletedWithErrors => "completed_with_errors",
            Self::Failed => "failed",
            Self::Cancelling => "cancelling",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::CompletedWithErrors | Self::Failed | Self::Cancelled
        )
    }

    /// The state a cancel request moves the job to, or why it can't.
    pub fn on_cancel(self) -> Result<JobStatus, String> {
        match self {
            Self::Queued => Ok(Self::Cancelled),
            Self::Running => Ok(Self::Cancelling),
            Self::Cancelling => Err("job is already being cancelled".into()),
            finished => Err(format!(
                "job is {} and can no longer be cancelled",
                finished.as_str()
            )),
        }
    }

    /// Whether a retry may be asked for; a retry also needs failed batches.
    pub fn can_retry(self) -> Result<(), String> {
        match self {
            Self::CompletedWithErrors | Self::Failed | Self::Cancelled => Ok(()),
            other => Err(format!(
                "job is {}: only completed_with_errors, failed or cancelled jobs can be retried",
                other.as_str()
            )),
        }
    }
}

/// Lifecycle of one batch (a fixed key range of one table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// Planned and stored, waiting for a worker.
    Pending,
    /// A worker holds its lease and is copying it.
    Running,
    /// Copied and verified.
    Completed,
    /// Copied except for rejected records (see the logs).
    CompletedWithErrors,
    /// Failed after all retries.
    Failed,
    /// Not run because the job was cancelled.
    Cancelled,
}

impl BatchStatus {
    pub const ALL: [BatchStatus; 6] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::CompletedWithErrors,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::CompletedWithErrors => "completed_with_errors",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Batches a retry re-runs.
    pub const RETRYABLE: [BatchStatus; 3] =
        [Self::Failed, Self::CompletedWithErrors, Self::Cancelled];
}

/// What to do with text values holding a NUL character (U+0000), which
/// PostgreSQL cannot store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NulCharacters {
    /// Such a value is a rejected record (naming table, column and key)
    /// where the target cannot store it (PostgreSQL); MySQL and SQLite
    /// targets store it as it is.
    #[default]
    Reject,
    /// NUL characters are removed from text read from the source.
    Strip,
}

impl NulCharacters {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reject => "reject",
            Self::Strip => "strip",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Reject, Self::Strip]
            .into_iter()
            .find(|n| n.as_str() == raw)
    }
}

/// What to do with MySQL zero and partial dates (`0000-00-00`, a zero
/// month or day), which no other database can store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ZeroDates {
    /// Copied as NULL (a NOT NULL column then rejects the record); the
    /// plan preview warns per column that holds any, with the count.
    #[default]
    Null,
    /// Such a row is a rejected record naming table, column and key; the
    /// rest of its batch is copied.
    Reject,
}

impl ZeroDates {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Reject => "reject",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Null, Self::Reject]
            .into_iter()
            .find(|z| z.as_str() == raw)
    }
}

/// How table, column, index and constraint names are spelled on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Identifiers {
    /// As the source spells them, case included (always quoted).
    #[default]
    Keep,
    /// Folded to lower case (ASCII letters, as PostgreSQL folds unquoted
    /// names), like pgloader does; planning refuses names that would then
    /// collide.
    Lower,
}

impl Identifiers {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Lower => "lower",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Keep, Self::Lower]
            .into_iter()
            .find(|i| i.as_str() == raw)
    }

    /// A source name as the target spells it.
    pub fn apply(self, name: &str) -> String {
        match self {
            Self::Keep => name.to_owned(),
            Self::Lower => name.to_ascii_lowercase(),
        }
    }
}

/// Severity of a job log entry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Debug, Self::Info, Self::Warn, Self::Error]
            .into_iter()
            .find(|l| l.as_str() == raw)
    }
}

/// What a tenant asks to migrate. The body of `create_migration_job` and
/// `plan_migration_job`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "name": "shop to warehouse",
    "source_config": {"type": "mysql", "host": "127.0.0.1", "port": 3306, "database": "shop", "user": "shop_app", "password": "shop-app-pass-42"},
    "target_config": {"type": "mysql", "host": "127.0.0.1", "port": 3306, "database": "shop_copy", "user": "shop_app", "password": "shop-app-pass-42"},
    "tables": ["customers"],
    "batch_size": 1000,
    "verify": true,
    "started_by": "you"
})))]
pub struct JobSpec {
    /// Optional human-readable name of the job: at most 200 characters,
    /// no control characters.
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub name: Option<String>,
    /// Where rows are read from.
    pub source_config: ConnectionConfig,
    /// Where rows are written to.
    pub target_config: ConnectionConfig,
    /// Tables to copy; omitted or empty means every table of the source
    /// database (or PostgreSQL schema). At most 10000.
    #[serde(default)]
    #[schema(value_type = Vec<crate::schema::TableName>, max_items = 10000)]
    pub tables: Vec<String>,
    /// Tables to leave out when copying a whole database. At most 10000.
    #[serde(default)]
    #[schema(value_type = Vec<crate::schema::TableName>, max_items = 10000)]
    pub exclude_tables: Vec<String>,
    /// Rows per batch, 1..=100000; default 10000.
    #[serde(
        default = "default_batch_size",
        deserialize_with = "crate::whole::number"
    )]
    #[schema(minimum = 1, maximum = 100000, default = 10000)]
    pub batch_size: u32,
    /// Attempts per failed batch before it counts as failed; default 3.
    #[serde(
        default = "default_max_retries",
        deserialize_with = "crate::whole::number"
    )]
    #[schema(maximum = 50, default = 3)]
    pub max_retries: u32,
    /// Rejected records tolerated across the job before it stops; 0 (the
    /// default) means any bad record fails its batch.
    #[serde(default, deserialize_with = "crate::whole::number")]
    #[schema(maximum = 9223372036854775807_i64)]
    pub max_record_errors: u64,
    /// Also compare a checksum of the values of each batch after copying
    /// (row counts are always compared).
    #[serde(default)]
    pub verify: bool,
    /// Per table, the columns to cut batches on when the source table has no
    /// primary key or unique NOT NULL index Freight can see, e.g.
    /// `{"events": ["device_id", "recorded_at"]}`. The columns must exist in
    /// the source table and hold no NULLs. A keyless table without an entry
    /// here is copied whole, in one batch. Each batch deletes its key range
    /// on the target and inserts the source rows of it, so the key must
    /// order the same way on the target (the target needs no unique index on
    /// it). Overrides a primary key Freight does see. At most 10000 tables,
    /// 1-32 distinct columns each.
    #[serde(default)]
    #[schema(value_type = crate::schema::KeyColumns)]
    pub key_columns: BTreeMap<String, Vec<String>>,
    /// Text values holding a NUL character (U+0000): `reject` (default:
    /// a rejected record naming table, column and key, where the target is
    /// PostgreSQL, which cannot store them) or `strip` (the characters are
    /// removed).
    #[serde(default)]
    pub nul_characters: NulCharacters,
    /// MySQL zero and partial dates (`0000-00-00`, a zero month or day):
    /// `null` (default: copied as NULL, and a rejected record where the
    /// column is NOT NULL) or `reject` (the row is a rejected record naming
    /// table, column and key; the rest of the batch is copied).
    #[serde(default)]
    pub zero_dates: ZeroDates,
    /// Names of tables, columns, indexes and constraints on the target:
    /// `keep` (default: as the source spells them, case included) or
    /// `lower` (folded to lower case like pgloader; planning refuses a
    /// table whose names would then collide).
    #[serde(default)]
    pub identifiers: Identifiers,
    /// Who or what started the job (a person, a pipeline): 1-200
    /// characters once trimmed, not only whitespace, no control characters.
    #[schema(value_type = crate::schema::StartedBy)]
    pub started_by: String,
}

fn default_batch_size() -> u32 {
    DEFAULT_BATCH_SIZE
}

fn default_max_retries() -> u32 {
    DEFAULT_MAX_RETRIES
}

impl JobSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::default();
        self.source_config.validate("source_config", &mut v);
        self.target_config.validate("target_config", &mut v);
        v.check(
            (1..=MAX_BATCH_SIZE).contains(&self.batch_size),
            "batch_size",
            format!("must be between 1 and {MAX_BATCH_SIZE}"),
        );
        v.check(
            self.max_retries <= MAX_MAX_RETRIES,
            "max_retries",
            format!("must be at most {MAX_MAX_RETRIES}"),
        );
        let started_by = self.started_by.trim();
        v.check(
            !started_by.is_empty()
                && started_by.chars().count() <= 200
                && !started_by.chars().any(char::is_control),
            "started_by",
            "must be 1-200 characters, without control characters",
        );
        // Stored as a PostgreSQL bigint: a larger value would be clamped, not kept.
        v.check(
            i64::try_from(self.max_record_errors).is_ok(),
            "max_record_errors",
            format!("must be at most {}", i64::MAX),
        );
        if let Some(name) = &self.name {
            v.check(
                name.chars().count() <= 200 && !name.chars().any(char::is_control),
                "name",
                "must be at most 200 characters, without control characters",
            );
        }
        // Every list's length is checked before its items, and an item is
        // never compared with all the others: the body is the caller's, up
        // to the API's body limit, and this runs on the async runtime.
        for (list, names) in [
            ("tables", &self.tables),
            ("exclude_tables", &self.exclude_tables),
        ] {
            if names.len() > MAX_TABLES_LISTED {
                v.push(list, format!("at most {MAX_TABLES_LISTED} tables"));
                continue;
            }
            for (i, table) in names.iter().enumerate() {
                v.check(
                    valid_table_name(table),
                    format!("{list}[{i}]"),
                    "table names are 1-128 characters, without NUL or control characters",
                );
            }
        }
        if self.key_columns.len() > MAX_TABLES_LISTED {
            v.push("key_columns", format!("at most {MAX_TABLES_LISTED} tables"));
            return v.finish();
        }
        for (table, columns) in &self.key_columns {
            let field = format!("key_columns.{table}");
            v.check(
                valid_table_name(table),
                "key_columns",
                "table names are 1-128 characters, without NUL or control characters",
            );
            if !(1..=MAX_KEY_COLUMNS).contains(&columns.len()) {
                v.push(field, format!("name 1 to {MAX_KEY_COLUMNS} key columns"));
                continue;
            }
            let mut seen = std::collections::HashSet::with_capacity(columns.len());
            for (i, column) in columns.iter().enumerate() {
                v.check(
                    valid_table_name(column),
                    format!("{field}[{i}]"),
                    "column names are 1-128 characters, without NUL or control characters",
                );
                v.check(
                    seen.insert(column.as_str()),
                    format!("{field}[{i}]"),
                    format!("column {column} is named twice"),
                );
            }
        }
        v.finish()
    }
}

/// Names a job spec's `tables`, `exclude_tables` and `key_columns` list at most.
const MAX_TABLES_LISTED: usize = 10_000;

/// Key columns `key_columns` names for one table at most.
const MAX_KEY_COLUMNS: usize = 32;

fn valid_table_name(name: &str) -> bool {
    crate::schema::is_valid_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_and_retry_transitions() {
        assert_eq!(JobStatus::Queued.on_cancel(), Ok(JobStatus::Cancelled));
        assert_eq!(JobStatus::Running.on_cancel(), Ok(JobStatus::Cancelling));
        assert!(JobStatus::Completed.on_cancel().is_err());
        assert!(JobStatus::Cancelling.on_cancel().is_err());
        assert!(JobStatus::Failed.can_retry().is_ok());
        assert!(JobStatus::Running.can_retry().is_err());
        assert!(JobStatus::Completed.can_retry().is_err());
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in BatchStatus::ALL {
            assert_eq!(BatchStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn list_lengths_are_checked_before_their_items() {
        // 80,000 key columns (the same name, each a duplicate of the
        // first): one error about the count, not 80,000 comparisons with
        // every earlier column.
        let columns: Vec<String> = vec!["c".to_owned(); 80_000];
        let tables: Vec<String> = vec![String::new(); 10_001];
        let spec: JobSpec = serde_json::from_value(serde_json::json!({
            "source_config": {"type": "postgresql", "url": "postgres://u@h/db"},
            "target_config": {"type": "postgresql", "url": "postgres://u@h/db2"},
            "started_by": "mallory",
            "tables": tables,
            "key_columns": {"events": columns}
        }))
        .unwrap();
        let errors = spec.validate().unwrap_err().0;
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["tables", "key_columns.events"], "{errors:?}");
        assert_eq!(errors[1].message, "name 1 to 32 key columns");
        let many: std::collections::BTreeMap<String, Vec<String>> = (0..10_001)
            .map(|i| (format!("t{i}"), vec!["a".to_owned(), "a".to_owned()]))
            .collect();
        let spec: JobSpec = serde_json::from_value(serde_json::json!({
            "source_config": {"type": "postgresql", "url": "postgres://u@h/db"},
            "target_config": {"type": "postgresql", "url": "postgres://u@h/db2"},
            "started_by": "mallory",
            "key_columns": many
        }))
        .unwrap();
        let errors = spec.validate().unwrap_err().0;
        assert_eq!(errors.len(), 1, "{:?}", &errors[..errors.len().min(3)]);
        assert_eq!(errors[0].field, "key_columns");
    }

    #[test]
    fn spec_validation_reports_every_bad_field() {
        let spec: JobSpec = serde_json::from_value(serde_json::json!({
            "source_config": {"type": "mysql"},
            "target_config": {"type": "postgresql", "url": "mysql://x"},
            "batch_size": 0,
            "started_by": " ",
            "tables": [""],
            "key_columns": {"events": [], "logs": ["a", "a"]}
        }))
        .unwrap();
        let fields: Vec<_> = spec
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "source_config.url",
                "target_config.url",
                "batch_size",
                "started_by",
                "tables[0]",
                "key_columns.events",
                "key_columns.logs[1]"
            ]
        );
    }
}
