//! Decoding PostgreSQL rows (binary protocol) into neutral values.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use sqlx::postgres::{PgRow, PgValueFormat};
use sqlx::{Row as _, ValueRef as _};

use super::decode_failure;
use crate::engine::error::Failure;
use crate::engine::model::{Column, Logical, Row, Value, parse_duration};

pub fn decode_row(row: &PgRow, columns: &[Column]) -> Result<Row, Failure> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| decode(row, i, c).map_err(|e| decode_failure(c, e)))
        .collect()
}

fn decode(row: &PgRow, i: usize, col: &Column) -> Result<Value, sqlx::Error> {
    fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
        v.map_or(Value::Null, f)
    }
    // Selected as ::text (a geometry's `ST_AsEWKB` is bytes).
    if col.select_expr.is_some() && col.logical != Logical::Bytes {
        let s: Option<String> = row.try_get(i)?;
        return Ok(opt(s, |s| match col.logical {
            Logical::Decimal { .. } | Logical::UInt64 => Value::Decimal(s),
            Logical::Json => Value::Json(s),
            _ => Value::Text(s),
        }));
    }
    Ok(match &col.logical {
        Logical::Bool => opt(row.try_get(i)?, Value::Bool),
        Logical::Int(2) => opt(row.try_get::<Option<i16>, _>(i)?, |v| Value::Int(v.into())),
        Logical::Int(4) => opt(row.try_get::<Option<i32>, _>(i)?, |v| Value::Int(v.into())),
        Logical::Int(_) => opt(row.try_get(i)?, Value::Int),
        Logical::Float32 => opt(row.try_get::<Option<f32>, _>(i)?, |v| {
            Value::Float(v.into())
        }),
        Logical::Float64 => opt(row.try_get(i)?, Value::Float),
        Logical::Bytes => opt(row.try_get(i)?, Value::Bytes),
        Logical::Date | Logical::DateTime | Logical::DateTimeTz => temporal(row, i, &col.logical)?,
        Logical::Time => opt(row.try_get(i)?, Value::Time),
        // Only MySQL sources have durations; kept for completeness.
        Logical::Duration => opt(row.try_get_unchecked::<Option<String>, _>(i)?, |s| {
            parse_duration(&s).map_or(Value::Text(s), Value::Duration)
        }),
        Logical::Uuid => opt(row.try_get(i)?, Value::Uuid),
        Logical::Decimal { .. } | Logical::UInt64 => opt(row.try_get_unchecked(i)?, Value::Decimal),
        Logical::Json => opt(row.try_get_unchecked(i)?, Value::Json),
        // `char(n)` pads with spaces that PostgreSQL itself ignores (its
        // comparisons and `::text` drop them) and MySQL strips on read: the
        // value travels without them, so every target holds, and every
        // verification sees, the same string.
        Logical::Text { fixed: true, .. } => opt(row.try_get_unchecked(i)?, |s: String| {
            Value::Text(match s.trim_end_matches(' ').len() {
                len if len == s.len() => s,
                len => s[..len].to_owned(),
            })
        }),
        Logical::Text { .. } | Logical::Enum(_) | Logical::Bits(_) | Logical::Other(_) => {
            opt(row.try_get_unchecked(i)?, Value::Text)
        }
    })
}

/// Dates and timestamps, decoded here rather than by sqlx: its chrono
/// decoding adds the stored offset to 2000-01-01 unchecked and panics on
/// `infinity` (stored as the integer's extreme). `±infinity` travels as the
/// text `infinity` / `-infinity`, which PostgreSQL targets store as such and
/// other targets reject as a record error; a finite value beyond chrono's
/// range (±262,000 years) is a decode error naming the column.
fn temporal(row: &PgRow, i: usize, logical: &Logical) -> Result<Value, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let fail = |message: String| sqlx::Error::ColumnDecode {
        index: i.to_string(),
        source: message.into(),
    };
    let infinity =
        |positive: bool| Value::Text(if positive { "infinity" } else { "-infinity" }.into());
    if raw.format() == PgValueFormat::Text {
        let text = raw.as_str().map_err(|e| fail(e.to_string()))?;
        return Ok(match text {
            "infinity" => infinity(true),
            "-infinity" => infinity(false),
            _ => match logical {
                Logical::Date => row.try_get(i).map(Value::Date)?,
                Logical::DateTime => row.try_get(i).map(Value::DateTime)?,
                _ => row.try_get(i).map(Value::DateTimeTz)?,
            },
        });
    }
    let bytes = raw.as_bytes().map_err(|e| fail(e.to_string()))?;
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 1)
        .unwrap_or(NaiveDate::MIN)
        .and_time(chrono::NaiveTime::MIN);
    if let Logical::Date = logical {
        let days = i32::from_be_bytes(
            bytes
                .try_into()
                .map_err(|_| fail(format!("date of {} bytes", bytes.len())))?,
        );
        return match days {
            i32::MAX => Ok(infinity(true)),
            i32::MIN => Ok(infinity(false)),
            d => TimeDelta::try_days(d.into())
                .and_then(|delta| epoch.date().checked_add_signed(delta))
                .map(Value::Date)
                .ok_or_else(|| fail(format!("date {d} days from 2000-01-01 is out of range"))),
        };
    }
    let micros = i64::from_be_bytes(
        bytes
            .try_into()
            .map_err(|_| fail(format!("timestamp of {} bytes", bytes.len())))?,
    );
    let at: NaiveDateTime = match micros {
        i64::MAX => return Ok(infinity(true)),
        i64::MIN => return Ok(infinity(false)),
        us => epoch
            .checked_add_signed(TimeDelta::microseconds(us))
            .ok_or_else(|| fail(format!("timestamp {us} µs from 2000-01-01 is out of range")))?,
    };
    Ok(match logical {
        Logical::DateTime => Value::DateTime(at),
        _ => Value::DateTimeTz(at.and_utc()),
    })
}
