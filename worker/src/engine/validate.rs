//! Validation after the load: one batch's key range compared between source
//! and target by row count and an order-independent checksum computed
//! **inside each database** (rows are not pulled to the worker).
//!
//! Every compared value is rendered as the same canonical text in every
//! dialect (see [`value_sql`]): integers and decimals as plain decimal
//! without trailing zeros, booleans `1`/`0`, dates `YYYY-MM-DD`, times and
//! timestamps with six fractional digits (instants in UTC), bytes as lower
//! hex, text as is. A row is the concatenation of `<chars>:<text>` per
//! column (`n` for NULL), so no two different rows share a string; its hash
//! is the first 15 hex digits of its MD5 as an integer, and a range's
//! checksum is the exact sum of those (a decimal, not a wrapping integer).
//!
//! SQLite has no MD5: there the canonical strings are built on the worker
//! from the decoded values, row by row while streaming, with the same
//! rendering ([`canonical`]); nothing is held beyond one chunk.
//!
//! Bit strings (`bit(n)`) are compared as their `n` binary digits. Floats,
//! JSON and fallback types are compared by the database's own text when
//! source and target are the same dialect with the same type (the same
//! printer on both sides). Across dialects they have no canonical text
//! common to both sides and are left out of the checksum: PostgreSQL prints
//! `1e+20` where MariaDB prints `1e20`, a MySQL `FLOAT` widened to a double
//! gains digits the source never printed, and `jsonb` reorders keys and
//! spaces its text where MySQL/MariaDB keep or normalize it differently.
//! Left-out columns are named in the result (`compared by count only`):
//! their rows are still counted, but a changed value in them goes
//! unnoticed.
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
    /// The database's own text of the value: only between two columns of
    /// the same type in the same dialect (floats, JSON, fallback types).
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
        Logical::Float32 | Logical::Float64 | Logical::Json | Logical::Other(_) => {
            return None;
        }
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
            (None, None) if same_dialect && s.logical == t.logical => {
                compared.push((s.clone(), t.clone(), Class::Native));
            }
            _ => skipped.push(format!("{} ({})", s.name, s.source_type)),
        }
    }
    (compared, skipped)
}

/// Compares one range. Errors are those of reading (transient or not).
pub async fn check(
    source: &Pool,
    target: &Pool,
    ctx: &TableCtx,
    range: &RangeToValidate,
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
        let part = side(
            target,
            ctx.target_schema.as_deref(),
            &ctx.target,
            &target_cols,
            pred,
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

/// Count and checksum of one side: in SQL, except on SQLite.
async fn side(
    pool: &Pool,
    schema: Option<&str>,
    table: &Table,
    columns: &[(Column, Class)],
    pred: &Predicate,
) -> Result<RangeSide, Failure> {
    let from = sql::from(pool.dialect(), schema, table);
    let ctx = "validating a range";
    match pool {
        Pool::Postgres(p, _) => {
            let row = row_sql(Dialect::Postgres, columns);
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
            let row = row_sql(Dialect::MySql, columns);
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
        Pool::Sqlite(_) => sqlite_side(pool, schema, table, columns, pred).await,
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
    let reading = read::stream(pool, select, pred, &cols, read::ReadOptions::default(), tx);
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
fn row_sql(dialect: Dialect, columns: &[(Column, Class)]) -> String {
    if columns.is_empty() {
        return "''".to_owned();
    }
    let parts: Vec<String> = columns
        .iter()
        .map(|(c, class)| {
            let v = value_sql(dialect, c, *class);
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
            Class::Date => format!("to_char({c}, 'YYYY-MM-DD')"),
            Class::Time => format!("to_char({c}, 'HH24:MI:SS.US')"),
            Class::Timestamp if matches!(col.logical, Logical::DateTimeTz) => {
                format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
            }
            Class::Timestamp => format!("to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')"),
            // EXTRACT(EPOCH ...) of an interval is exact numeric.
            Class::Duration => format!("round(extract(epoch from {c}) * 1000000)::bigint::text"),
            Class::Bits(_) | Class::Native => format!("{c}::text"),
        },
    }
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
