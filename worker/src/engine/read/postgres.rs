//! Decoding PostgreSQL rows (binary protocol) into neutral values.

use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::decode_failure;
use crate::engine::error::Failure;
use crate::engine::model::{Column, Logical, Row, Value};

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
    if col.select_expr.is_some() {
        // Selected as ::text.
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
        Logical::Date => opt(row.try_get(i)?, Value::Date),
        Logical::Time => opt(row.try_get(i)?, Value::Time),
        Logical::DateTime => opt(row.try_get(i)?, Value::DateTime),
        Logical::DateTimeTz => opt(row.try_get(i)?, Value::DateTimeTz),
        Logical::Uuid => opt(row.try_get(i)?, Value::Uuid),
        Logical::Decimal { .. } | Logical::UInt64 => opt(row.try_get_unchecked(i)?, Value::Decimal),
        Logical::Json => opt(row.try_get_unchecked(i)?, Value::Json),
        Logical::Text { .. } | Logical::Enum(_) | Logical::Other(_) => {
            opt(row.try_get_unchecked(i)?, Value::Text)
        }
    })
}
