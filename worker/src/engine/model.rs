//! The engine's neutral view of schemas and values: every connector reads
//! into these types and every writer writes from them, so N dialects need N
//! readers and N writers instead of N² converters.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// The database dialect of a source or target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

impl Dialect {
    pub fn from_kind(kind: freight_core::connection::DatabaseKind) -> Self {
        use freight_core::connection::DatabaseKind;
        match kind {
            DatabaseKind::Postgresql => Self::Postgres,
            DatabaseKind::Mysql => Self::MySql,
            DatabaseKind::Sqlite => Self::Sqlite,
        }
    }
}

/// A column's type in dialect-neutral terms: what the type *means*, from
/// which each target dialect derives its own DDL.
#[derive(Debug, Clone, PartialEq)]
pub enum Logical {
    Bool,
    /// Signed integer of 2, 4 or 8 bytes (unsigned sources are widened by introspection).
    Int(u8),
    /// `bigint unsigned`: the one integer no signed type holds.
    UInt64,
    Float32,
    Float64,
    Decimal {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    Text {
        max_len: Option<u32>,
        fixed: bool,
    },
    Bytes,
    Date,
    Time,
    /// MySQL `TIME`: a signed span of up to ±838:59:59.999999, not only a
    /// time of day (PostgreSQL `interval`, MySQL `time(6)`, SQLite text).
    Duration,
    /// Wall-clock timestamp without a time zone (`datetime`, `timestamp`).
    DateTime,
    /// An instant (`timestamptz`, MySQL `timestamp`).
    DateTimeTz,
    Json,
    Uuid,
    /// A closed set of strings (MySQL `enum`, PostgreSQL enum types).
    Enum(Vec<String>),
    /// A fixed-width bit string (`bit(n)`), carried as text of exactly `n`
    /// `0`/`1` digits, most significant first (how PostgreSQL prints it).
    Bits(u32),
    /// No neutral equivalent: carried as text; holds the source spelling so
    /// a same-dialect target can recreate the exact type.
    Other(String),
}

impl Logical {
    /// Whether source and target order values of this type the same way, so
    /// the target can be addressed by key *range*; text and bytes follow
    /// collations that differ between databases, so their batches are
    /// addressed by the exact set of keys instead.
    pub fn orders_portably(&self) -> bool {
        matches!(
            self,
            Self::Int(_)
                | Self::UInt64
                | Self::Decimal { .. }
                | Self::Date
                | Self::DateTime
                | Self::DateTimeTz
                | Self::Bool
        )
    }
}

/// A column default that means the same in every dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    Null,
    Number(String),
    String(String),
    Bool(bool),
    /// The current instant (`CURRENT_TIMESTAMP`, `now()`).
    CurrentTimestamp,
    /// Today's date (`CURRENT_DATE`, MySQL `curdate()`, SQLite `date('now')`).
    CurrentDate,
    /// The time of day (`CURRENT_TIME`, `LOCALTIME`, MySQL `curtime()`).
    CurrentTime,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// The type as the source spells it, for messages.
    pub source_type: String,
    pub logical: Logical,
    pub nullable: bool,
    pub default: Option<DefaultValue>,
    /// Expression to select the column with (e.g. a cast to text for types
    /// the driver cannot decode); `None` = the quoted column itself.
    pub select_expr: Option<String>,
    /// Auto-increment / identity / serial column.
    pub auto_increment: bool,
    /// MySQL unsigned integer: decoded zero-extended, not sign-extended.
    pub unsigned: bool,
    /// The column's comment, kept on the target where it has comments.
    pub comment: Option<String>,
    /// A generated column's expression, in the dialect of the table it was
    /// read from (MySQL `STORED`/`VIRTUAL`, PostgreSQL `STORED`).
    pub generated: Option<String>,
    /// The generated column is computed when read (MySQL, SQLite `VIRTUAL`),
    /// not stored.
    pub generated_virtual: bool,
    /// MySQL `ON UPDATE CURRENT_TIMESTAMP`: the column is set to the
    /// current time whenever its row is updated.
    pub on_update_now: bool,
    /// MySQL character set and collation of a text column (kept on MySQL
    /// targets of a MySQL source).
    pub collation: Option<(String, String)>,
}

impl Column {
    /// A nullable column of `logical` type with nothing else to it (no
    /// default, key, comment or generation): what tests and derived tables
    /// start from.
    pub fn plain(
        name: impl Into<String>,
        source_type: impl Into<String>,
        logical: Logical,
    ) -> Self {
        Self {
            name: name.into(),
            source_type: source_type.into(),
            logical,
            nullable: true,
            default: None,
            select_expr: None,
            auto_increment: false,
            unsigned: false,
            comment: None,
            generated: None,
            generated_virtual: false,
            on_update_now: false,
            collation: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    /// The key columns (what uniqueness is over).
    pub columns: Vec<String>,
    pub unique: bool,
    /// Per key column: sorted descending (empty = all ascending).
    pub descending: Vec<bool>,
    /// Columns carried in the index without being part of its key
    /// (PostgreSQL `INCLUDE`): never part of a unique constraint.
    pub include: Vec<String>,
    /// A partial index's condition, in the source dialect.
    pub predicate: Option<String>,
    /// An access method other than the default b-tree: PostgreSQL `gin`,
    /// `gist`, `hash`, `brin`, ...; MySQL `FULLTEXT`, `SPATIAL`.
    pub method: Option<String>,
}

impl Index {
    /// A plain b-tree index of whole columns.
    pub fn plain(name: String, columns: Vec<String>, unique: bool) -> Self {
        Self {
            name,
            columns,
            unique,
            descending: Vec::new(),
            include: Vec::new(),
            predicate: None,
            method: None,
        }
    }

    pub fn is_descending(&self, i: usize) -> bool {
        self.descending.get(i).copied().unwrap_or(false)
    }
}

#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    pub on_delete: FkAction,
    pub on_update: FkAction,
}

/// What a foreign key does when the referenced row is deleted or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FkAction {
    #[default]
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl FkAction {
    /// From the SQL spelling (`CASCADE`, `SET NULL`, ...; any case);
    /// unknown spellings are `NO ACTION`, every database's default.
    pub fn parse(raw: &str) -> Self {
        match raw.trim().to_ascii_uppercase().as_str() {
            "RESTRICT" => Self::Restrict,
            "CASCADE" => Self::Cascade,
            "SET NULL" => Self::SetNull,
            "SET DEFAULT" => Self::SetDefault,
            _ => Self::NoAction,
        }
    }

    pub fn sql(self) -> &'static str {
        match self {
            Self::NoAction => "NO ACTION",
            Self::Restrict => "RESTRICT",
            Self::Cascade => "CASCADE",
            Self::SetNull => "SET NULL",
            Self::SetDefault => "SET DEFAULT",
        }
    }
}

/// A CHECK constraint as the source spells it.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    /// The boolean expression, without `CHECK` and its outer parentheses,
    /// in the source dialect.
    pub expression: String,
}

/// A PostgreSQL exclusion constraint (`EXCLUDE USING gist (…)`): only a
/// PostgreSQL target can enforce one.
#[derive(Debug, Clone)]
pub struct Exclusion {
    pub name: String,
    /// `pg_get_constraintdef`'s text: `EXCLUDE USING gist (room WITH =, …)`.
    pub definition: String,
}

/// A table as introspection found it.
#[derive(Debug, Clone)]
pub struct Table {
    pub dialect: Dialect,
    pub name: String,
    pub columns: Vec<Column>,
    /// Indexes into `columns` of the key batches are cut on: the
    /// `primary_key`, or the columns the job names in `key_columns`; empty
    /// when the table is copied whole.
    pub key: Vec<usize>,
    /// The key the source declares (primary key, else a unique index of NOT
    /// NULL columns), recreated as the target's PRIMARY KEY. A key named in
    /// the job is not: nothing says its values are unique.
    pub primary_key: Vec<usize>,
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
    /// CHECK constraints (not the ones that implement a type, such as
    /// MariaDB's `json_valid` of a JSON column).
    pub checks: Vec<Check>,
    /// Exclusion constraints (PostgreSQL).
    pub exclusions: Vec<Exclusion>,
    /// The table's comment (PostgreSQL `COMMENT ON TABLE`, MySQL `COMMENT=`).
    pub comment: Option<String>,
    /// PostgreSQL: the tables that inherit from this one (`INHERITS`).
    /// A plain `SELECT` of the parent also returns its children's rows, so
    /// every read of it says `ONLY` (see [`sql::from`](super::sql::from)):
    /// each row is copied once, into its own table.
    pub inherited_by: Vec<String>,
    /// Type fallbacks and other lossy choices made while reading the schema.
    pub warnings: Vec<String>,
}

impl Table {
    pub fn key_columns(&self) -> Vec<&Column> {
        self.key.iter().map(|&i| &self.columns[i]).collect()
    }

    pub fn key_names(&self) -> Vec<String> {
        self.key_columns().iter().map(|c| c.name.clone()).collect()
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name).or_else(|| {
            self.columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
    }

    /// MySQL → MySQL: a `tinyint(1)` is the integer column it is (it holds
    /// -128..127; `tinyint(1) unsigned` is never read as a boolean). Only
    /// other targets read it as a boolean (values other than 0/1 become
    /// true there, as documented).
    pub fn keep_tinyint1_as_integer(&mut self) {
        for col in &mut self.columns {
            if col.logical == Logical::Bool
                && col
                    .source_type
                    .get(..10)
                    .is_some_and(|t| t.eq_ignore_ascii_case("tinyint(1)"))
            {
                col.logical = Logical::Int(2);
            }
        }
    }

    /// Whether the target can be addressed by key range (see [`Logical::orders_portably`]).
    ///
    /// Not a decimal key on SQLite: Freight stores decimals there as exact
    /// text (`DECIMAL_TEXT`, TEXT affinity), which compares as text, so
    /// `'1000.00'` falls between `'100.00'` and `'200.00'` and a range would
    /// clear another range's rows; a declared `DECIMAL(p,s)` (NUMERIC
    /// affinity) holds floats, inexact. Such tables are addressed by key set.
    pub fn range_addressable(&self) -> bool {
        self.key_columns().iter().all(|c| {
            c.logical.orders_portably()
                && !(self.dialect == Dialect::Sqlite
                    && matches!(c.logical, Logical::Decimal { .. }))
        })
    }
}

/// One value in transit.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Exact decimal, as text.
    Decimal(String),
    Text(String),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    /// A signed span in microseconds (MySQL `TIME`).
    Duration(i64),
    DateTime(NaiveDateTime),
    DateTimeTz(DateTime<Utc>),
    Json(String),
    Uuid(uuid::Uuid),
}

pub type Row = Vec<Value>;

pub const DATETIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

impl Value {
    /// The value as a key bound: numbers stay numbers, the rest become strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Self::Null => J::Null,
            Self::Bool(b) => J::Bool(*b),
            Self::Int(i) => J::from(*i),
            Self::UInt(u) => J::from(*u),
            Self::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Self::Bytes(b) => J::String(format!("\\x{}", hex::encode(b))),
            other => J::String(other.canonical_text()),
        }
    }

    /// [`Value::to_json`] without copying text.
    pub fn into_json(self) -> serde_json::Value {
        match self {
            Self::Text(s) => serde_json::Value::String(s),
            other => other.to_json(),
        }
    }

    /// Parses a key bound back into a value of the column's logical type.
    pub fn from_json(json: &serde_json::Value, logical: &Logical) -> Option<Value> {
        use serde_json::Value as J;
        Some(match (json, logical) {
            (J::Null, _) => Value::Null,
            (J::Bool(b), _) => Value::Bool(*b),
            (J::Number(n), Logical::UInt64) => Value::UInt(n.as_u64()?),
            (J::Number(n), Logical::Float32 | Logical::Float64) => Value::Float(n.as_f64()?),
            (J::Number(n), Logical::Decimal { .. }) => Value::Decimal(n.to_string()),
            (J::Number(n), _) => n
                .as_i64()
                .map(Value::Int)
                .or_else(|| n.as_f64().map(Value::Float))?,
            (J::String(s), Logical::Bytes) => {
                Value::Bytes(hex::decode(s.strip_prefix("\\x").unwrap_or(s)).ok()?)
            }
            (J::String(s), Logical::Uuid) => Value::Uuid(s.parse().ok()?),
            (J::String(s), Logical::Date) => Value::Date(s.parse().ok()?),
            (J::String(s), Logical::DateTime) => {
                Value::DateTime(NaiveDateTime::parse_from_str(s, DATETIME_FORMAT).ok()?)
            }
            (J::String(s), Logical::DateTimeTz) => Value::DateTimeTz(
                NaiveDateTime::parse_from_str(s, DATETIME_FORMAT)
                    .ok()?
                    .and_utc(),
            ),
            (J::String(s), Logical::Time) => Value::Time(s.parse().ok()?),
            (J::String(s), Logical::Duration) => Value::Duration(parse_duration(s)?),
            (J::String(s), Logical::Decimal { .. }) => Value::Decimal(s.clone()),
            (J::String(s), _) => Value::Text(s.clone()),
            _ => return None,
        })
    }

    /// A text form that is equal for equal values whichever database they
    /// came from: used by checksums, key bounds and text-only writers.
    pub fn canonical_text(&self) -> String {
        match self {
            Self::Null => String::new(),
            Self::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
            Self::Int(i) => i.to_string(),
            Self::UInt(u) => u.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Decimal(d) => normalize_decimal(d),
            Self::Text(s) => s.clone(),
            Self::Bytes(b) => hex::encode(b),
            Self::Date(d) => d.format("%Y-%m-%d").to_string(),
            Self::Time(t) => t.format("%H:%M:%S%.f").to_string(),
            Self::Duration(us) => format_duration(*us),
            Self::DateTime(dt) => dt.format(DATETIME_FORMAT).to_string(),
            // An instant is compared in UTC, so a timestamptz stored as a UTC
            // `datetime` on MySQL or text on SQLite hashes the same.
            Self::DateTimeTz(dt) => dt.naive_utc().format(DATETIME_FORMAT).to_string(),
            Self::Json(j) => serde_json::from_str::<serde_json::Value>(j)
                .map(|v| v.to_string())
                .unwrap_or_else(|_| j.clone()),
            Self::Uuid(u) => u.hyphenated().to_string(),
        }
    }
}

/// `[-]H:MM:SS[.ffffff]` (MySQL `TIME` as text, hours beyond 24 allowed)
/// → signed microseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (clock, fraction) = body.split_once('.').unwrap_or((body, ""));
    let mut parts = clock.split(':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next()?.parse().ok()?;
    let seconds: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || minutes > 59 || seconds > 59 || fraction.len() > 6 {
        return None;
    }
    let micros: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<6}").parse().ok()?
    };
    let total = ((hours * 60 + minutes) * 60 + seconds)
        .checked_mul(1_000_000)?
        .checked_add(micros)?;
    Some(if negative { -total } else { total })
}

/// Signed microseconds → `[-]HH:MM:SS[.f]`, trailing zeros of the fraction
/// dropped: how PostgreSQL prints such an `interval`, so checksums of a
/// MySQL `TIME` and the interval it became agree.
pub fn format_duration(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let (secs, frac) = (abs / 1_000_000, abs % 1_000_000);
    let mut out = format!(
        "{sign}{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac > 0 {
        let digits = format!("{frac:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

/// `12.50`, `12.5` and `12.500` are the same number; databases disagree on
/// trailing zeros (a MySQL `decimal(65,30)` pads to 30 places).
pub fn normalize_decimal(raw: &str) -> String {
    let raw = raw.trim();
    let normalized = if raw.contains('.') {
        raw.trim_end_matches('0').trim_end_matches('.')
    } else {
        raw
    };
    match normalized {
        "-0" | "" => "0".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_as_postgres_prints_intervals() {
        for (text, micros, canonical) in [
            ("838:59:59", 3_020_399_000_000, "838:59:59"),
            ("-12:30:00", -45_000_000_000, "-12:30:00"),
            ("00:00:01.500000", 1_500_000, "00:00:01.5"),
            ("-00:00:00.000001", -1, "-00:00:00.000001"),
            ("13:14:15", 47_655_000_000, "13:14:15"),
        ] {
            assert_eq!(parse_duration(text), Some(micros), "{text}");
            assert_eq!(format_duration(micros), canonical);
        }
        for bad in ["12:60:00", "1:2", "x:00:00", "00:00:00.1234567"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
