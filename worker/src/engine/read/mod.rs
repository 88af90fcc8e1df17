//! Reading a key range from a database as neutral rows, streamed in chunks
//! through a bounded channel so reading and writing overlap and memory stays
//! bounded by the channel, not by the batch.

mod mysql;
mod postgres;
mod sqlite;

use std::hash::{Hash, Hasher};

use chrono::Timelike;
use futures::TryStreamExt;
use tokio::sync::mpsc;

use super::bind;
use super::connect::Pool;
use super::error::{Failure, classify};
use super::model::{Column, Dialect, Row, Table, Value};
use super::sql::{PG_PREFER_INDEX, Predicate, from, ident};

/// Rows per message on the channel: large enough to amortize the hop
/// between tasks, small enough to keep memory flat.
pub const CHUNK_ROWS: usize = 512;

/// What a read produced besides its rows.
#[derive(Debug, Default, Clone)]
pub struct ReadSummary {
    /// Every row read, the set-aside ones included.
    pub rows: i64,
    /// Order-independent checksum of the rows' canonical values (when asked),
    /// set-aside rows left out.
    pub checksum: Option<u64>,
    /// Rows set aside instead of passed on (`zero_dates: reject`), each with
    /// the index of the column that held a zero or partial date.
    pub zero_dated: Vec<(Row, usize)>,
    /// Zero or partial dates passed on as NULL (`zero_dates: null`), per
    /// column index.
    pub zero_dates_nulled: std::collections::BTreeMap<usize, i64>,
    /// MySQL `tinyint(1)` values other than 0 and 1 passed on as true, per
    /// column index.
    pub not_boolean: std::collections::BTreeMap<usize, i64>,
}

/// What a decoder noticed in a row, by column index (MySQL only).
#[derive(Debug, Default)]
pub struct Noted {
    /// Zero or partial dates, read as NULL.
    pub zero_dates: Vec<usize>,
    /// `tinyint(1)` values other than 0 and 1, read as true.
    pub not_boolean: Vec<usize>,
}

impl ReadSummary {
    /// Rows passed on to the writer.
    pub fn passed(&self) -> i64 {
        self.rows - self.zero_dated.len() as i64
    }
}

/// How source rows are read for a batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Sum a checksum of the rows (`verify`).
    pub checksum: bool,
    /// Remove NUL characters from text (`nul_characters: strip`).
    pub strip_nul: bool,
    /// Set rows holding a MySQL zero or partial date aside
    /// (`zero_dates: reject`) instead of passing them on with NULL.
    pub reject_zero_dates: bool,
}

impl ReadOptions {
    pub fn of(job: &super::JobContext) -> Self {
        Self {
            checksum: job.verify,
            strip_nul: job.nul_characters == freight_core::job::NulCharacters::Strip,
            reject_zero_dates: job.zero_dates == freight_core::job::ZeroDates::Reject,
        }
    }
}

/// Removes NUL characters from the row's text values.
fn strip_nul(row: &mut Row) {
    for v in row.iter_mut() {
        if let Value::Text(s) | Value::Json(s) = v
            && s.contains('\0')
        {
            s.retain(|c| c != '\0');
        }
    }
}

/// `SELECT <columns> FROM <table> WHERE <predicate>`; no ORDER BY: a batch
/// is a set, and sorting would only cost the source.
pub fn select_sql(
    dialect: Dialect,
    schema: Option<&str>,
    table: &Table,
    columns: &[Column],
    predicate: &str,
) -> String {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| {
            c.select_expr
                .clone()
                .unwrap_or_else(|| ident(dialect, &c.name))
        })
        .collect();
    format!(
        "SELECT {} FROM {} WHERE {predicate}",
        cols.join(", "),
        from(dialect, schema, table)
    )
}

/// Streams the rows of `SELECT columns WHERE predicate` into `out`, chunk by
/// chunk; stops early when the receiver is gone.
pub async fn stream(
    pool: &Pool,
    sql: String,
    predicate: &Predicate,
    columns: &[Column],
    opts: ReadOptions,
    out: mpsc::Sender<Vec<Row>>,
) -> Result<ReadSummary, Failure> {
    let mut summary = ReadSummary {
        rows: 0,
        checksum: opts.checksum.then_some(0),
        zero_dated: Vec::new(),
        zero_dates_nulled: Default::default(),
        not_boolean: Default::default(),
    };
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    // `zero_dates`: the columns of MySQL zero dates the row held.
    let mut push = |(mut row, noted): (Row, Noted), chunk: &mut Vec<Row>| {
        let zero_dates = noted.zero_dates;
        if opts.strip_nul {
            strip_nul(&mut row);
        }
        summary.rows += 1;
        if let Some(&column) = zero_dates.first()
            && opts.reject_zero_dates
        {
            summary.zero_dated.push((row, column));
            return;
        }
        for column in zero_dates {
            *summary.zero_dates_nulled.entry(column).or_default() += 1;
        }
        for column in noted.not_boolean {
            *summary.not_boolean.entry(column).or_default() += 1;
        }
        if let Some(sum) = summary.checksum.as_mut() {
            *sum = sum.wrapping_add(row_hash(&row));
        }
        chunk.push(row);
    };
    let ctx = "reading rows";
    macro_rules! drain {
        ($rows:expr, $decode:expr) => {{
            let mut rows = $rows;
            while let Some(row) = rows.try_next().await.map_err(|e| classify(&e, ctx))? {
                push($decode(&row, columns)?, &mut chunk);
                if chunk.len() >= CHUNK_ROWS {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS));
                    if out.send(full).await.is_err() {
                        return Ok(summary);
                    }
                }
            }
        }};
    }
    match pool {
        Pool::Postgres(p, _) => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in &predicate.binds {
                q = bind::pg(q, v);
            }
            if predicate.one_sided {
                // Read-only: dropping the transaction rolls it back.
                let mut tx = prefer_index(p).await?;
                drain!(q.fetch(&mut *tx), no_zero_dates(postgres::decode_row))
            } else {
                drain!(q.fetch(p), no_zero_dates(postgres::decode_row))
            }
        }
        Pool::MySql(p) => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in &predicate.binds {
                q = bind::mysql(q, v);
            }
            drain!(q.fetch(p), mysql::decode_row_noting)
        }
        Pool::Sqlite(p) => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in &predicate.binds {
                q = bind::sqlite(q, v);
            }
            drain!(q.fetch(p), no_zero_dates(sqlite::decode_row))
        }
    }
    if !chunk.is_empty() {
        let _ = out.send(chunk).await;
    }
    Ok(summary)
}

/// A decoder of a database without zero dates, as [`stream`] calls decoders.
fn no_zero_dates<R>(
    decode: fn(&R, &[Column]) -> Result<Row, Failure>,
) -> impl Fn(&R, &[Column]) -> Result<(Row, Noted), Failure> {
    move |row, columns| decode(row, columns).map(|r| (r, Noted::default()))
}

/// Reads every row of the predicate into memory (bounded by the batch size).
pub async fn collect(
    pool: &Pool,
    sql: String,
    predicate: &Predicate,
    columns: &[Column],
    opts: ReadOptions,
) -> Result<(Vec<Row>, ReadSummary), Failure> {
    let (tx, mut rx) = mpsc::channel(8);
    let reading = stream(pool, sql, predicate, columns, opts, tx);
    let gathering = async {
        let mut all = Vec::new();
        while let Some(chunk) = rx.recv().await {
            all.extend(chunk);
        }
        all
    };
    let (summary, rows) = tokio::join!(reading, gathering);
    Ok((rows, summary?))
}

/// Reads the first row of a query (key probes), decoded as `columns`.
pub async fn first_row(
    pool: &Pool,
    sql: String,
    predicate: &Predicate,
    columns: &[Column],
) -> Result<Option<Row>, Failure> {
    let ctx = "probing keys";
    match pool {
        Pool::Postgres(p, _) => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in &predicate.binds {
                q = bind::pg(q, v);
            }
            let row = q.fetch_optional(p).await.map_err(|e| classify(&e, ctx))?;
            row.map(|r| postgres::decode_row(&r, columns)).transpose()
        }
        Pool::MySql(p) => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in &predicate.binds {
                q = bind::mysql(q, v);
            }
            let row = q.fetch_optional(p).await.map_err(|e| classify(&e, ctx))?;
            row.map(|r| mysql::decode_row(&r, columns)).transpose()
        }
        Pool::Sqlite(p) => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in &predicate.binds {
                q = bind::sqlite(q, v);
            }
            let row = q.fetch_optional(p).await.map_err(|e| classify(&e, ctx))?;
            row.map(|r| sqlite::decode_row(&r, columns)).transpose()
        }
    }
}

/// `SELECT COUNT(*)` of a predicate.
pub async fn count(
    pool: &Pool,
    schema: Option<&str>,
    table: &Table,
    predicate: &Predicate,
) -> Result<i64, Failure> {
    let sql = format!(
        "SELECT COUNT(*) FROM {} WHERE {}",
        from(pool.dialect(), schema, table),
        predicate.sql
    );
    let ctx = "counting rows";
    let res = match pool {
        Pool::Postgres(p, _) => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in &predicate.binds {
                q = bind::pg(q, v);
            }
            let row = if predicate.one_sided {
                let mut tx = prefer_index(p).await?;
                q.fetch_one(&mut *tx).await
            } else {
                q.fetch_one(p).await
            };
            row.and_then(|r| sqlx::Row::try_get::<i64, _>(&r, 0))
        }
        Pool::MySql(p) => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in &predicate.binds {
                q = bind::mysql(q, v);
            }
            q.fetch_one(p)
                .await
                .and_then(|r| sqlx::Row::try_get::<i64, _>(&r, 0))
        }
        Pool::Sqlite(p) => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in &predicate.binds {
                q = bind::sqlite(q, v);
            }
            q.fetch_one(p)
                .await
                .and_then(|r| sqlx::Row::try_get::<i64, _>(&r, 0))
        }
    };
    res.map_err(|e| classify(&e, ctx))
}

/// A read transaction in which one-sided key ranges use the key's index.
async fn prefer_index(
    pool: &sqlx::PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, Failure> {
    let ctx = "opening a read transaction";
    let mut tx = pool.begin().await.map_err(|e| classify(&e, ctx))?;
    sqlx::query(PG_PREFER_INDEX)
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(&e, ctx))?;
    Ok(tx)
}

/// Hash of one row's canonical values; rows are summed, so order is free.
pub fn row_hash(row: &Row) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    for v in row {
        match v {
            Value::Null => 0u8.hash(&mut h),
            // A time of day hashes as the span since midnight: a MySQL
            // `time` column (a duration) holding it then hashes the same
            // (`12:34:56.5` both ways, not `12:34:56.500`).
            Value::Time(t) => {
                1u8.hash(&mut h);
                let micros = i64::from(t.num_seconds_from_midnight()) * 1_000_000
                    + i64::from(t.nanosecond() / 1_000);
                Value::Duration(micros).canonical_text().hash(&mut h);
            }
            other => {
                1u8.hash(&mut h);
                other.canonical_text().hash(&mut h);
            }
        }
    }
    h.finish()
}

/// A value the driver cannot decode fails the batch: it is a source value
/// the engine has no representation for, not a record the target refused.
fn decode_failure(column: &Column, err: sqlx::Error) -> Failure {
    Failure::Permanent(format!(
        "column {} ({}): cannot read value: {err}",
        column.name, column.source_type
    ))
}

/// Reads rows only to count and checksum them (verification).
pub async fn checksum(
    pool: &Pool,
    sql: String,
    predicate: &Predicate,
    columns: &[Column],
) -> Result<ReadSummary, Failure> {
    let (tx, mut rx) = mpsc::channel(4);
    let opts = ReadOptions {
        checksum: true,
        ..ReadOptions::default()
    };
    let reading = stream(pool, sql, predicate, columns, opts, tx);
    let draining = async { while rx.recv().await.is_some() {} };
    let (summary, ()) = tokio::join!(reading, draining);
    summary
}
