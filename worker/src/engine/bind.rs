//! Binding neutral [`Value`]s as query parameters, per dialect.

use sqlx::mysql::MySqlArguments;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{MySql, Postgres, Sqlite};

use super::model::{DATETIME_FORMAT, Value, format_duration};

pub type PgQuery<'q> = Query<'q, Postgres, PgArguments>;
pub type MySqlQuery<'q> = Query<'q, MySql, MySqlArguments>;
pub type SqliteQuery<'q> = Query<'q, Sqlite, SqliteArguments>;

/// PostgreSQL placeholders are always wrapped in `CAST(.. AS <column type>)`,
/// so text stands in for types without a native Rust counterpart.
pub fn pg<'q>(q: PgQuery<'q>, v: &Value) -> PgQuery<'q> {
    match v {
        Value::Null => q.bind(None::<String>),
        Value::Bool(b) => q.bind(*b),
        Value::Int(i) => q.bind(*i),
        Value::UInt(u) => q.bind(u.to_string()),
        Value::Float(f) => q.bind(*f),
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => q.bind(s.clone()),
        Value::Bytes(b) => q.bind(b.clone()),
        Value::Date(d) => q.bind(*d),
        Value::Time(t) => q.bind(*t),
        Value::Duration(us) => q.bind(format_duration(*us)),
        Value::DateTime(dt) => q.bind(*dt),
        Value::DateTimeTz(dt) => q.bind(*dt),
        Value::Uuid(u) => q.bind(*u),
    }
}

pub fn mysql<'q>(q: MySqlQuery<'q>, v: &Value) -> MySqlQuery<'q> {
    match v {
        Value::Null => q.bind(None::<String>),
        Value::Bool(b) => q.bind(*b),
        Value::Int(i) => q.bind(*i),
        Value::UInt(u) => q.bind(*u),
        Value::Float(f) => q.bind(*f),
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => q.bind(s.clone()),
        Value::Bytes(b) => q.bind(b.clone()),
        Value::Date(d) => q.bind(*d),
        Value::Time(t) => q.bind(*t),
        Value::Duration(us) => q.bind(format_duration(*us)),
        Value::DateTime(dt) => q.bind(*dt),
        // Sessions run with time_zone '+00:00': a UTC wall clock is the instant.
        Value::DateTimeTz(dt) => q.bind(dt.naive_utc()),
        Value::Uuid(u) => q.bind(u.hyphenated().to_string()),
    }
}

/// SQLite has no date or decimal storage: those are written as the
/// canonical text the SQLite reader parses back. A NaN float would be
/// stored as NULL: it is written as the text `NaN` (which REAL affinity
/// leaves as text, and which PostgreSQL reads back as NaN).
pub fn sqlite<'q>(q: SqliteQuery<'q>, v: &Value) -> SqliteQuery<'q> {
    match v {
        Value::Float(f) if f.is_nan() => q.bind("NaN"),
        Value::Null => q.bind(None::<String>),
        Value::Bool(b) => q.bind(i64::from(*b)),
        Value::Int(i) => q.bind(*i),
        Value::UInt(u) => match i64::try_from(*u) {
            Ok(i) => q.bind(i),
            Err(_) => q.bind(u.to_string()),
        },
        Value::Float(f) => q.bind(*f),
        Value::Decimal(s) | Value::Text(s) | Value::Json(s) => q.bind(s.clone()),
        Value::Bytes(b) => q.bind(b.clone()),
        Value::DateTimeTz(dt) => {
            q.bind(format!("{}+00:00", dt.naive_utc().format(DATETIME_FORMAT)))
        }
        other => q.bind(other.canonical_text()),
    }
}
