//! PostgreSQL binary COPY: no text formatting on our side and no text
//! parsing (timestamps, numerics, floats) on PostgreSQL's, which is most of
//! a COPY's CPU. Used for the streaming path when every column's value type
//! is known to match its target type exactly (see [`plan_types`]); anything
//! else — and the bisection path, whose errors must come from PostgreSQL's
//! own input functions — uses text COPY.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::engine::model::{Column, Dialect, Logical, Row, Value};

/// The wire type of one target column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    Bytea,
    Date,
    Time,
    Interval,
    Timestamp,
    Timestamptz,
    Json,
    Jsonb,
    Uuid,
    Bit,
}

/// Binary wire types for the target columns, or `None` when some column
/// pair cannot be encoded without PostgreSQL's text conversions.
pub fn plan_types(
    source_dialect: Dialect,
    source: &[Column],
    target: &[Column],
) -> Option<Vec<BinType>> {
    // SQLite values are dynamically typed: a column's values may not match
    // its declared type, so only text COPY is safe.
    if source_dialect == Dialect::Sqlite {
        return None;
    }
    source
        .iter()
        .zip(target)
        .map(|(s, t)| {
            let ty = t.source_type.as_str();
            Some(match (&s.logical, &t.logical) {
                (Logical::Bool, Logical::Bool) => BinType::Bool,
                (Logical::Int(_), Logical::Int(2)) => BinType::Int2,
                (Logical::Int(_), Logical::Int(4)) => BinType::Int4,
                (Logical::Int(_), Logical::Int(8)) => BinType::Int8,
                // A bigint unsigned key (or a reference to one) whose values
                // fit a bigint (see `adapt`); a larger value is a misfit.
                (Logical::UInt64, Logical::Int(8)) => BinType::Int8,
                (Logical::Float32 | Logical::Float64, Logical::Float32) => BinType::Float4,
                (Logical::Float32 | Logical::Float64, Logical::Float64) => BinType::Float8,
                (Logical::Decimal { .. } | Logical::UInt64, Logical::Decimal { .. }) => {
                    BinType::Numeric
                }
                (Logical::Text { .. } | Logical::Enum(_), Logical::Text { .. })
                    if ty.starts_with("character") || ty == "text" =>
                {
                    BinType::Text
                }
                (Logical::Bytes, Logical::Bytes) => BinType::Bytea,
                (Logical::Date, Logical::Date) => BinType::Date,
                // MySQL TIME values beyond a day arrive as text.
                (Logical::Time, Logical::Time) if source_dialect == Dialect::Postgres => {
                    BinType::Time
                }
                (Logical::Duration, Logical::Other(t)) if t == "interval" => BinType::Interval,
                (Logical::DateTime, Logical::DateTime) => BinType::Timestamp,
                (Logical::DateTimeTz, Logical::DateTimeTz) => BinType::Timestamptz,
                (Logical::Json, Logical::Json) if ty == "jsonb" => BinType::Jsonb,
                (Logical::Json, Logical::Json) if ty == "json" => BinType::Json,
                (Logical::Uuid, Logical::Uuid) if source_dialect == Dialect::Postgres => {
                    BinType::Uuid
                }
                (Logical::Bits(_), Logical::Bits(_)) => BinType::Bit,
                _ => return None,
            })
        })
        .collect()
}

pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// A value that does not fit its binary target type (e.g. an integer out of
/// range): the batch goes to the bisection path, where PostgreSQL decides.
#[derive(Debug)]
pub struct Misfit(pub usize);

pub fn encode_row(buf: &mut Vec<u8>, row: &Row, types: &[BinType]) -> Result<(), Misfit> {
    let start = buf.len();
    buf.extend_from_slice(&(types.len() as i16).to_be_bytes());
    for (i, (v, t)) in row.iter().zip(types).enumerate() {
        if encode_value(buf, v, *t).is_none() {
            buf.truncate(start);
            return Err(Misfit(i));
        }
    }
    Ok(())
}

fn field(buf: &mut Vec<u8>, bytes: &[u8]) -> Option<()> {
    buf.extend_from_slice(&i32::try_from(bytes.len()).ok()?.to_be_bytes());
    buf.extend_from_slice(bytes);
    Some(())
}

/// PostgreSQL counts days and microseconds from 2000-01-01.
const PG_EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

fn days(d: NaiveDate) -> i64 {
    (d - PG_EPOCH).num_days()
}

fn micros_of_day(t: NaiveTime) -> i64 {
    i64::from(t.num_seconds_from_midnight()) * 1_000_000 + i64::from(t.nanosecond() / 1_000)
}

fn timestamp(dt: NaiveDateTime) -> i64 {
    days(dt.date()) * 86_400_000_000 + micros_of_day(dt.time())
}

fn encode_value(buf: &mut Vec<u8>, v: &Value, t: BinType) -> Option<()> {
    match (v, t) {
        (Value::Null, _) => buf.extend_from_slice(&(-1i32).to_be_bytes()),
        (Value::Bool(b), BinType::Bool) => field(buf, &[u8::from(*b)])?,
        (Value::Int(i), BinType::Int2) => field(buf, &i16::try_from(*i).ok()?.to_be_bytes())?,
        (Value::Int(i), BinType::Int4) => field(buf, &i32::try_from(*i).ok()?.to_be_bytes())?,
        (Value::Int(i), BinType::Int8) => field(buf, &i.to_be_bytes())?,
        (Value::UInt(u), BinType::Int8) => field(buf, &i64::try_from(*u).ok()?.to_be_bytes())?,
        (Value::Float(f), BinType::Float4) => field(buf, &(*f as f32).to_be_bytes())?,
        (Value::Float(f), BinType::Float8) => field(buf, &f.to_be_bytes())?,
        (Value::Decimal(s), BinType::Numeric) => field(buf, &numeric(s)?)?,
        (Value::UInt(u), BinType::Numeric) => field(buf, &numeric(&u.to_string())?)?,
        (Value::Text(s), BinType::Text) => field(buf, s.as_bytes())?,
        (Value::Bytes(b), BinType::Bytea) => field(buf, b)?,
        (Value::Date(d), BinType::Date) => {
            field(buf, &i32::try_from(days(*d)).ok()?.to_be_bytes())?
        }
        (Value::Time(t), BinType::Time) => field(buf, &micros_of_day(*t).to_be_bytes())?,
        // interval: microseconds, days, months; a MySQL TIME is all microseconds.
        (Value::Duration(us), BinType::Interval) => {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&us.to_be_bytes());
            field(buf, &bytes)?
        }
        (Value::DateTime(dt), BinType::Timestamp) => field(buf, &timestamp(*dt).to_be_bytes())?,
        (Value::DateTimeTz(dt), BinType::Timestamptz) => {
            field(buf, &timestamp(dt.naive_utc()).to_be_bytes())?
        }
        (Value::Json(s), BinType::Json) => field(buf, s.as_bytes())?,
        (Value::Json(s), BinType::Jsonb) => {
            buf.extend_from_slice(&i32::try_from(s.len() + 1).ok()?.to_be_bytes());
            buf.push(1);
            buf.extend_from_slice(s.as_bytes());
        }
        (Value::Uuid(u), BinType::Uuid) => field(buf, u.as_bytes())?,
        (Value::Text(s), BinType::Bit) => field(buf, &bit_string(s)?)?,
        // PostgreSQL's own ±infinity, read from a PostgreSQL source.
        (Value::Text(s), BinType::Date) if s == "infinity" || s == "-infinity" => {
            let days = if s == "infinity" { i32::MAX } else { i32::MIN };
            field(buf, &days.to_be_bytes())?
        }
        (Value::Text(s), BinType::Timestamp | BinType::Timestamptz)
            if s == "infinity" || s == "-infinity" =>
        {
            let micros = if s == "infinity" { i64::MAX } else { i64::MIN };
            field(buf, &micros.to_be_bytes())?
        }
        _ => return None,
    }
    Some(())
}

/// PostgreSQL's binary bit string: the length in bits, then the bits
/// packed most significant first. `None` for text other than 0/1 digits.
fn bit_string(digits: &str) -> Option<Vec<u8>> {
    let bits = i32::try_from(digits.len()).ok()?;
    let mut out = Vec::with_capacity(4 + digits.len().div_ceil(8));
    out.extend_from_slice(&bits.to_be_bytes());
    for chunk in digits.as_bytes().chunks(8) {
        let mut byte = 0u8;
        for (i, d) in chunk.iter().enumerate() {
            match d {
                b'1' => byte |= 0x80 >> i,
                b'0' => {}
                _ => return None,
            }
        }
        out.push(byte);
    }
    Some(out)
}

/// PostgreSQL's binary numeric: base-10000 digits with a weight, sign and
/// display scale. `None` for text that is not a plain decimal.
pub fn numeric(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("nan") {
        return Some(
            [
                0i16.to_be_bytes(),
                0i16.to_be_bytes(),
                0xC000u16.to_be_bytes(),
                0i16.to_be_bytes(),
            ]
            .concat(),
        );
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let dscale = i16::try_from(frac_part.len()).ok()?;
    // Group the integer part in fours from the point leftwards, the
    // fraction from the point rightwards.
    let int_trimmed = int_part.trim_start_matches('0');
    let lead = (4 - int_trimmed.len() % 4) % 4;
    let int_padded: String = "0".repeat(lead) + int_trimmed;
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let frac_padded: String = frac_part.to_owned() + &"0".repeat(frac_pad);
    let mut digits: Vec<i16> = int_padded
        .as_bytes()
        .chunks(4)
        .chain(frac_padded.as_bytes().chunks(4))
        .map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0')))
        .collect();
    let mut weight = i16::try_from(int_padded.len() / 4).ok()? - 1;
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let sign: u16 = if negative && !digits.is_empty() {
        0x4000
    } else {
        0
    };
    let mut out = Vec::with_capacity(8 + digits.len() * 2);
    out.extend_from_slice(&i16::try_from(digits.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> (i16, i16, u16, i16, Vec<i16>) {
        let b = numeric(text).expect("numeric");
        let n = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
        let digits = (0..n(0) as usize).map(|k| n(8 + 2 * k)).collect();
        (n(0), n(2), u16::from_be_bytes([b[4], b[5]]), n(6), digits)
    }

    #[test]
    fn numerics_encode_in_base_10000() {
        assert_eq!(parts("12345678.9"), (3, 1, 0, 1, vec![1234, 5678, 9000]));
        assert_eq!(parts("-0.0005"), (1, -1, 0x4000, 4, vec![5]));
        assert_eq!(parts("0.00"), (0, 0, 0, 2, vec![]));
        assert_eq!(parts("10000"), (1, 1, 0, 0, vec![1]));
        assert!(numeric("1e5").is_none());
    }

    #[test]
    fn bit_strings_pack_most_significant_first() {
        assert_eq!(
            bit_string("000000000101"),
            Some(vec![0, 0, 0, 12, 0b0000_0000, 0b0101_0000])
        );
        assert_eq!(bit_string("1"), Some(vec![0, 0, 0, 1, 0x80]));
        assert_eq!(bit_string(""), Some(vec![0, 0, 0, 0]));
        assert!(bit_string("102").is_none());
    }

    #[test]
    fn dates_count_from_2000() {
        assert_eq!(days(NaiveDate::from_ymd_opt(2000, 1, 1).expect("date")), 0);
        assert_eq!(
            days(NaiveDate::from_ymd_opt(1999, 12, 31).expect("date")),
            -1
        );
        assert_eq!(days(NaiveDate::from_ymd_opt(2000, 3, 1).expect("date")), 60);
    }
}
