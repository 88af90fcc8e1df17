//! Decoding MySQL/MariaDB rows into neutral values. Types are checked by
//! introspection, so values are decoded unchecked (the driver's own checks
//! reject e.g. `tinyint unsigned` as i64 although the bytes are fine).

use sqlx::Row as _;
use sqlx::mysql::MySqlRow;

use super::Noted;
use super::decode_failure;
use crate::engine::error::Failure;
use crate::engine::model::{Column, Logical, Row, Value, parse_duration};

pub fn decode_row(row: &MySqlRow, columns: &[Column]) -> Result<Row, Failure> {
    decode_row_noting(row, columns).map(|(row, _)| row)
}

/// [`decode_row`], with the indexes of the columns that held a zero or
/// partial date (read as NULL): for `zero_dates: reject`, and counted for
/// `zero_dates: null`. Empty (not allocated) for most rows.
pub fn decode_row_noting(row: &MySqlRow, columns: &[Column]) -> Result<(Row, Noted), Failure> {
    let mut noted = Noted::default();
    let values = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut zero = false;
            let value = decode(row, i, c, &mut zero).map_err(|e| decode_failure(c, e))?;
            if zero {
                // (A `tinyint(1)` outside 0/1 is the only other note.)
                if matches!(c.logical, Logical::Bool) {
                    noted.not_boolean.push(i);
                } else {
                    noted.zero_dates.push(i);
                }
            }
            Ok(value)
        })
        .collect::<Result<Row, Failure>>()?;
    Ok((values, noted))
}

fn decode(row: &MySqlRow, i: usize, col: &Column, zero: &mut bool) -> Result<Value, sqlx::Error> {
    fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
        v.map_or(Value::Null, f)
    }
    Ok(match &col.logical {
        // `tinyint(1)` holding 2, -1, 127...: true, and noted (`zero`).
        Logical::Bool => opt(row.try_get_unchecked::<Option<i64>, _>(i)?, |v| {
            *zero = v != 0 && v != 1;
            Value::Bool(v != 0)
        }),
        // The binary protocol sends the column's width; unsigned values must
        // be zero-extended (a tinyint unsigned 255 is not -1).
        Logical::Int(_) if col.unsigned => opt(row.try_get_unchecked::<Option<u64>, _>(i)?, |v| {
            i64::try_from(v).map_or(Value::UInt(v), Value::Int)
        }),
        Logical::Int(_) => opt(row.try_get_unchecked(i)?, Value::Int),
        Logical::UInt64 => opt(row.try_get_unchecked(i)?, Value::UInt),
        Logical::Float32 => opt(row.try_get_unchecked::<Option<f32>, _>(i)?, |v| {
            Value::Float(v.into())
        }),
        Logical::Float64 => opt(row.try_get_unchecked(i)?, Value::Float),
        Logical::Decimal { .. } => opt(row.try_get_unchecked(i)?, Value::Decimal),
        Logical::Bytes => opt(row.try_get_unchecked(i)?, Value::Bytes),
        Logical::Json => opt(row.try_get_unchecked(i)?, Value::Json),
        Logical::Text { .. } | Logical::Enum(_) | Logical::Bits(_) | Logical::Other(_) => {
            opt(row.try_get_unchecked(i)?, Value::Text)
        }
        // Zero dates ('0000-00-00') have no value in any other database and
        // fail to decode: they become NULL, with a warning.
        Logical::Date => zero_date(row, i, col, zero).map_or(Value::Null, Value::Date),
        Logical::DateTime => zero_date(row, i, col, zero).map_or(Value::Null, Value::DateTime),
        Logical::DateTimeTz => zero_date(row, i, col, zero)
            .map_or(Value::Null, |v: chrono::NaiveDateTime| {
                Value::DateTimeTz(v.and_utc())
            }),
        Logical::Time => opt(row.try_get_unchecked::<Option<String>, _>(i)?, |s| {
            s.parse().map(Value::Time).unwrap_or(Value::Text(s))
        }),
        Logical::Duration => opt(row.try_get_unchecked::<Option<String>, _>(i)?, |s| {
            parse_duration(&s).map_or(Value::Text(s), Value::Duration)
        }),
        Logical::Uuid => opt(row.try_get_unchecked::<Option<String>, _>(i)?, |s| {
            s.parse().map(Value::Uuid).unwrap_or(Value::Text(s))
        }),
    })
}

fn zero_date<'r, T: sqlx::Decode<'r, sqlx::MySql>>(
    row: &'r MySqlRow,
    i: usize,
    col: &Column,
    zero: &mut bool,
) -> Option<T> {
    match row.try_get_unchecked::<Option<T>, _>(i) {
        Ok(Some(v)) => Some(v),
        Ok(None) => {
            // sqlx reads `0000-00-00` as NULL; a real NULL has no bytes at all.
            *zero = row.try_get_unchecked::<&[u8], _>(i).is_ok();
            None
        }
        Err(_) => {
            *zero = true;
            tracing::warn!(column = %col.name, "zero or invalid MySQL date copied as NULL");
            None
        }
    }
}
