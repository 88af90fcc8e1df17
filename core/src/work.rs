//! The units of work dispatch and the engine hand each other: a plan's
//! batches, a batch to run and its outcome, a range to validate and its
//! comparison. Plain data, kept in `core` so that the dispatch store (which
//! records them) and the engine (which produces and consumes them) speak
//! the same types without either depending on the other.

use std::collections::BTreeMap;

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

/// Marks, at the end of a batch's `verify_detail`, the values the batch
/// changed on the way ([`Conversions`] as JSON); finishing the job sums
/// them per table and column into the job's `plan_warnings`
/// ([`conversion_warnings`]).
pub const CONVERSIONS_NOTE: &str = "; values converted: ";

/// Values a batch copied changed, counted per column name.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Conversions {
    /// MySQL zero or partial dates copied as NULL (`zero_dates: null`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub zero_dates: BTreeMap<String, i64>,
    /// MySQL zero or partial dates in a column NOT NULL on the target: the
    /// NULL they were read as made the target refuse their rows (rejected
    /// records).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub zero_dates_rejected: BTreeMap<String, i64>,
    /// MySQL `tinyint(1)` values other than 0 and 1 copied as true.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_boolean: BTreeMap<String, i64>,
}

impl Conversions {
    /// The note for a batch's `verify_detail`; `None` when nothing changed.
    pub fn note(&self) -> Option<String> {
        if self.zero_dates.is_empty()
            && self.zero_dates_rejected.is_empty()
            && self.not_boolean.is_empty()
        {
            return None;
        }
        Some(format!(
            "{CONVERSIONS_NOTE}{}",
            serde_json::to_string(self).ok()?
        ))
    }
}

/// One warning per table, column and kind, summed over the batches'
/// `(table_name, verify_detail)`.
pub fn conversion_warnings<'a>(
    batches: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Vec<String> {
    let mut zero: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut zero_rejected: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut not_boolean: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (table, detail) in batches {
        let Some((_, note)) = detail.and_then(|d| d.rsplit_once(CONVERSIONS_NOTE)) else {
            continue;
        };
        let Ok(c) = serde_json::from_str::<Conversions>(note) else {
            continue;
        };
        for (sums, counts) in [
            (&mut zero, c.zero_dates),
            (&mut zero_rejected, c.zero_dates_rejected),
            (&mut not_boolean, c.not_boolean),
        ] {
            for (column, n) in counts {
                *sums.entry((table.to_owned(), column)).or_default() += n;
            }
        }
    }
    let zero = zero.into_iter().map(|((table, column), n)| {
        format!(
            "{table}: column {column}: zero dates (0000-00-00 or a zero month/day) in {n} row(s) were copied as NULL (zero_dates: null)"
        )
    });
    let zero_rejected = zero_rejected.into_iter().map(|((table, column), n)| {
        format!(
            "{table}: column {column}: zero dates (0000-00-00 or a zero month/day) in {n} row(s) were rejected records: zero_dates: null copies them as NULL, which the NOT NULL column refuses"
        )
    });
    let not_boolean = not_boolean.into_iter().map(|((table, column), n)| {
        format!(
            "{table}: column {column}: tinyint(1) values other than 0 and 1 in {n} row(s) were copied as true (the column became a boolean)"
        )
    });
    zero.chain(zero_rejected).chain(not_boolean).collect()
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
