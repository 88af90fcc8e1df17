//! Copying one batch: in one target transaction, clear the key range and
//! write the source rows of the range (a keyless table: clear the whole
//! table and write all of its rows). Running it twice leaves the target as
//! running it once. Bad records are isolated by bisection.

use tokio::sync::mpsc;

use super::connect::Pool;
use super::context::{Addressing, TableCtx};
use super::error::Failure;
use super::model::{Logical, Row, Value};
use super::own_server;
use super::read::{self, ReadOptions, ReadSummary};
use super::sql::Predicate;
use super::write::TargetTx;
use super::write::merge::{self, Kept, Merge};
use super::{BatchOutcome, BatchToRun, EngineError, JobContext, RejectedRecord};

/// Keys per DELETE when the target is addressed by key set.
const KEYS_PER_DELETE: usize = 500;

/// The key range of a batch as values.
pub struct Bounds {
    pub start: Option<Vec<Value>>,
    pub end: Option<Vec<Value>>,
}

pub fn parse_bounds(ctx: &TableCtx, batch: &BatchToRun) -> Result<Bounds, EngineError> {
    if ctx.addressing == Addressing::WholeTable
        && (batch.key_start.is_some() || batch.key_end.is_some())
    {
        // Planned in key ranges while the table had a key it has lost since
        // (or the job's key_columns changed): copying the range as the whole
        // table would delete the other batches' rows.
        return Err(EngineError::Permanent(format!(
            "table {} has no key to cut batches on, but this batch is a key range; plan the job again",
            ctx.source.name
        )));
    }
    let logicals: Vec<Logical> = ctx
        .source
        .key_columns()
        .iter()
        .map(|c| c.logical.clone())
        .collect();
    let parse = |json: &Option<serde_json::Value>| -> Result<Option<Vec<Value>>, EngineError> {
        let Some(json) = json else { return Ok(None) };
        let items = json
            .as_array()
            .filter(|a| a.len() == logicals.len())
            .ok_or_else(|| {
                EngineError::Permanent(format!(
                    "batch bound {json} is not an array of {} key values",
                    logicals.len()
                ))
            })?;
        items
            .iter()
            .zip(&logicals)
            .map(|(v, l)| {
                Value::from_json(v, l).ok_or_else(|| {
                    EngineError::Permanent(format!(
                        "batch bound {json} does not match the key types"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    };
    Ok(Bounds {
        start: parse(&batch.key_start)?,
        end: parse(&batch.key_end)?,
    })
}

pub async fn run(
    job: &JobContext,
    source: &Pool,
    target: &Pool,
    ctx: &TableCtx,
    batch: &BatchToRun,
) -> Result<BatchOutcome, EngineError> {
    let bounds = parse_bounds(ctx, batch)?;
    let mut src_pred = Predicate::new(source.dialect());
    match ctx.addressing {
        Addressing::WholeTable => src_pred.whole_table(),
        Addressing::KeyRange | Addressing::KeySet => src_pred.key_range(
            &ctx.source_key(),
            bounds.start.as_deref(),
            bounds.end.as_deref(),
        ),
    }
    let select = read::select_sql(
        source.dialect(),
        ctx.source_schema.as_deref(),
        &ctx.source,
        &ctx.source.columns,
        &src_pred.sql,
    );

    let first = match ctx.addressing {
        Addressing::KeyRange | Addressing::WholeTable => {
            copy_streaming(
                job,
                source,
                target,
                ctx,
                &bounds,
                select.clone(),
                &src_pred,
                batch.record_error_budget,
            )
            .await
        }
        Addressing::KeySet => {
            copy_buffered(
                job,
                source,
                target,
                ctx,
                select.clone(),
                &src_pred,
                batch.record_error_budget,
            )
            .await
        }
    };
    let (summary, rejected, accepted_checksum, keys, kept) = match first {
        Ok((summary, keys, kept)) => {
            let rejected = zero_date_records(ctx, &summary);
            let checksum = summary.checksum;
            (summary, rejected, checksum, keys, kept)
        }
        Err(Failure::Data { message, .. }) => {
            tracing::info!(table = %ctx.source.name, error = %message, "batch refused by the target; isolating bad records");
            isolate(
                job,
                source,
                target,
                ctx,
                &bounds,
                select,
                &src_pred,
                batch.record_error_budget,
            )
            .await?
        }
        Err(other) => return Err(other.into_engine()),
    };
    let rows_written = summary.rows - rejected.len() as i64;
    let mut outcome = BatchOutcome {
        rows_read: summary.rows,
        rows_written,
        rejected,
        verified: None,
        verify_detail: None,
    };
    verify(
        job,
        target,
        ctx,
        &bounds,
        keys.as_deref(),
        accepted_checksum,
        &mut outcome,
    )
    .await
    .map_err(Failure::into_engine)?;
    if let (Some(note), Some(detail)) = (kept.note(), outcome.verify_detail.as_mut()) {
        detail.push_str(&note);
    }
    // A zero date read as NULL into a column NOT NULL on the target made
    // the target refuse its row: counted as rejected, not as copied.
    let nullable_on_target = |i: usize| ctx.target.columns.get(i).is_none_or(|c| c.nullable);
    let by_name = |counts: &std::collections::BTreeMap<usize, i64>,
                   keep: &dyn Fn(usize) -> bool| {
        counts
            .iter()
            .filter(|&(&i, _)| keep(i))
            .filter_map(|(&i, &n)| Some((ctx.source.columns.get(i)?.name.clone(), n)))
            .collect()
    };
    let conversions = freight_core::work::Conversions {
        zero_dates: by_name(&summary.zero_dates_nulled, &nullable_on_target),
        zero_dates_rejected: by_name(&summary.zero_dates_nulled, &|i| !nullable_on_target(i)),
        not_boolean: by_name(&summary.not_boolean, &|_| true),
    };
    if let (Some(note), Some(detail)) = (conversions.note(), outcome.verify_detail.as_mut()) {
        detail.push_str(&note);
    }
    Ok(outcome)
}

/// The target predicate of the batch: its key range, its exact keys when
/// the key's order is not portable between the two databases, or the whole
/// table when it has no key.
fn target_predicate(
    ctx: &TableCtx,
    bounds: &Bounds,
    keys: Option<&[Vec<Value>]>,
) -> Vec<Predicate> {
    let dialect = ctx.target.dialect;
    if ctx.addressing == Addressing::WholeTable {
        let mut p = Predicate::new(dialect);
        p.whole_table();
        return vec![p];
    }
    match keys {
        None => {
            let mut p = Predicate::new(dialect);
            p.key_range(
                &ctx.target_key(),
                bounds.start.as_deref(),
                bounds.end.as_deref(),
            );
            vec![p]
        }
        Some(keys) => keys
            .chunks(KEYS_PER_DELETE)
            .map(|chunk| {
                let mut p = Predicate::new(dialect).with_exact_collation(ctx.exact_collation);
                p.key_set(&ctx.target_key(), chunk);
                p
            })
            .collect(),
    }
}

fn key_of(ctx: &TableCtx, row: &Row) -> Vec<Value> {
    ctx.source.key.iter().map(|&i| row[i].clone()).collect()
}

/// Longest text of one value in the `key` of a rejected row of a keyless table.
const ROW_VALUE_CHARS: usize = 100;

/// How a rejected record is named in the log: its key values, or for a
/// table without a key the row's values (long ones cut short).
fn record_key(ctx: &TableCtx, row: &Row) -> serde_json::Value {
    if ctx.addressing != Addressing::WholeTable {
        return serde_json::Value::Array(key_of(ctx, row).iter().map(Value::to_json).collect());
    }
    let values = row.iter().map(|v| match v.to_json() {
        serde_json::Value::String(s) if s.chars().count() > ROW_VALUE_CHARS => {
            let cut: String = s.chars().take(ROW_VALUE_CHARS).collect();
            serde_json::Value::String(format!("{cut}…"))
        }
        other => other,
    });
    serde_json::Value::Array(values.collect())
}

/// The rows `zero_dates: reject` set aside, as rejected records.
fn zero_date_records(ctx: &TableCtx, summary: &ReadSummary) -> Vec<RejectedRecord> {
    summary
        .zero_dated
        .iter()
        .map(|(row, i)| {
            let column = ctx.source.columns.get(*i).map(|c| c.name.clone());
            RejectedRecord {
                key: record_key(ctx, row),
                message: format!(
                    "table {}, column {}: zero or partial date (0000-00-00, or a zero month or day), which no other database can store (zero_dates: reject; the job option zero_dates: null copies it as NULL)",
                    ctx.source.name,
                    column.as_deref().unwrap_or("?")
                ),
                column,
            }
        })
        .collect()
}

/// The column(s) of a refused record the driver did not name, from the
/// constraint its message names and the target's introspected schema: a
/// unique key or index (MySQL 1062 `for key 'name'`, PostgreSQL
/// `"<table>_pkey"`), a CHECK (MySQL 3819 `Check constraint 'name'`,
/// MariaDB 4025 `CONSTRAINT `name` failed`, PostgreSQL custom names,
/// SQLite `CHECK constraint failed: name` or its expression: the target
/// columns its expression reads), a foreign key (MySQL 1452 `FOREIGN KEY
/// (`col`)`). Several columns are joined with ", ".
fn constraint_columns(ctx: &TableCtx, message: &str) -> Option<String> {
    let target = &ctx.target;
    let names = |cols: &[String]| (!cols.is_empty()).then(|| cols.join(", "));
    // MySQL 1452 spells the columns out.
    if let Some(rest) = message.split("FOREIGN KEY (").nth(1) {
        let cols: Vec<String> = rest
            .split(')')
            .next()?
            .split(',')
            .map(|c| c.trim().trim_matches('`').to_owned())
            .collect();
        return names(&cols);
    }
    let primary = || {
        let cols: Vec<String> = target
            .primary_key
            .iter()
            .filter_map(|&i| target.columns.get(i).map(|c| c.name.clone()))
            .collect();
        names(&cols)
    };
    let quoted_after = |marker: &str| -> Option<String> {
        let rest = message.split(marker).nth(1)?;
        let quote = rest
            .chars()
            .next()
            .filter(|c| matches!(c, '\'' | '`' | '"'))?;
        let inner = &rest[1..];
        Some(inner[..inner.find(quote)?].to_owned())
    };
    // An index or unique constraint; MySQL 8 qualifies it (`t.name`).
    if let Some(key) = quoted_after("for key ").or_else(|| quoted_after("unique constraint ")) {
        let key = key.rsplit('.').next().unwrap_or(&key).to_owned();
        if key == "PRIMARY" || key.ends_with("_pkey") {
            return primary();
        }
        return target
            .indexes
            .iter()
            .find(|i| i.name == key)
            .and_then(|i| names(&i.columns))
            .or_else(|| target.column(&key).map(|c| c.name.clone()));
    }
    let check = quoted_after("Check constraint ")
        .or_else(|| quoted_after("CONSTRAINT "))
        .or_else(|| quoted_after("check constraint "))
        .or_else(|| {
            let rest = message.split("CHECK constraint failed: ").nth(1)?;
            Some(rest.split(" (code").next()?.trim().to_owned())
        })?;
    // MariaDB names a column's own CHECK after the column.
    if let Some(col) = target.column(&check) {
        return Some(col.name.clone());
    }
    let expression = target
        .checks
        .iter()
        .find(|c| c.name == check)
        .map_or(check.as_str(), |c| c.expression.as_str());
    let cols: Vec<String> = target
        .columns
        .iter()
        .filter(|c| mentions(expression, &c.name))
        .map(|c| c.name.clone())
        .collect();
    names(&cols)
}

/// Whether `expression` reads the identifier `name` (a whole word, quoted
/// or not).
fn mentions(expression: &str, name: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    expression.match_indices(name).any(|(at, _)| {
        let before = expression[..at].chars().next_back();
        let after = expression[at + name.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// More rows set aside by the read than the batch may reject: refused like
/// a bad write, so that the bisection path reports them over the budget.
fn over_budget(summary: &ReadSummary, budget: u64) -> Option<Failure> {
    (summary.zero_dated.len() as u64 > budget).then(|| Failure::Data {
        message: format!(
            "{} row(s) hold zero dates (zero_dates: reject)",
            summary.zero_dated.len()
        ),
        column: None,
    })
}

/// A batch's target transaction. It clears the batch's rows (range, key
/// set or whole table) and writes the source's; into a PostgreSQL table
/// that foreign keys reference it merges them instead (see
/// [`write::merge`](super::write::merge)), so that re-copying a range never
/// changes, nor fails because of, the rows of the tables referencing it.
/// MySQL/MariaDB and SQLite batches write with foreign keys off (see
/// [`TargetTx::begin`]).
struct BatchTx {
    tx: TargetTx,
    merge: Option<Merge>,
}

impl BatchTx {
    /// Opens the transaction and clears the batch's rows (`preds`), or
    /// prepares the merge. Whether to merge is read from the target's
    /// catalog in each batch: a first run's tables have no foreign keys yet
    /// (they come last), so it takes the plain path, and a retry after
    /// `finish_job` sees the keys it created.
    async fn begin(target: &Pool, ctx: &TableCtx, preds: &[Predicate]) -> Result<Self, Failure> {
        let mut tx = TargetTx::begin_for(target, ctx).await?;
        let cleared = async {
            if let Some(pg) = tx.postgres()
                && merge::referenced(pg, ctx).await?
            {
                if target.privileged_on_freight_server()
                    && let Some(refusal) = own_server::update_triggers_refusal(
                        &mut *pg,
                        ctx.target_schema.as_deref().unwrap_or_default(),
                        &ctx.target.name,
                    )
                    .await?
                {
                    return Err(Failure::Permanent(refusal));
                }
                return Ok(Some(Merge::begin(pg, ctx, preds).await?));
            }
            for pred in preds {
                tx.delete(&ctx.write, pred).await?;
            }
            Ok(None)
        }
        .await;
        match cleared {
            Ok(merge) => Ok(Self { tx, merge }),
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn write_stream(
        &mut self,
        ctx: &TableCtx,
        rx: &mut mpsc::Receiver<Vec<Row>>,
    ) -> Result<u64, Failure> {
        let Some(merge) = &self.merge else {
            return self.tx.write_stream(&ctx.write, rx).await;
        };
        // The whole stream is staged, then merged in one statement each, so
        // rows referencing each other within the batch land together.
        let written = self.tx.write_stream(&merge.stage, rx).await?;
        merge.apply(postgres(&mut self.tx)?, ctx).await?;
        Ok(written)
    }

    async fn write_rows(&mut self, ctx: &TableCtx, rows: &[Row]) -> Result<u64, Failure> {
        let Some(merge) = &self.merge else {
            return self.tx.write_rows(&ctx.write, rows).await;
        };
        let written = self.tx.write_rows(&merge.stage, rows).await?;
        merge.apply(postgres(&mut self.tx)?, ctx).await?;
        Ok(written)
    }

    /// Rows the batch does not write (refused by the target, or set aside
    /// by the read): a merge keeps their previous copy (a plain batch has
    /// cleared it).
    async fn keep(&mut self, ctx: &TableCtx, rows: &[&Row]) -> Result<(), Failure> {
        match &mut self.merge {
            Some(merge) if !rows.is_empty() => merge.keep(postgres(&mut self.tx)?, ctx, rows).await,
            _ => Ok(()),
        }
    }

    /// Before the commit: a merge keeps the rows set aside by the read and
    /// deletes the rows of the range the source no longer has.
    async fn finish(
        &mut self,
        ctx: &TableCtx,
        summary: &ReadSummary,
        preds: &[Predicate],
    ) -> Result<Kept, Failure> {
        if self.merge.is_none() {
            return Ok(Kept::default());
        }
        let set_aside: Vec<&Row> = summary.zero_dated.iter().map(|(r, _)| r).collect();
        self.keep(ctx, &set_aside).await?;
        let Some(merge) = &self.merge else {
            return Ok(Kept::default());
        };
        let vanished = merge.finish(postgres(&mut self.tx)?, ctx, preds).await?;
        Ok(Kept {
            vanished,
            unwritten: merge.kept_unwritten,
        })
    }

    async fn commit(self) -> Result<(), Failure> {
        self.tx.commit().await
    }

    async fn rollback(self) -> Result<(), Failure> {
        self.tx.rollback().await
    }
}

/// A merging batch's PostgreSQL connection.
fn postgres(tx: &mut TargetTx) -> Result<&mut sqlx::PgConnection, Failure> {
    tx.postgres()
        .ok_or_else(|| Failure::Permanent("merging rows needs a PostgreSQL target".into()))
}

/// Range mode: rows stream from the source straight into COPY/INSERTs while
/// they are read; the range is cleared first in the same transaction.
#[expect(clippy::too_many_arguments)]
async fn copy_streaming(
    job: &JobContext,
    source: &Pool,
    target: &Pool,
    ctx: &TableCtx,
    bounds: &Bounds,
    select: String,
    src_pred: &Predicate,
    budget: u64,
) -> Result<(ReadSummary, Option<Vec<Vec<Value>>>, Kept), Failure> {
    let (tx_rows, rx) = mpsc::channel(4);
    let reading = read::stream(
        source,
        select,
        src_pred,
        &ctx.source.columns,
        ReadOptions::of(job),
        tx_rows,
    );
    let preds = target_predicate(ctx, bounds, None);
    let writing = async {
        let mut rx = rx;
        let mut tx = BatchTx::begin(target, ctx, &preds).await?;
        let result = tx.write_stream(ctx, &mut rx).await;
        // Dropping the receiver stops the reader if writing failed.
        drop(rx);
        match result {
            Ok(n) => Ok((tx, n)),
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    };
    let (read_result, write_result) = tokio::join!(reading, writing);
    let (mut tx, written) = write_result?;
    // A failed read left the write short: never commit a partial range.
    let summary = match read_result {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.rollback().await;
            return Err(e);
        }
    };
    if written as i64 != summary.passed() {
        let _ = tx.rollback().await;
        return Err(Failure::Transient(format!(
            "read {} rows but wrote {written}; rolled back",
            summary.passed()
        )));
    }
    if let Some(refused) = over_budget(&summary, budget) {
        let _ = tx.rollback().await;
        return Err(refused);
    }
    let kept = match tx.finish(ctx, &summary, &preds).await {
        Ok(kept) => kept,
        Err(e) => {
            let _ = tx.rollback().await;
            return Err(e);
        }
    };
    tx.commit().await?;
    Ok((summary, None, kept))
}

/// Key-set mode: the keys must be known before the target is cleared, so the
/// batch (bounded by `batch_size`) is read first.
async fn copy_buffered(
    job: &JobContext,
    source: &Pool,
    target: &Pool,
    ctx: &TableCtx,
    select: String,
    src_pred: &Predicate,
    budget: u64,
) -> Result<(ReadSummary, Option<Vec<Vec<Value>>>, Kept), Failure> {
    let (rows, summary) = read::collect(
        source,
        select,
        src_pred,
        &ctx.source.columns,
        ReadOptions::of(job),
    )
    .await?;
    if let Some(refused) = over_budget(&summary, budget) {
        return Err(refused);
    }
    // Set-aside rows are cleared too: the target keeps no stale copy.
    let keys: Vec<Vec<Value>> = rows
        .iter()
        .chain(summary.zero_dated.iter().map(|(r, _)| r))
        .map(|r| key_of(ctx, r))
        .collect();
    let bounds = Bounds {
        start: None,
        end: None,
    };
    let preds = target_predicate(ctx, &bounds, Some(&keys));
    let mut tx = BatchTx::begin(target, ctx, &preds).await?;
    let result = async {
        tx.write_rows(ctx, &rows).await?;
        tx.finish(ctx, &summary, &preds).await
    }
    .await;
    match result {
        Ok(kept) => {
            tx.commit().await?;
            Ok((summary, Some(keys), kept))
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

type Isolated = (
    ReadSummary,
    Vec<RejectedRecord>,
    Option<u64>,
    Option<Vec<Vec<Value>>>,
    Kept,
);

/// The slow path after the target refused the batch: re-read the range,
/// write it in halves under savepoints, halving failing parts down to single
/// rows. Good rows are kept; bad ones are reported. Rows stream from the
/// source chunk by chunk (a table copied whole is never held in memory);
/// only a key-set batch, bounded by `batch_size`, is read first for its keys.
#[expect(clippy::too_many_arguments)]
async fn isolate(
    job: &JobContext,
    source: &Pool,
    target: &Pool,
    ctx: &TableCtx,
    bounds: &Bounds,
    select: String,
    src_pred: &Predicate,
    budget: u64,
) -> Result<Isolated, EngineError> {
    if ctx.addressing == Addressing::KeySet {
        return isolate_buffered(job, source, target, ctx, select, src_pred, budget).await;
    }
    let (tx_rows, rx) = mpsc::channel::<Vec<Row>>(2);
    let reading = read::stream(
        source,
        select,
        src_pred,
        &ctx.source.columns,
        ReadOptions::of(job),
        tx_rows,
    );
    let preds = target_predicate(ctx, bounds, None);
    let writing = async {
        let mut rx = rx;
        let mut tx = BatchTx::begin(target, ctx, &preds).await?;
        let mut refused = Refused::default();
        let result = async {
            while let Some(chunk) = rx.recv().await {
                write_bisecting(&mut tx, ctx, &chunk, &mut refused).await?;
                if refused.records.len() as u64 > budget {
                    // Over the budget already: the batch fails whatever follows.
                    break;
                }
            }
            Ok(())
        }
        .await;
        drop(rx);
        match result {
            Ok(()) => Ok((tx, refused)),
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    };
    let (read_result, write_result) = tokio::join!(reading, writing);
    let (mut tx, refused) = write_result.map_err(Failure::into_engine)?;
    let summary = match read_result {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.rollback().await;
            return Err(e.into_engine());
        }
    };
    let mut rejected = zero_date_records(ctx, &summary);
    rejected.extend(refused.records);
    if rejected.len() as u64 > budget {
        let _ = tx.rollback().await;
        return Err(EngineError::Rejected(rejected));
    }
    let kept = match tx.finish(ctx, &summary, &preds).await {
        Ok(kept) => kept,
        Err(e) => {
            let _ = tx.rollback().await;
            return Err(e.into_engine());
        }
    };
    tx.commit().await.map_err(Failure::into_engine)?;
    let accepted = summary.checksum.map(|s| s.wrapping_sub(refused.sum));
    Ok((summary, rejected, accepted, None, kept))
}

/// Records the target refused, and the sum of their row hashes.
#[derive(Default)]
struct Refused {
    records: Vec<RejectedRecord>,
    sum: u64,
}

/// Writes `rows` under savepoints, halving failing parts down to single
/// rows, which are recorded in `refused`.
async fn write_bisecting(
    tx: &mut BatchTx,
    ctx: &TableCtx,
    rows: &[Row],
    refused: &mut Refused,
) -> Result<(), Failure> {
    let mut stack = vec![(0usize, rows.len())];
    while let Some((lo, hi)) = stack.pop() {
        if lo >= hi {
            continue;
        }
        tx.tx.savepoint().await?;
        match tx.write_rows(ctx, &rows[lo..hi]).await {
            Ok(_) => tx.tx.release_savepoint().await?,
            Err(Failure::Data { message, column }) => {
                tx.tx.rollback_to_savepoint().await?;
                tx.tx.release_savepoint().await?;
                if hi - lo == 1 {
                    tx.keep(ctx, &[&rows[lo]]).await?;
                    refused.sum = refused.sum.wrapping_add(read::row_hash(&rows[lo]));
                    refused.records.push(RejectedRecord {
                        key: record_key(ctx, &rows[lo]),
                        column: column.or_else(|| constraint_columns(ctx, &message)),
                        message,
                    });
                } else {
                    let mid = lo + (hi - lo) / 2;
                    stack.push((mid, hi));
                    stack.push((lo, mid));
                }
            }
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// [`isolate`] for a key-set batch: its keys must be known before the
/// target is cleared, so the batch (bounded by `batch_size`) is read first.
async fn isolate_buffered(
    job: &JobContext,
    source: &Pool,
    target: &Pool,
    ctx: &TableCtx,
    select: String,
    src_pred: &Predicate,
    budget: u64,
) -> Result<Isolated, EngineError> {
    let (rows, summary) = read::collect(
        source,
        select,
        src_pred,
        &ctx.source.columns,
        ReadOptions::of(job),
    )
    .await
    .map_err(Failure::into_engine)?;
    let keys: Vec<Vec<Value>> = rows
        .iter()
        .chain(summary.zero_dated.iter().map(|(r, _)| r))
        .map(|r| key_of(ctx, r))
        .collect();
    let bounds = Bounds {
        start: None,
        end: None,
    };
    let preds = target_predicate(ctx, &bounds, Some(&keys));
    let mut tx = BatchTx::begin(target, ctx, &preds)
        .await
        .map_err(Failure::into_engine)?;
    let mut rejected = zero_date_records(ctx, &summary);
    let mut refused = Refused::default();
    let result = write_bisecting(&mut tx, ctx, &rows, &mut refused).await;
    if let Err(e) = result {
        let _ = tx.rollback().await;
        return Err(e.into_engine());
    }
    rejected.extend(refused.records);
    if rejected.len() as u64 > budget {
        let _ = tx.rollback().await;
        return Err(EngineError::Rejected(rejected));
    }
    let kept = match tx.finish(ctx, &summary, &preds).await {
        Ok(kept) => kept,
        Err(e) => {
            let _ = tx.rollback().await;
            return Err(e.into_engine());
        }
    };
    tx.commit().await.map_err(Failure::into_engine)?;
    let accepted = summary.checksum.map(|s| s.wrapping_sub(refused.sum));
    Ok((summary, rejected, accepted, Some(keys), kept))
}

/// Compares the target with what was read: row count always, value checksum
/// when the job asks for it.
async fn verify(
    job: &JobContext,
    target: &Pool,
    ctx: &TableCtx,
    bounds: &Bounds,
    keys: Option<&[Vec<Value>]>,
    expected_checksum: Option<u64>,
    outcome: &mut BatchOutcome,
) -> Result<(), Failure> {
    let mut target_rows = 0;
    let mut target_sum = 0u64;
    for pred in target_predicate(ctx, bounds, keys) {
        if job.verify {
            let sql = read::select_sql(
                ctx.target.dialect,
                ctx.target_schema.as_deref(),
                &ctx.target,
                &ctx.target.columns,
                &pred.sql,
            );
            let s = read::checksum(target, sql, &pred, &ctx.target.columns).await?;
            target_rows += s.rows;
            target_sum = target_sum.wrapping_add(s.checksum.unwrap_or_default());
        } else {
            target_rows +=
                read::count(target, ctx.target_schema.as_deref(), &ctx.target, &pred).await?;
        }
    }
    let count_ok = target_rows == outcome.rows_written;
    let mut detail = format!(
        "rows: source {}, target {target_rows}{}",
        outcome.rows_read,
        match outcome.rejected.len() {
            0 => String::new(),
            n => format!(" ({n} rejected)"),
        }
    );
    let mut ok = count_ok;
    if let (true, Some(expected)) = (job.verify, expected_checksum) {
        let sum_ok = expected == target_sum;
        detail.push_str(if sum_ok {
            "; checksum match"
        } else {
            "; checksum MISMATCH"
        });
        ok &= sum_ok;
    }
    if !ok {
        tracing::warn!(table = %ctx.source.name, %detail, "batch verification failed");
    }
    outcome.verified = Some(ok);
    outcome.verify_detail = Some(detail);
    Ok(())
}
