//! Validation after the load: one batch's key range compared between source
//! and target by row count and an order-independent checksum computed
//! **inside each database** (rows are not pulled to the worker).
//!
//! Every compared value is rendered as the same canonical text in every
//! dialect (see [`value_sql`]): integers and decimals as plain decimal
//! without trailing zeros, booleans `1`/`0` (a MySQL `tinyint(1)` copied
//! into a boolean by truth, as the copy documents; MySQL → MySQL it is an
//! integer), dates `YYYY-MM-DD`, times and timestamps with six fractional
//! digits (instants in UTC; PostgreSQL's `±infinity` as `infinity` /
//! `-infinity`, the text it travels as), bytes as lower hex, text as is. A row is the concatenation of `<chars>:<text>` per
//! column (`n` for NULL), so no two different rows share a string; its hash
//! is the first 15 hex digits of its MD5 as an integer, and a range's
//! checksum is the exact sum of those (a decimal, not a wrapping integer).
//!
//! SQLite has no MD5: there the canonical strings are built on the worker
//! from the decoded values, row by row while streaming, with the same
//! rendering ([`canonical`]); nothing is held beyond one chunk.
//!
//! Bit strings (`bit(n)`) are compared as their `n` binary digits. Floats
//! are compared by the IEEE 754 bits of their double (a single-precision
//! `float`/`real` widened, which is exact), not by any printed form:
//! PostgreSQL's and MariaDB's shortest round-trip printers pick different
//! digits for some values (`5.2990648348713776e+16` against
//! `5.299064834871378e16`, the same double), and rounding either to 15
//! digits can round a tie differently. PostgreSQL has the bits
//! (`float8send`), SQLite's side is hashed on the worker, and MySQL computes
//! them with arithmetic that is exact (see [`mysql_float_bits`]).
//!
//! JSON is compared by its text where the target keeps the text it was
//! given (SQLite, MariaDB's `longtext` JSON, PostgreSQL `json`), as is a
//! MySQL `TIME` in a SQLite target (its text read back as microseconds).
//! JSON into `jsonb` or MySQL 8's `json` (which reorder keys and reprint
//! numbers) and fallback types are compared by the database's own text
//! only when source and target are the same dialect with the same type;
//! otherwise they are left out of the checksum and named in the result
//! (`compared by count only`): their rows are still counted, but a changed
//! value in them goes unnoticed.
//!
//! With `nul_characters: strip` the source's text is rendered without its
//! NUL characters, as the copy wrote it (the target's is not: a NUL there
//! is a difference).
//!
//! Tables addressed by key set (text, bytes or uuid keys) are read on the
//! target by the source's keys of each range, so a target row whose key
//! the source does not hold is in no range: the table's first range also
//! compares the whole table's row counts, and fails when they differ.

use md5::{Digest as _, Md5};
use sqlx::Row as _;
use tokio::sync::mpsc;

use super::batch::parse_bounds;
use super::bind;
use super::connect::Pool;
use super::context::{Addressing, TableCtx};
use super::error::{Failure, classify};
use super::model::{
    Column, DATETIME_FORMAT, Dialect, Logical, Row, Table, Value, normalize_decimal,
};
use super::read;
use super::sql::{self, PG_PREFER_INDEX, Predicate, ident};
use super::{BatchToRun, EngineError, RangeCheck, RangeSide, RangeToValidate};

/// Keys per target predicate when a table is addressed by key set.
const KEYS_PER_CHECK: usize = 500;

/// What kind of canonical text a column's values get. Two columns are
/// compared only when both sides fall in the same class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Number,
    Bool,
    Text,
    Bytes,
    Date,
    Time,
    /// Wall-clock timestamps and instants (in UTC): a PostgreSQL
    /// `timestamptz` copied into a MySQL `datetime` holds UTC.
    Timestamp,
    /// MySQL `TIME` used as a duration, PostgreSQL `interval`: total
    /// microseconds.
    Duration,
    /// `bit(n)`: the `n` binary digits, most significant first.
    Bits(u32),
    /// Binary floats (a `float`/`real` widened to double, which is exact):
    /// the 16 hex digits of the double's IEEE 754 bits, `-` before those of
    /// its magnitude when negative; `0` for both zeros; `NaN`, `Infinity`,
    /// `-Infinity`. Exact, and the same whichever database holds it (see
    /// [`value_sql`]): no printer's choice of digits is involved.
    Float,
    /// The database's own text of the value: only between two columns of
    /// the same type in the same dialect (JSON, fallback types).
    Native,
}

fn class(logical: &Logical) -> Option<Class> {
    Some(match logical {
        Logical::Int(_) | Logical::UInt64 | Logical::Decimal { .. } => Class::Number,
        Logical::Bool => Class::Bool,
        Logical::Text { .. } | Logical::Enum(_) | Logical::Uuid => Class::Text,
        Logical::Bytes => Class::Bytes,
        Logical::Date => Class::Date,
        Logical::Time => Class::Time,
        Logical::DateTime | Logical::DateTimeTz => Class::Timestamp,
        Logical::Duration => Class::Duration,
        Logical::Other(name) if name == "interval" => Class::Duration,
        Logical::Bits(n) => Class::Bits(*n),
        Logical::Float32 | Logical::Float64 => Class::Float,
        Logical::Json | Logical::Other(_) => return None,
    })
}

/// The columns compared by checksum (same positions on both sides) and a
/// note naming those compared by count only.
fn compared_columns(ctx: &TableCtx) -> (Vec<(Column, Column, Class)>, Vec<String>) {
    let mut compared = Vec::new();
    let mut skipped = Vec::new();
    let same_dialect = ctx.source.dialect == ctx.target.dialect;
    for (s, t) in ctx.source.columns.iter().zip(&ctx.target.columns) {
        match (class(&s.logical), class(&t.logical)) {
            (Some(a), Some(b)) if a == b => compared.push((s.clone(), t.clone(), a)),
            // A MySQL `TIME` in a SQLite target is the text it was written
            // as (`[-]H:MM:SS[.f]`), read back as microseconds.
            (Some(Class::Duration), Some(Class::Text))
                if s.logical == Logical::Duration && ctx.target.dialect == Dialect::Sqlite =>
            {
                compared.push((s.clone(), t.clone(), Class::Duration));
            }
            (None, None) if same_dialect && s.logical == t.logical => {
                compared.push((s.clone(), t.clone(), Class::Native));
            }
            // JSON into a target that keeps the text it was given: the
            // source's text, as read by the copy, against it.
            (None, None)
                if s.logical == Logical::Json
                    && t.logical == Logical::Json
                    && keeps_json_text(ctx.target.dialect, t) =>
            {
                compared.push((s.clone(), t.clone(), Class::Text));
            }
            _ => skipped.push(format!("{} ({})", s.name, s.source_type)),
        }
    }
    (compared, skipped)
}

/// Whether a target JSON column holds the text written into it as it is:
/// SQLite's text, MariaDB's (a `longtext` with a `json_valid` check),
/// PostgreSQL's `json`. Not MySQL 8's `json` or `jsonb`, which store a
/// parsed document and print it their own way (key order, spacing,
/// numbers), so the source's text says nothing about it.
fn keeps_json_text(dialect: Dialect, col: &Column) -> bool {
    match dialect {
        Dialect::Sqlite => true,
        Dialect::MySql => !col.source_type.eq_ignore_ascii_case("json"),
        Dialect::Postgres => col.source_type == "json",
    }
}

/// Compares one range. Errors are those of reading (transient or not).
/// `strip_nul`: the job strips NUL characters from text as it copies
/// (`nul_characters: strip`), so the source side is rendered without them.
pub async fn check(
    source: &Pool,
    target: &Pool,
    ctx: &TableCtx,
    range: &RangeToValidate,
    strip_nul: bool,
) -> Result<RangeCheck, EngineError> {
    let batch = BatchToRun {
        batch_id: range.batch_id,
        table_name: range.table_name.clone(),
        key_start: range.key_start.clone(),
        key_end: range.key_end.clone(),
        record_error_budget: 0,
    };
    let bounds = parse_bounds(ctx, &batch)?;
    let (compared, skipped) = compared_columns(ctx);
    let source_cols: Vec<(Column, Class)> =
        compared.iter().map(|(s, _, c)| (s.clone(), *c)).collect();
    let target_cols: Vec<(Column, Class)> =
        compared.iter().map(|(_, t, c)| (t.clone(), *c)).collect();

    let mut src_pred = Predicate::new(source.dialect());
    if ctx.addressing == Addressing::WholeTable {
        src_pred.whole_table();
    } else {
        src_pred.key_range(
            &ctx.source_key(),
            bounds.start.as_deref(),
            bounds.end.as_deref(),
        );
    }
    let src = side(
        source,
        ctx.source_schema.as_deref(),
        &ctx.source,
        &source_cols,
        &src_pred,
        strip_nul,
    )
    .await
    .map_err(Failure::into_engine)?;

    let target_preds = if ctx.addressing == Addressing::WholeTable {
        let mut p = Predicate::new(target.dialect());
        p.whole_table();
        vec![p]
    } else if ctx.addressing == Addressing::KeyRange {
        let mut p = Predicate::new(target.dialect());
        p.key_range(
            &ctx.target_key(),
            bounds.start.as_deref(),
            bounds.end.as_deref(),
        );
        vec![p]
    } else {
        // Text/bytes/uuid keys sort differently in the two databases: the
        // target is addressed by the source's keys of the range (keys only
        // are read), as the copy did.
        let keys = source_keys(source, ctx, &src_pred)
            .await
            .map_err(Failure::into_engine)?;
        keys.chunks(KEYS_PER_CHECK)
            .map(|chunk| {
                let mut p =
                    Predicate::new(target.dialect()).with_exact_collation(ctx.exact_collation);
                p.key_set(&ctx.target_key(), chunk);
                p
            })
            .collect()
    };
    let mut tgt = RangeSide::default();
    for pred in &target_preds {
        // The target's text is compared as it is: a NUL there is a
        // difference.
        let part = side(
            target,
            ctx.target_schema.as_deref(),
            &ctx.target,
            &target_cols,
            pred,
            false,
        )
        .await
        .map_err(Failure::into_engine)?;
        tgt.rows += part.rows;
        tgt.checksum += part.checksum;
    }

    let matched = src == tgt;
    let mut detail = format!("rows: source {}, target {}", src.rows, tgt.rows);
    detail.push_str(match (src.rows == tgt.rows, src.checksum == tgt.checksum) {
        (_, true) => "; checksum match",
        (true, false) => "; checksum MISMATCH (a value differs)",
        (false, false) => "; checksum MISMATCH",
    });
    if !skipped.is_empty() {
        detail.push_str(&format!("; compared by count only: {}", skipped.join(", ")));
    }
    let mut matched = matched;
    if ctx.addressing == Addressing::KeySet && bounds.start.is_none() {
        let (source_total, target_total) = table_totals(source, target, ctx)
            .await
            .map_err(Failure::into_engine)?;
        detail.push_str(&format!(
            "; table {}: source {source_total} rows, target {target_total}",
            ctx.source.name
        ));
        if target_total > source_total {
            matched = false;
            detail.push_str(&format!(
                " — TABLE COUNT MISMATCH: the target holds at least {} row(s) whose key the source does not hold; they belong to no range (each range reads the target by the source's keys), so retrying batches does not remove them: delete them on the target (or empty the target table and retry all of its batches)",
                target_total - source_total
            ));
        } else if target_total < source_total {
            matched = false;
            detail.push_str(" — TABLE COUNT MISMATCH: target rows are missing; the ranges that lack them are reported mismatched too, and retrying those batches repairs them");
        }
    }
    Ok(RangeCheck {
        source: src,
        target: tgt,
        matched,
        detail,
    })
}

/// Row counts of the whole table on both sides.
async fn table_totals(source: &Pool, target: &Pool, ctx: &TableCtx) -> Result<(i64, i64), Failure> {
    let mut all = Predicate::new(source.dialect());
    all.whole_table();
    let source_total = read::count(source, ctx.source_schema.as_deref(), &ctx.source, &all).await?;
    let mut all = Predicate::new(target.dialect());
    all.whole_table();
    let target_total = read::count(target, ctx.target_schema.as_deref(), &ctx.target, &all).await?;
    Ok((source_total, target_total))
}

/// The source's keys of a range (key columns only), for key-set tables.
async fn source_keys(
    source: &Pool,
    ctx: &TableCtx,
    pred: &Predicate,
) -> Result<Vec<Vec<Value>>, Failure> {
    let key_cols: Vec<Column> = ctx.source.key_columns().into_iter().cloned().collect();
    let sql = read::select_sql(
        source.dialect(),
        ctx.source_schema.as_deref(),
        &ctx.source,
        &key_cols,
        &pred.sql,
    );
    let (rows, _) =
        read::collect(source, sql, pred, &key_cols, read::ReadOptions::default()).await?;
    Ok(rows)
}

/// Count and checksum of one side: in SQL, except on SQLite. With
/// `strip_nul`, text is rendered without its NUL characters.
async fn side(
    pool: &Pool,
    schema: Option<&str>,
    table: &Table,
    columns: &[(Column, Class)],
    pred: &Predicate,
    strip_nul: bool,
) -> Result<RangeSide, Failure> {
    let from = sql::from(pool.dialect(), schema, table);
    let ctx = "validating a range";
    match pool {
        Pool::Postgres(p, _) => {
            // PostgreSQL text cannot hold NUL: nothing to strip.
            let row = row_sql(Dialect::Postgres, columns, false);
            let sql = format!(
                "SELECT COUNT(*), COALESCE(SUM(('x' || substr(md5({row}), 1, 15))::bit(60)::bigint), 0)::text \
                 FROM {from} WHERE {}",
                pred.sql
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in &pred.binds {
                q = bind::pg(q, v);
            }
            let mut tx = p.begin().await.map_err(|e| classify(&e, ctx))?;
            if pred.one_sided {
                sqlx::query(PG_PREFER_INDEX)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| classify(&e, ctx))?;
            }
            let r = q.fetch_one(&mut *tx).await.map_err(|e| classify(&e, ctx))?;
            let rows: i64 = r.try_get(0).map_err(|e| classify(&e, ctx))?;
            let sum: String = r.try_get(1).map_err(|e| classify(&e, ctx))?;
            Ok(RangeSide {
                rows,
                checksum: parse_sum(&sum)?,
            })
        }
        Pool::MySql(p) => {
            let row = row_sql(Dialect::MySql, columns, strip_nul);
            let sql = format!(
                "SELECT COUNT(*), CAST(COALESCE(SUM(CAST(CONV(SUBSTRING(MD5({row}), 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR) \
                 FROM {from} WHERE {}",
                pred.sql
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in &pred.binds {
                q = bind::mysql(q, v);
            }
            let r = q.fetch_one(p).await.map_err(|e| classify(&e, ctx))?;
            let rows: i64 = r.try_get(0).map_err(|e| classify(&e, ctx))?;
            let sum: String = r.try_get(1).map_err(|e| classify(&e, ctx))?;
            Ok(RangeSide {
                rows,
                checksum: parse_sum(&sum)?,
            })
        }
        Pool::Sqlite(_) => sqlite_side(pool, schema, table, columns, pred, strip_nul).await,
    }
}

fn parse_sum(sum: &str) -> Result<u128, Failure> {
    sum.trim().parse().map_err(|_| {
        Failure::Permanent(format!(
            "the database returned a checksum {sum:?} that is not an integer"
        ))
    })
}

/// SQLite: canonical strings from the decoded values, hashed while streaming.
async fn sqlite_side(
    pool: &Pool,
    schema: Option<&str>,
    table: &Table,
    columns: &[(Column, Class)],
    pred: &Predicate,
    strip_nul: bool,
) -> Result<RangeSide, Failure> {
    let cols: Vec<Column> = columns.iter().map(|(c, _)| c.clone()).collect();
    let classes: Vec<Class> = columns.iter().map(|(_, k)| *k).collect();
    // A count of rows even when no column is compared.
    let select = if cols.is_empty() {
        format!(
            "SELECT 1 FROM {} WHERE {}",
            sql::from(pool.dialect(), schema, table),
            pred.sql
        )
    } else {
        read::select_sql(pool.dialect(), schema, table, &cols, &pred.sql)
    };
    let (tx, mut rx) = mpsc::channel::<Vec<Row>>(4);
    // The reader strips NULs as the copy's reader did.
    let opts = read::ReadOptions {
        strip_nul,
        ..read::ReadOptions::default()
    };
    let reading = read::stream(pool, select, pred, &cols, opts, tx);
    let hashing = async {
        let mut out = RangeSide::default();
        while let Some(chunk) = rx.recv().await {
            for row in chunk {
                out.rows += 1;
                out.checksum += u128::from(row_hash(&row, &classes));
            }
        }
        out
    };
    let (read_result, out) = tokio::join!(reading, hashing);
    read_result?;
    Ok(out)
}

/// The 60-bit hash of a row's canonical string, as the SQL computes it.
fn row_hash(row: &Row, classes: &[Class]) -> u64 {
    let mut text = String::new();
    for (value, class) in row.iter().zip(classes) {
        match canonical(value, *class) {
            Some(v) => {
                text.push_str(&v.chars().count().to_string());
                text.push(':');
                text.push_str(&v);
            }
            None => text.push('n'),
        }
    }
    let digest = hex::encode(Md5::digest(text.as_bytes()));
    u64::from_str_radix(&digest[..15], 16).unwrap_or_default()
}

/// A value's canonical text, identical to what [`value_sql`] renders in
/// PostgreSQL and MySQL; `None` for NULL.
fn canonical(value: &Value, class: Class) -> Option<String> {
    const TIME: &str = "%H:%M:%S%.6f";
    let timestamp = DATETIME_FORMAT.replace("%.f", "%.6f");
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
        Value::Int(i) if class == Class::Bool => if *i != 0 { "1" } else { "0" }.to_owned(),
        Value::Float(f) if class == Class::Float => float_bits(*f),
        // A MySQL `TIME` a SQLite target holds as text.
        Value::Text(s) if class == Class::Duration => {
            super::model::parse_duration(s).map_or_else(|| s.clone(), |us| us.to_string())
        }
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Decimal(d) => normalize_decimal(d),
        Value::Text(s) => s.clone(),
        Value::Bytes(b) => hex::encode(b),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::Time(t) => t.format(TIME).to_string(),
        Value::DateTime(dt) => dt.format(&timestamp).to_string(),
        Value::DateTimeTz(dt) => dt.naive_utc().format(&timestamp).to_string(),
        Value::Json(j) => j.clone(),
        Value::Uuid(u) => u.hyphenated().to_string(),
        Value::Duration(us) => us.to_string(),
    })
}

/// The row's canonical string: `<chars>:<text>` per column, `n` for NULL.
fn row_sql(dialect: Dialect, columns: &[(Column, Class)], strip_nul: bool) -> String {
    if columns.is_empty() {
        return "''".to_owned();
    }
    let parts: Vec<String> = columns
        .iter()
        .map(|(c, class)| {
            let v = value_sql(dialect, c, *class);
            let v = if strip_nul && dialect == Dialect::MySql && holds_text(c, *class) {
                // As `read::strip_nul` does while copying.
                format!("REPLACE({v}, CHAR(0 USING utf8mb4), '')")
            } else {
                v
            };
            match dialect {
                Dialect::MySql => format!("COALESCE(CONCAT(CHAR_LENGTH({v}), ':', {v}), 'n')"),
                _ => format!("COALESCE(length({v})::text || ':' || {v}, 'n')"),
            }
        })
        .collect();
    match dialect {
        Dialect::MySql => format!("CONCAT({})", parts.join(", ")),
        _ => format!("({})", parts.join(" || ")),
    }
}

/// The canonical text of one column in SQL; NULL stays NULL.
fn value_sql(dialect: Dialect, col: &Column, class: Class) -> String {
    let c = ident(dialect, &col.name);
    match dialect {
        Dialect::MySql => match class {
            Class::Number if matches!(col.logical, Logical::Decimal { .. }) => format!(
                "IF(LOCATE('.', CAST({c} AS CHAR)) > 0, \
                 TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({c} AS CHAR))), CAST({c} AS CHAR))"
            ),
            // A `year` casts to four digits (`0000` for the year 0, which
            // other databases hold as the integer 0); `+ 0` is its number.
            Class::Number if is_mysql_year(col) => format!("CAST({c} + 0 AS CHAR)"),
            Class::Number => format!("CAST({c} AS CHAR)"),
            Class::Bool => {
                format!("CASE WHEN {c} IS NULL THEN NULL WHEN {c} <> 0 THEN '1' ELSE '0' END")
            }
            Class::Text if matches!(col.logical, Logical::Uuid) => format!("CAST({c} AS CHAR)"),
            Class::Text => format!("CONVERT({c} USING utf8mb4)"),
            // A spatial column's WKB or EWKB, as read (`ST_AsWKB`).
            Class::Bytes => format!("LOWER(HEX({}))", col.select_expr.as_deref().unwrap_or(&c)),
            // A zero or partial date is copied as NULL (`zero_dates: null`;
            // under `reject` its row is not copied at all): NULL here too.
            Class::Date => format!(
                "IF(MONTH({c}) = 0 OR DAYOFMONTH({c}) = 0, NULL, DATE_FORMAT({c}, '%Y-%m-%d'))"
            ),
            Class::Time => format!("TIME_FORMAT({c}, '%H:%i:%s.%f')"),
            Class::Timestamp => format!(
                "IF(MONTH({c}) = 0 OR DAYOFMONTH({c}) = 0, NULL, DATE_FORMAT({c}, '%Y-%m-%d %H:%i:%s.%f'))"
            ),
            // TIME_TO_SEC keeps the sign and (as a DECIMAL) the fraction.
            Class::Duration => {
                format!("CAST(CAST(ROUND(TIME_TO_SEC({c}) * 1000000) AS SIGNED) AS CHAR)")
            }
            Class::Bits(n) => format!("LPAD(BIN({c}), {n}, '0')"),
            Class::Float => mysql_float_bits(&c),
            Class::Native => format!("CAST({c} AS CHAR)"),
        },
        // PostgreSQL (SQLite is hashed on the worker, see `sqlite_side`).
        _ => match class {
            Class::Number if matches!(col.logical, Logical::Decimal { .. }) => {
                format!("trim_scale({c})::text")
            }
            Class::Number => format!("{c}::text"),
            Class::Bool => format!("CASE WHEN {c} THEN '1' WHEN NOT {c} THEN '0' END"),
            // A user type's text through its output function (the column's
            // `select_expr`, see `own_server::output_text`), never a cast
            // of the type's owner.
            Class::Text | Class::Bits(_) | Class::Native
                if col.select_expr.is_some() && col.logical != Logical::Bytes =>
            {
                format!("({})::text", col.select_expr.as_deref().unwrap_or(&c))
            }
            Class::Text => format!("{c}::text"),
            // A geometry column's EWKB (`ST_AsEWKB`).
            Class::Bytes => format!(
                "encode({}, 'hex')",
                col.select_expr.as_deref().unwrap_or(&c)
            ),
            // `±infinity` (which `to_char` makes NULL) as its own text,
            // `infinity` / `-infinity`: what it travels as and what a
            // SQLite target holds (see `read::postgres::temporal`).
            Class::Date => format!(
                "CASE WHEN isfinite({c}) THEN to_char({c}, 'YYYY-MM-DD') ELSE {c}::text END"
            ),
            Class::Time => format!("to_char({c}, 'HH24:MI:SS.US')"),
            Class::Timestamp if matches!(col.logical, Logical::DateTimeTz) => format!(
                "CASE WHEN isfinite({c}) THEN to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') ELSE {c}::text END"
            ),
            Class::Timestamp => format!(
                "CASE WHEN isfinite({c}) THEN to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US') ELSE {c}::text END"
            ),
            // EXTRACT(EPOCH ...) of an interval is exact numeric.
            Class::Duration => format!("round(extract(epoch from {c}) * 1000000)::bigint::text"),
            // `float8send` is the IEEE 754 bits, big-endian; a `real`
            // widens exactly. PostgreSQL's NaN equals itself.
            Class::Float => {
                let x = format!("{c}::float8");
                format!(
                    "CASE WHEN {x} = 'NaN'::float8 THEN 'NaN' \
                     WHEN {x} = 'Infinity'::float8 THEN 'Infinity' \
                     WHEN {x} = '-Infinity'::float8 THEN '-Infinity' \
                     WHEN {x} = 0 THEN '0' \
                     WHEN {x} < 0 THEN '-' || encode(float8send(-{x}), 'hex') \
                     ELSE encode(float8send({x}), 'hex') END"
                )
            }
            Class::Bits(_) | Class::Native => format!("{c}::text"),
        },
    }
}

/// A double as [`Class::Float`] renders it.
fn float_bits(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else if f == 0.0 {
        "0".to_owned()
    } else {
        let sign = if f < 0.0 { "-" } else { "" };
        format!("{sign}{:016x}", f.abs().to_bits())
    }
}

/// [`Class::Float`] on MySQL, which has no function returning a double's
/// bits: they are computed with operations that are exact in IEEE 754
/// arithmetic. For `a = |x|` (a `float` widened by `+ 0e0`): a subnormal
/// (below 2^-1022) is `a / 2^-1074`, its fraction field; otherwise the
/// exponent `e` is `FLOOR(LOG2(a))`, corrected by one when `LOG2` rounded
/// across an integer (so that `a / 2^e` lies in [1, 2)), and the bits are
/// `(e + 1023) · 2^52 + (a / 2^e − 1) · 2^52`. Division by a power of two,
/// subtracting 1 from a value in [1, 2) and multiplying by 2^52 are exact,
/// and `POW(2, n)` of an integer `n` is the exact power. MySQL holds no
/// NaN or infinity.
fn mysql_float_bits(c: &str) -> String {
    let a = format!("ABS({c} + 0e0)");
    // Kept within the normal exponents: `LOG2` of the largest double
    // rounds to 1024, and `POW(2, 1024)` is an error on MySQL.
    let floor = format!("LEAST(GREATEST(FLOOR(LOG2({a})), -1022), 1023)");
    let exponent =
        format!("({floor} + ({a} / POW(2, {floor}) >= 2) - ({a} / POW(2, {floor}) < 1))");
    let bits = format!(
        "IF({a} < 2.2250738585072014e-308, CAST({a} / POW(2, -1074) AS UNSIGNED), \
         CAST({exponent} + 1023 AS UNSIGNED) * 4503599627370496 \
         + CAST(({a} / POW(2, {exponent}) - 1) * 4503599627370496 AS UNSIGNED))"
    );
    format!(
        "CASE WHEN {c} IS NULL THEN NULL WHEN {c} = 0 THEN '0' \
         ELSE CONCAT(IF({c} < 0, '-', ''), LPAD(LOWER(HEX({bits})), 16, '0')) END"
    )
}

/// Whether the column's values are read as text that may hold NUL
/// characters (what `nul_characters: strip` removes).
fn holds_text(col: &Column, class: Class) -> bool {
    matches!(class, Class::Text | Class::Native)
        && matches!(
            col.logical,
            Logical::Text { .. } | Logical::Other(_) | Logical::Json
        )
}

/// A MySQL `year` column (`year`, MariaDB `year(4)`).
fn is_mysql_year(col: &Column) -> bool {
    col.source_type
        .get(..4)
        .is_some_and(|t| t.eq_ignore_ascii_case("year"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_matches_the_sql_renderings() {
        let ts = chrono::NaiveDate::from_ymd_opt(2024, 1, 2)
            .and_then(|d| d.and_hms_micro_opt(3, 4, 5, 60))
            .expect("valid");
        assert_eq!(
            canonical(&Value::DateTime(ts), Class::Timestamp).as_deref(),
            Some("2024-01-02 03:04:05.000060")
        );
        assert_eq!(
            canonical(&Value::Decimal("10.500".into()), Class::Number).as_deref(),
            Some("10.5")
        );
        assert_eq!(
            canonical(&Value::Decimal("100".into()), Class::Number).as_deref(),
            Some("100")
        );
        assert_eq!(canonical(&Value::Int(7), Class::Bool).as_deref(), Some("1"));
        assert_eq!(canonical(&Value::Null, Class::Text), None);
    }

    #[test]
    fn floats_render_as_their_bits_and_durations_in_text_as_microseconds() {
        let f = |v: f64| canonical(&Value::Float(v), Class::Float);
        assert_eq!(f(0.1).as_deref(), Some("3fb999999999999a"));
        assert_eq!(f(-0.1).as_deref(), Some("-3fb999999999999a"));
        assert_eq!(f(-0.0).as_deref(), Some("0"));
        assert_eq!(f(5e-324).as_deref(), Some("0000000000000001"));
        assert_eq!(f(f64::NAN).as_deref(), Some("NaN"));
        assert_eq!(f(f64::NEG_INFINITY).as_deref(), Some("-Infinity"));
        // A NaN a SQLite target holds as text.
        assert_eq!(
            canonical(&Value::Text("NaN".into()), Class::Float).as_deref(),
            Some("NaN")
        );
        assert_eq!(
            canonical(&Value::Text("-838:59:59.5".into()), Class::Duration).as_deref(),
            Some("-3020399500000")
        );
        assert_eq!(
            canonical(&Value::Duration(-3_020_399_500_000), Class::Duration).as_deref(),
            Some("-3020399500000")
        );
    }

    #[test]
    fn rows_are_length_prefixed_so_shifted_text_differs() {
        let classes = [Class::Text, Class::Text];
        let a = row_hash(
            &vec![Value::Text("ab".into()), Value::Text("c".into())],
            &classes,
        );
        let b = row_hash(
            &vec![Value::Text("a".into()), Value::Text("bc".into())],
            &classes,
        );
        let n = row_hash(&vec![Value::Null, Value::Text("c".into())], &classes);
        let e = row_hash(
            &vec![Value::Text(String::new()), Value::Text("c".into())],
            &classes,
        );
        assert_ne!(a, b);
        assert_ne!(n, e);
    }
}
