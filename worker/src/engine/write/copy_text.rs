//! PostgreSQL COPY text format. Text (not binary) COPY lets PostgreSQL's own
//! input functions convert values into whatever the target column is (an
//! integer into boolean, text into numeric), so one encoder serves every
//! source and pre-existing target tables of slightly different types.

use std::io::Write as _;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::engine::model::{Row, Value, format_duration};

/// Appends one row, tab-separated and newline-terminated; the bytes of
/// the `bare_hex` columns as bare hex (PostGIS geometry input).
pub fn encode_row(buf: &mut Vec<u8>, row: &Row, bare_hex: &[usize]) {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            buf.push(b'\t');
        }
        match v {
            Value::Bytes(b) if bare_hex.contains(&i) => push_hex(buf, b),
            _ => encode_value(buf, v),
        }
    }
    buf.push(b'\n');
}

fn encode_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => buf.extend_from_slice(b"\\N"),
        // boolean_in accepts 1/0, and so does every integer type.
        Value::Bool(b) => buf.push(if *b { b'1' } else { b'0' }),
        Value::Int(i) => push_int(buf, *i),
        Value::UInt(u) => {
            let _ = write!(buf, "{u}");
        }
        Value::Float(f) if f.is_nan() => buf.extend_from_slice(b"NaN"),
        Value::Float(f) if f.is_infinite() => {
            buf.extend_from_slice(if *f > 0.0 { b"Infinity" } else { b"-Infinity" })
        }
        Value::Float(f) => {
            let _ = write!(buf, "{f}");
        }
        Value::Decimal(s) => buf.extend_from_slice(s.as_bytes()),
        Value::Text(s) | Value::Json(s) => escape(buf, s.as_bytes()),
        Value::Bytes(b) => {
            // bytea hex input `\x..`, its backslash escaped for COPY.
            buf.extend_from_slice(b"\\\\x");
            push_hex(buf, b);
        }
        Value::Date(d) => push_date(buf, *d),
        Value::Time(t) => push_time(buf, *t),
        // `[-]H:MM:SS[.f]` is PostgreSQL interval input as well.
        Value::Duration(us) => buf.extend_from_slice(format_duration(*us).as_bytes()),
        Value::DateTime(dt) => push_datetime(buf, *dt),
        Value::DateTimeTz(dt) => {
            push_datetime(buf, dt.naive_utc());
            buf.extend_from_slice(b"+00");
        }
        Value::Uuid(u) => {
            let mut tmp = uuid::Uuid::encode_buffer();
            buf.extend_from_slice(u.hyphenated().encode_lower(&mut tmp).as_bytes());
        }
    }
}

fn push_hex(buf: &mut Vec<u8>, b: &[u8]) {
    let start = buf.len();
    buf.resize(start + b.len() * 2, 0);
    let _ = hex::encode_to_slice(b, &mut buf[start..]);
}

/// Backslash, newline, carriage return and tab are escaped; nothing else is.
fn escape(buf: &mut Vec<u8>, s: &[u8]) {
    let mut last = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => continue,
        };
        buf.extend_from_slice(&s[last..i]);
        buf.extend_from_slice(esc);
        last = i + 1;
    }
    buf.extend_from_slice(&s[last..]);
}

fn push_int(buf: &mut Vec<u8>, i: i64) {
    let mut tmp = itoa::Buffer::new();
    buf.extend_from_slice(tmp.format(i).as_bytes());
}

fn push2(buf: &mut Vec<u8>, n: u32) {
    buf.push(b'0' + (n / 10 % 10) as u8);
    buf.push(b'0' + (n % 10) as u8);
}

fn push_date(buf: &mut Vec<u8>, d: NaiveDate) {
    let year = d.year();
    if (0..=9999).contains(&year) {
        let y = year as u32;
        push2(buf, y / 100);
        push2(buf, y % 100);
    } else {
        let _ = write!(buf, "{:04}", year.abs());
    }
    buf.push(b'-');
    push2(buf, d.month());
    buf.push(b'-');
    push2(buf, d.day());
    if year < 0 {
        // ISO year 0 is 1 BC; PostgreSQL spells BC dates with a suffix.
        buf.extend_from_slice(b" BC");
    }
}

fn push_time(buf: &mut Vec<u8>, t: NaiveTime) {
    push2(buf, t.hour());
    buf.push(b':');
    push2(buf, t.minute());
    buf.push(b':');
    push2(buf, t.second());
    let micros = t.nanosecond() / 1_000;
    if micros > 0 {
        let _ = write!(buf, ".{micros:06}");
    }
}

fn push_datetime(buf: &mut Vec<u8>, dt: NaiveDateTime) {
    push_date(buf, dt.date());
    buf.push(b' ');
    push_time(buf, dt.time());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_copy_text() {
        let mut buf = Vec::new();
        let dt = NaiveDate::from_ymd_opt(2024, 2, 3)
            .and_then(|d| d.and_hms_micro_opt(4, 5, 6, 7))
            .expect("valid");
        encode_row(
            &mut buf,
            &vec![
                Value::Null,
                Value::Text("a\tb\\c\n".into()),
                Value::Bytes(vec![0xde, 0xad]),
                Value::DateTime(dt),
                Value::Int(-42),
                Value::Bool(true),
                Value::Bytes(vec![0x01, 0xff]),
            ],
            &[6],
        );
        assert_eq!(
            String::from_utf8(buf).expect("utf8"),
            "\\N\ta\\tb\\\\c\\n\t\\\\xdead\t2024-02-03 04:05:06.000007\t-42\t1\t01ff\n"
        );
    }
}
