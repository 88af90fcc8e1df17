//! Decoding SQLite rows. SQLite stores any value in any column, so each
//! value is read by its actual storage class and then shaped by the
//! column's declared (logical) type where the text parses.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row as _, TypeInfo, ValueRef};

use super::decode_failure;
use crate::engine::error::Failure;
use crate::engine::model::{Column, DATETIME_FORMAT, Logical, Row, Value};

pub fn decode_row(row: &SqliteRow, columns: &[Column]) -> Result<Row, Failure> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| decode(row, i, c).map_err(|e| decode_failure(c, e)))
        .collect()
}

fn decode(row: &SqliteRow, i: usize, col: &Column) -> Result<Value, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let storage = raw.type_info().name().to_owned();
    Ok(match storage.as_str() {
        "INTEGER" => {
            let v: i64 = row.try_get_unchecked(i)?;
            match col.logical {
                Logical::Bool => Value::Bool(v != 0),
                Logical::Decimal { .. } => Value::Decimal(v.to_string()),
                Logical::Float32 | Logical::Float64 => Value::Float(v as f64),
                Logical::Json => Value::Json(v.to_string()),
                _ => Value::Int(v),
            }
        }
        "REAL" => {
            let v: f64 = row.try_get_unchecked(i)?;
            match col.logical {
                Logical::Decimal { .. } => Value::Decimal(v.to_string()),
                _ => Value::Float(v),
            }
        }
        "BLOB" => {
            let v: Vec<u8> = row.try_get_unchecked(i)?;
            match col.logical {
                Logical::Uuid if v.len() == 16 => {
                    uuid::Uuid::from_slice(&v).map_or(Value::Bytes(v), Value::Uuid)
                }
                Logical::Text { .. } | Logical::Json => match String::from_utf8(v) {
                    Ok(s) => Value::Text(s),
                    Err(e) => Value::Bytes(e.into_bytes()),
                },
                _ => Value::Bytes(v),
            }
        }
        _ => from_text(row.try_get_unchecked(i)?, &col.logical),
    })
}

/// Text shaped by the declared type when it parses, else kept as text (and
/// the target decides whether it accepts it).
pub fn from_text(s: String, logical: &Logical) -> Value {
    match logical {
        Logical::Date => {
            NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_or(Value::Text(s), Value::Date)
        }
        Logical::DateTime => parse_datetime(&s).map_or(Value::Text(s), Value::DateTime),
        Logical::DateTimeTz => parse_instant(&s).map_or(Value::Text(s), Value::DateTimeTz),
        Logical::Time => {
            NaiveTime::parse_from_str(&s, "%H:%M:%S%.f").map_or(Value::Text(s), Value::Time)
        }
        Logical::Uuid => s.parse().map_or(Value::Text(s), Value::Uuid),
        Logical::Json => Value::Json(s),
        Logical::Decimal { .. } => Value::Decimal(s),
        Logical::Bytes => Value::Bytes(s.into_bytes()),
        _ => Value::Text(s),
    }
}

fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, DATETIME_FORMAT)
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
}

fn parse_instant(s: &str) -> Option<DateTime<chrono::Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .map(|d| d.to_utc())
        .ok()
        .or_else(|| parse_datetime(s).map(|d| d.and_utc()))
}
