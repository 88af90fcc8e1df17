//! Sorting database errors into what dispatch can act on: transient (retry
//! with backoff), data (narrow down to the bad records) or permanent.

use freight_core::policy::PolicyViolation;
use sqlx::error::DatabaseError;

use super::EngineError;

/// What went wrong, in the terms the engine reacts to.
#[derive(Debug)]
pub enum Failure {
    /// Connection drops, deadlocks, lock and pool timeouts.
    Transient(String),
    /// The target refused a value (constraint, conversion): bisect.
    Data {
        message: String,
        column: Option<String>,
    },
    Permanent(String),
    /// The connection policy refused the source or target.
    NotAllowed(PolicyViolation),
}

impl Failure {
    /// The same failure, its message naming the side it was met on (`"the
    /// target"`), where the table's name alone would point at the source.
    pub fn on(self, side: &str) -> Self {
        match self {
            Self::Transient(m) => Self::Transient(format!("{side}: {m}")),
            Self::Data { message, column } => Self::Data {
                message: format!("{side}: {message}"),
                column,
            },
            Self::Permanent(m) => Self::Permanent(format!("{side}: {m}")),
            Self::NotAllowed(v) => Self::NotAllowed(v),
        }
    }

    pub fn into_engine(self) -> EngineError {
        match self {
            Self::Transient(m) => EngineError::Transient(m),
            Self::Data { message, .. } | Self::Permanent(message) => {
                EngineError::Permanent(message)
            }
            Self::NotAllowed(v) => EngineError::Permanent(format!("connection not allowed: {v}")),
        }
    }
}

/// Classifies a sqlx error. `context` says what was being done (never holds secrets).
pub fn classify(err: &sqlx::Error, context: &str) -> Failure {
    let message = format!("{context}: {}", describe(err));
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_) => Failure::Transient(message),
        sqlx::Error::Encode(_) | sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => {
            Failure::Data {
                message,
                column: None,
            }
        }
        sqlx::Error::Database(db) => classify_db(db.as_ref(), message),
        _ => Failure::Permanent(message),
    }
}

/// A sqlx error as a tenant may read it: the server's message (with
/// PostgreSQL's detail and where), or the driver's, never with the
/// driver's source locations (`(sqlx_postgres::connection::tls:95)`).
pub fn describe(err: &sqlx::Error) -> String {
    strip_locations(describe_raw(err))
}

fn describe_raw(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => {
            let mut text = db.message().to_owned();
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                if let Some(detail) = pg.detail() {
                    text.push_str(&format!(" ({detail})"));
                }
                if let Some(wh) = pg.r#where() {
                    text.push_str(&format!(" [{wh}]"));
                }
            }
            match db.code() {
                Some(code) => format!("{text} (code {code})"),
                None => text,
            }
        }
        other => other.to_string(),
    }
}

/// `text` without the driver's source locations: ` (sqlx_…::…:95)`.
fn strip_locations(text: String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("(sqlx") {
        let inner = &rest[at + 1..];
        let location = inner.find(')').map(|end| &inner[..end]).filter(|inner| {
            let (path, line) = inner.rsplit_once(':').unwrap_or_default();
            path.contains("::")
                && path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !line.is_empty()
                && line.chars().all(|c| c.is_ascii_digit())
        });
        match location {
            Some(location) => {
                out.push_str(rest[..at].trim_end_matches(' '));
                rest = &rest[at + 1 + location.len() + 1..];
            }
            None => {
                out.push_str(&rest[..at + 1]);
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn classify_db(db: &dyn DatabaseError, message: String) -> Failure {
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let column = pg
            .column()
            .map(str::to_owned)
            .or_else(|| pg.r#where().and_then(copy_context_column))
            .or_else(|| pg.detail().and_then(key_detail_columns))
            .or_else(|| check_column(pg.table()?, pg.constraint()?));
        return match &code[..code.len().min(2)] {
            _ if matches!(
                code.as_str(),
                "40001" | "40P01" | "55P03" | "57014" | "53300"
            ) =>
            {
                Failure::Transient(message)
            }
            "08" | "57" => Failure::Transient(message),
            "22" | "23" => Failure::Data { message, column },
            _ => Failure::Permanent(message),
        };
    }
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        let number = my.number();
        return match number {
            1205 | 1213 | 1040 | 1053 | 1927 | 2006 | 2013 | 1317 => Failure::Transient(message),
            1048 | 1062 | 1264 | 1265 | 1292 | 1366 | 1406 | 1411 | 1452 | 1451 | 3819 | 4025
            | 1690 | 1367 | 1138 | 4078 | 1918 => Failure::Data {
                column: quoted_column(db.message()),
                message,
            },
            _ if code.starts_with("22") || code.starts_with("23") => Failure::Data {
                column: quoted_column(db.message()),
                message,
            },
            _ => Failure::Permanent(message),
        };
    }
    // SQLite: primary result code in the low byte of the extended code.
    let primary = code.parse::<i32>().map(|c| c & 0xff).unwrap_or_default();
    match primary {
        5 | 6 => Failure::Transient(message),
        18..=20 => Failure::Data {
            column: sqlite_column(db.message()),
            message,
        },
        _ => Failure::Permanent(message),
    }
}

/// PostgreSQL COPY errors name the column in their context:
/// `COPY t, line 3, column amount: "abc"`.
fn copy_context_column(context: &str) -> Option<String> {
    let rest = context.split(", column ").nth(1)?;
    let name = rest.split(':').next()?.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Unique and foreign key violations name their columns in the detail:
/// `Key (a, b)=(1, 2) already exists.`
fn key_detail_columns(detail: &str) -> Option<String> {
    let rest = detail.strip_prefix("Key (")?;
    let (columns, _) = rest.split_once(")=")?;
    (!columns.is_empty()).then(|| columns.to_owned())
}

/// A CHECK named as PostgreSQL names it by default, `<table>_<column>_check`
/// (the first column the expression reads), names its column.
fn check_column(table: &str, constraint: &str) -> Option<String> {
    let column = constraint
        .strip_prefix(table)?
        .strip_prefix('_')?
        .strip_suffix("_check")?;
    (!column.is_empty()).then(|| column.to_owned())
}

/// MySQL names the column in quotes: ``Column 'x' cannot be null``,
/// ``Out of range value for column 'x' at row 1``; MariaDB qualifies it
/// (``for column `db`.`t`.`x` at row 1``): the column is the last part.
fn quoted_column(message: &str) -> Option<String> {
    let idx = message.find("olumn ")?;
    let mut rest = &message[idx + "olumn ".len()..];
    loop {
        let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '`')?;
        let inner = &rest[1..];
        let end = inner.find(quote)?;
        match inner[end + 1..].strip_prefix('.') {
            Some(next) if next.starts_with(['\'', '`']) => rest = next,
            _ => return Some(inner[..end].to_owned()),
        }
    }
}

/// SQLite: `NOT NULL constraint failed: t.col`.
fn sqlite_column(message: &str) -> Option<String> {
    if message.contains("CHECK constraint failed") {
        // A constraint name or expression, not `t.col` (see `batch::constraint_columns`).
        return None;
    }
    let rest = message.split("constraint failed: ").nth(1)?;
    let first = rest.split(',').next()?.trim();
    first.rsplit_once('.').map(|(_, col)| col.to_owned())
}

/// Removes a password that a driver echoed back (none of sqlx's usually do;
/// this is the second wall).
pub fn scrub(message: String, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 3)
        .fold(message, |m, s| m.replace(s.as_str(), "***"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_column_names_in_driver_messages() {
        assert_eq!(
            copy_context_column("COPY t, line 3, column amount: \"abc\"").as_deref(),
            Some("amount")
        );
        assert_eq!(
            quoted_column("Column 'email' cannot be null").as_deref(),
            Some("email")
        );
        assert_eq!(
            quoted_column("Out of range value for column 'n' at row 1").as_deref(),
            Some("n")
        );
        assert_eq!(
            quoted_column("Incorrect decimal value: 'NaN' for column `db`.`t`.`n` at row 1")
                .as_deref(),
            Some("n")
        );
        assert_eq!(
            key_detail_columns("Key (a, b)=(1, x) already exists.").as_deref(),
            Some("a, b")
        );
        assert_eq!(
            check_column("people", "people_age_check").as_deref(),
            Some("age")
        );
        assert_eq!(check_column("people", "age_positive"), None);
        assert_eq!(
            sqlite_column("NOT NULL constraint failed: t.name").as_deref(),
            Some("name")
        );
        assert_eq!(scrub("pw s3cret!".into(), &["s3cret".into()]), "pw ***!");
    }

    #[test]
    fn driver_source_locations_are_left_out() {
        assert_eq!(
            strip_locations(
                "unexpected response from SSLRequest: 0x49 (sqlx_postgres::connection::tls:95)"
                    .into()
            ),
            "unexpected response from SSLRequest: 0x49"
        );
        assert_eq!(
            strip_locations("a (sqlx_core::x:1) b (sqlx_mysql::y::z:22)".into()),
            "a b"
        );
        for kept in ["(sqlx is fine)", "f(sqlx_x)", "(sqlx_a::b:c)", "(sqlx"] {
            assert_eq!(strip_locations(kept.into()), kept);
        }
    }
}
