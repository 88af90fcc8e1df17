//! The units of work dispatch and the engine hand each other: a plan's
//! batches, a batch to run and its outcome, a range to validate and its
//! comparison. Plain data, kept in `core` so that the dispatch store (which
//! records them) and the engine (which produces and consumes them) speak
//! the same types without either depending on the other.

use crate::ids::BatchId;
use crate::plan::PlanReport;

/// One fixed key range of a table, as planning cuts it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedBatch {
    pub table_name: String,
    /// Inclusive lower bound: JSON array of the key columns' values; `None` = unbounded.
    pub key_start: Option<serde_json::Value>,
    /// Exclusive upper bound; `None` = unbounded.
    pub key_end: Option<serde_json::Value>,
}

/// What planning returns: the report shown to users and the batches to store.
#[derive(Debug, Clone)]
pub struct JobPlan {
    pub report: PlanReport,
    pub batches: Vec<PlannedBatch>,
}

/// A batch dispatch asks the engine to copy.
#[derive(Debug, Clone)]
pub struct BatchToRun {
    pub batch_id: BatchId,
    pub table_name: String,
    pub key_start: Option<serde_json::Value>,
    pub key_end: Option<serde_json::Value>,
    /// How many more records may be rejected before the batch must fail
    /// instead (`max_record_errors` minus what the job already rejected);
    /// 0 means any bad record fails the batch.
    pub record_error_budget: u64,
}

/// One record the target refused.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedRecord {
    /// Key column values of the record, as a JSON array.
    pub key: serde_json::Value,
    /// Column concerned, where the database says.
    pub column: Option<String>,
    /// The database's error message (never containing credentials).
    pub message: String,
}

/// The result of copying one batch: the target holds exactly the source's
/// rows of the key range except for `rejected`.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    pub rows_read: i64,
    pub rows_written: i64,
    pub rejected: Vec<RejectedRecord>,
    /// `Some(true)` when source and target matched after the copy.
    pub verified: Option<bool>,
    pub verify_detail: Option<String>,
}

/// Marks, at the end of a batch's `verify_detail`, the zero or partial
/// MySQL dates the batch copied as NULL (`zero_dates: null`), as a JSON
/// object of counts per column; finishing the job sums them per table and
/// column into the job's `plan_warnings`.
pub const ZERO_DATES_NOTE: &str = "; zero dates copied as NULL: ";

/// The note [`ZERO_DATES_NOTE`] introduces, for a batch's `verify_detail`.
pub fn zero_dates_note(counts: &std::collections::BTreeMap<String, i64>) -> String {
    format!(
        "{ZERO_DATES_NOTE}{}",
        serde_json::to_string(counts).unwrap_or_default()
    )
}

/// One warning per table and column, summed over the batches'
/// `(table_name, verify_detail)`.
pub fn zero_date_warnings<'a>(
    batches: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Vec<String> {
    let mut sums: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for (table, detail) in batches {
        let Some((_, note)) = detail.and_then(|d| d.rsplit_once(ZERO_DATES_NOTE)) else {
            continue;
        };
        let Ok(counts) = serde_json::from_str::<std::collections::BTreeMap<String, i64>>(note)
        else {
            continue;
        };
        for (column, n) in counts {
            *sums.entry((table.to_owned(), column)).or_default() += n;
        }
    }
    sums.into_iter()
        .map(|((table, column), n)| {
            format!(
                "{table}: column {column}: zero dates (0000-00-00 or a zero month/day) in {n} row(s) were copied as NULL (zero_dates: null)"
            )
        })
        .collect()
}

/// One batch's key range to compare.
#[derive(Debug, Clone)]
pub struct RangeToValidate {
    pub batch_id: BatchId,
    pub table_name: String,
    pub key_start: Option<serde_json::Value>,
    pub key_end: Option<serde_json::Value>,
}

/// Row count and checksum of one side of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RangeSide {
    pub rows: i64,
    /// Sum of the rows' 60-bit hashes (exact; a range of 100,000 rows needs 77 bits).
    pub checksum: u128,
}

/// The comparison of one range.
#[derive(Debug, Clone)]
pub struct RangeCheck {
    pub source: RangeSide,
    pub target: RangeSide,
    pub matched: bool,
    /// What was compared and what differs, for people.
    pub detail: String,
}
