//! Target DDL from the neutral schema: each dialect's spelling of a
//! [`Logical`] type, and the documented fallbacks where none is faithful.

use super::model::{
    Column, DefaultValue, Dialect, Exclusion, FkAction, ForeignKey, Index, Logical, Table,
};
use super::sql::{ident, literal, table as qualified};
use super::{checks, expr, sqltext};

/// MySQL keys cannot be unbounded TEXT/BLOB: key columns of those become
/// `varchar(255)` / `varbinary(1024)`, so that even a composite key of
/// several stays under InnoDB's 3072-byte key limit (utf8mb4: 4 bytes a char).
const MYSQL_KEY_TEXT: &str = "varchar(255)";
const MYSQL_KEY_BYTES: &str = "varbinary(1024)";

/// The target spelling of a column's type, with a warning when lossy.
pub fn column_type(
    target: Dialect,
    source: Dialect,
    col: &Column,
    is_key: bool,
) -> (String, Option<String>) {
    match target {
        Dialect::Postgres => postgres_type(source, col),
        Dialect::MySql => mysql_type(source, col, is_key),
        Dialect::Sqlite => sqlite_type(source, col, is_key),
    }
}

fn postgres_type(source: Dialect, col: &Column) -> (String, Option<String>) {
    let t = match &col.logical {
        Logical::Bool => "boolean".to_owned(),
        Logical::Int(2) => "smallint".to_owned(),
        Logical::Int(4) => "integer".to_owned(),
        Logical::Int(_) => "bigint".to_owned(),
        Logical::UInt64 => "numeric(20,0)".to_owned(),
        Logical::Float32 => "real".to_owned(),
        Logical::Float64 => "double precision".to_owned(),
        Logical::Decimal {
            precision: Some(p),
            scale,
        } => format!("numeric({p},{})", scale.unwrap_or(0)),
        Logical::Decimal { .. } => "numeric".to_owned(),
        // MySQL `char(n)` strips trailing spaces on read while PostgreSQL's
        // `char(n)` pads them back: `varchar(n)` keeps the values as read.
        Logical::Text {
            max_len: Some(n),
            fixed: true,
        } if source == Dialect::Postgres => format!("char({n})"),
        Logical::Text {
            max_len: Some(n), ..
        } if *n <= 10_485_760 => format!("varchar({n})"),
        Logical::Text { .. } => "text".to_owned(),
        Logical::Bytes => "bytea".to_owned(),
        Logical::Date => "date".to_owned(),
        Logical::Time => "time".to_owned(),
        Logical::Duration => "interval".to_owned(),
        Logical::DateTime => "timestamp".to_owned(),
        Logical::DateTimeTz => "timestamptz".to_owned(),
        // `json` keeps its text as written (key order, duplicates).
        Logical::Json if source == Dialect::Postgres && col.source_type == "json" => {
            "json".to_owned()
        }
        Logical::Json => "jsonb".to_owned(),
        Logical::Uuid => "uuid".to_owned(),
        Logical::Enum(_) => "text".to_owned(),
        Logical::Bits(n) => format!("bit({n})"),
        Logical::Other(spelling) if source == Dialect::Postgres => spelling.clone(),
        // A MySQL spatial column on a target with PostGIS (see `adapt`).
        Logical::Other(spelling) if super::spatial::is_geometry(spelling) => spelling.clone(),
        Logical::Other(spelling) => {
            return (
                "text".to_owned(),
                Some(format!("column {}: {spelling} stored as text", col.name)),
            );
        }
    };
    (t, None)
}

fn mysql_type(source: Dialect, col: &Column, is_key: bool) -> (String, Option<String>) {
    let mut warning = None;
    let t = match &col.logical {
        // MySQL to MySQL: the integer type as declared (`int unsigned`
        // stays `int unsigned`).
        Logical::Int(_) | Logical::UInt64 if source == Dialect::MySql => {
            col.source_type.replace(" zerofill", "")
        }
        // And its text, blob and binary types and `set` as declared
        // (`tinytext` is not widened to `longtext`, `binary(16)` stays fixed).
        Logical::Text { .. } | Logical::Bytes
            if source == Dialect::MySql && mysql_keeps_declared(&col.source_type, is_key) =>
        {
            col.source_type.clone()
        }
        Logical::Bool => "tinyint(1)".to_owned(),
        Logical::Int(2) => "smallint".to_owned(),
        Logical::Int(4) => "int".to_owned(),
        Logical::Int(_) => "bigint".to_owned(),
        Logical::UInt64 => "bigint unsigned".to_owned(),
        Logical::Float32 => "float".to_owned(),
        Logical::Float64 => "double".to_owned(),
        Logical::Decimal {
            precision: Some(p),
            scale,
        } if *p <= 65 && scale.unwrap_or(0) <= 30 => {
            format!("decimal({p},{})", scale.unwrap_or(0))
        }
        Logical::Decimal { .. } => {
            warning = Some(format!(
                "column {}: {} exceeds MySQL's decimal range; stored as decimal(65,30): a value with more than 30 fraction digits or 35 integer digits is a rejected record (MySQL would round it)",
                col.name, col.source_type
            ));
            "decimal(65,30)".to_owned()
        }
        Logical::Text {
            max_len: Some(n),
            fixed: true,
        } if *n <= 255 => format!("char({n})"),
        Logical::Text {
            max_len: Some(n), ..
        } if *n <= 16_383 => format!("varchar({n})"),
        Logical::Text { .. } | Logical::Other(_) if is_key => {
            warning = Some(format!(
                "column {}: unbounded text key stored as {MYSQL_KEY_TEXT}; longer values are rejected",
                col.name
            ));
            MYSQL_KEY_TEXT.to_owned()
        }
        Logical::Text { .. } => "longtext".to_owned(),
        Logical::Bytes if is_key => MYSQL_KEY_BYTES.to_owned(),
        Logical::Bytes => "longblob".to_owned(),
        Logical::Date => "date".to_owned(),
        Logical::Time | Logical::Duration => "time(6)".to_owned(),
        Logical::DateTime => "datetime(6)".to_owned(),
        // MySQL `timestamp` ends in 2038; an instant is kept as a UTC datetime.
        Logical::DateTimeTz if source == Dialect::MySql => "timestamp(6) NULL".to_owned(),
        Logical::DateTimeTz => {
            warning = Some(format!(
                "column {}: {} stored as datetime(6) holding UTC",
                col.name, col.source_type
            ));
            "datetime(6)".to_owned()
        }
        Logical::Json => "json".to_owned(),
        Logical::Uuid => "char(36)".to_owned(),
        Logical::Enum(labels) if !labels.is_empty() => {
            let quoted: Vec<String> = labels.iter().map(|l| literal(Dialect::MySql, l)).collect();
            format!("enum({})", quoted.join(","))
        }
        Logical::Enum(_) => "longtext".to_owned(),
        // Written through `CONV(?, 2, 10)` (see `write::WriteSpec`).
        Logical::Bits(n) if *n <= 64 => format!("bit({n})"),
        Logical::Bits(n) => format!("varchar({n})"),
        Logical::Other(spelling) if source == Dialect::MySql => spelling.clone(),
        Logical::Other(spelling) => {
            warning = Some(format!("column {}: {spelling} stored as text", col.name));
            "longtext".to_owned()
        }
    };
    (t, warning)
}

/// Whether a MySQL source type is recreated as declared on a MySQL target:
/// the text and blob sizes and `set` (never keys: MySQL indexes them only by
/// prefix), `binary(n)` and `varbinary(n)` (keys too). Spatial types are not:
/// they travel as WKB, which a MySQL geometry column does not take.
fn mysql_keeps_declared(source_type: &str, is_key: bool) -> bool {
    let base = source_type.split('(').next().unwrap_or_default().trim();
    match base {
        "binary" | "varbinary" => true,
        "tinytext" | "text" | "mediumtext" | "longtext" | "tinyblob" | "blob" | "mediumblob"
        | "longblob" | "set" => !is_key,
        _ => false,
    }
}

fn sqlite_type(source: Dialect, col: &Column, is_key: bool) -> (String, Option<String>) {
    let mut warning = None;
    let t = match &col.logical {
        Logical::Bool => "BOOLEAN".to_owned(),
        Logical::Int(_) => "INTEGER".to_owned(),
        // SQLite integers end at 2^63-1 (a larger one becomes a float):
        // exact text, like decimals. A key stays INTEGER so that its
        // ranges order numerically.
        Logical::UInt64 if !is_key => "DECIMAL_TEXT(20,0)".to_owned(),
        Logical::UInt64 => {
            warning = Some(format!(
                "column {}: bigint unsigned key stored as INTEGER; values above 2^63-1 cannot be stored exactly (SQLite makes them floats) and fail verification",
                col.name
            ));
            "INTEGER".to_owned()
        }
        Logical::Float32 => "FLOAT".to_owned(),
        Logical::Float64 => "REAL".to_owned(),
        // SQLite's NUMERIC affinity would turn 12.50 into the float 12.5:
        // TEXT affinity keeps decimals exact (the declared name keeps p,s).
        Logical::Decimal { precision, scale } => {
            warning = Some(format!(
                "column {}: decimal stored as exact text (TEXT affinity)",
                col.name
            ));
            match (precision, scale) {
                (Some(p), s) => format!("DECIMAL_TEXT({p},{})", s.unwrap_or(0)),
                _ => "DECIMAL_TEXT".to_owned(),
            }
        }
        Logical::Text {
            max_len: Some(n),
            fixed: true,
        } => format!("CHAR({n})"),
        Logical::Text {
            max_len: Some(n), ..
        } => format!("VARCHAR({n})"),
        Logical::Text { .. } => "TEXT".to_owned(),
        Logical::Bytes => "BLOB".to_owned(),
        Logical::Date => "DATE".to_owned(),
        Logical::Time => "TIME".to_owned(),
        // Read back as text, so it is compared as the text it was written as.
        Logical::Duration => "TEXT".to_owned(),
        Logical::DateTime => "DATETIME".to_owned(),
        Logical::DateTimeTz => "TIMESTAMPTZ".to_owned(),
        Logical::Json => "JSON".to_owned(),
        Logical::Uuid => "UUID".to_owned(),
        Logical::Enum(_) => "TEXT".to_owned(),
        // `BIT(n)` would have NUMERIC affinity and turn `0101` into 101.
        Logical::Bits(n) => format!("BIT_TEXT({n})"),
        Logical::Other(spelling) if source == Dialect::Sqlite => spelling.clone(),
        Logical::Other(spelling) => {
            warning = Some(format!("column {}: {spelling} stored as text", col.name));
            "TEXT".to_owned()
        }
    };
    (t, warning)
}

fn default_sql(target: Dialect, col: &Column) -> Option<String> {
    let default = col.default.as_ref()?;
    Some(match (default, &col.logical) {
        (DefaultValue::Null, _) => "NULL".to_owned(),
        (DefaultValue::Number(n), Logical::Bool) | (DefaultValue::String(n), Logical::Bool) => {
            let truthy = !matches!(n.as_str(), "0" | "f" | "false");
            match target {
                Dialect::Postgres => truthy.to_string(),
                _ => u8::from(truthy).to_string(),
            }
        }
        (DefaultValue::Bool(b), _) => match target {
            Dialect::Postgres => b.to_string(),
            _ => u8::from(*b).to_string(),
        },
        // SQLite keeps decimals as exact text (`DECIMAL_TEXT`): a number
        // literal would be stored as a float's text (1.50 as '1.5').
        (DefaultValue::Number(n), Logical::Decimal { .. } | Logical::UInt64)
            if target == Dialect::Sqlite =>
        {
            literal(target, n)
        }
        (DefaultValue::Number(n), _) => n.clone(),
        // MySQL only allows literal defaults on TEXT/BLOB/JSON from 8.0.13 as expressions.
        (DefaultValue::String(_), Logical::Json | Logical::Bytes) if target == Dialect::MySql => {
            return None;
        }
        (DefaultValue::String(s), Logical::Text { max_len: None, .. })
            if target == Dialect::MySql =>
        {
            format!("({})", literal(target, s))
        }
        (DefaultValue::String(s), _) => literal(target, s),
        (DefaultValue::CurrentTimestamp, Logical::DateTime | Logical::DateTimeTz) => match target {
            Dialect::MySql => "CURRENT_TIMESTAMP(6)".to_owned(),
            _ => "CURRENT_TIMESTAMP".to_owned(),
        },
        // Today (a `date` defaulting to the current instant means today
        // too). MySQL takes it as an expression default (MariaDB 10.2+,
        // MySQL 8.0.13+).
        (DefaultValue::CurrentDate | DefaultValue::CurrentTimestamp, Logical::Date) => match target
        {
            Dialect::MySql => "(CURRENT_DATE)".to_owned(),
            _ => "CURRENT_DATE".to_owned(),
        },
        // The time of day: PostgreSQL's `LOCALTIME` is a `time` (its
        // `CURRENT_TIME` one with a zone); SQLite writes `HH:MM:SS` text.
        (DefaultValue::CurrentTime | DefaultValue::CurrentTimestamp, Logical::Time) => match target
        {
            Dialect::Postgres => "LOCALTIME".to_owned(),
            Dialect::MySql => "(CURRENT_TIME(6))".to_owned(),
            Dialect::Sqlite => "CURRENT_TIME".to_owned(),
        },
        // A MySQL `time` (a duration on other targets): the span since
        // midnight, on MySQL and PostgreSQL.
        (DefaultValue::CurrentTime, Logical::Duration) => match target {
            Dialect::Postgres => "(LOCALTIME::interval)".to_owned(),
            Dialect::MySql => "(CURRENT_TIME(6))".to_owned(),
            Dialect::Sqlite => return None,
        },
        (
            DefaultValue::CurrentTimestamp | DefaultValue::CurrentDate | DefaultValue::CurrentTime,
            _,
        ) => {
            return None;
        }
    })
}

/// `CREATE TABLE IF NOT EXISTS` for the target, with the primary key (the
/// batch key), NOT NULL, portable defaults and enum CHECKs. Indexes and
/// foreign keys come later, in [`index_ddl`] / [`foreign_key_ddl`].
/// `mysql_collation` is a MySQL table's default collation: the target's
/// NO PAD binary one (see [`exact_collation`](super::introspect::exact_collation)).
pub fn create_table(
    target: Dialect,
    schema: Option<&str>,
    table: &Table,
    mysql_collation: &str,
) -> (Vec<String>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut defs = Vec::new();
    let identity = |c: &Column| {
        c.auto_increment
            && c.generated.is_none()
            && matches!(c.logical, Logical::Int(_) | Logical::UInt64)
    };
    // MySQL allows one AUTO_INCREMENT column, the first of some index: the
    // primary key's first column if it is one, else the first identity
    // column, given a KEY of its own below.
    let mysql_auto = table
        .primary_key
        .first()
        .copied()
        .filter(|&i| identity(&table.columns[i]))
        .or_else(|| table.columns.iter().position(identity));
    let mut auto_key = None;
    // SQLite: the primary key is declared on its column (`AUTOINCREMENT`).
    let mut inline_key = false;
    for (i, col) in table.columns.iter().enumerate() {
        let is_key = table.primary_key.contains(&i);
        // On MySQL a foreign key's columns must be of the same kind as the
        // key they reference (a `longtext` cannot reference a
        // `varchar(255)` key): they are typed as keys are.
        let references = target == Dialect::MySql
            && table
                .foreign_keys
                .iter()
                .any(|fk| fk.columns.contains(&col.name));
        let (mut ty, warning) = column_type(target, table.dialect, col, is_key || references);
        warnings.extend(warning);
        // From MySQL, a text column keeps its character set and collation;
        // a key column (the primary key, or the columns batches are cut on)
        // keeps the table's binary NO PAD collation: batches find their keys
        // on the target by byte-wise comparison, and keys distinct in the
        // source (under any collation) stay distinct. So do the columns a
        // foreign key links to a key column (`adapt` took their collation
        // away): InnoDB wants the same collation on both sides.
        if let (Dialect::MySql, Dialect::MySql, Some((charset, collation))) =
            (target, table.dialect, &col.collation)
            && !is_key
            && !table.key.contains(&i)
            && matches!(col.logical, Logical::Text { .. } | Logical::Enum(_))
        {
            ty.push_str(&format!(" CHARACTER SET {charset} COLLATE {collation}"));
        }
        let mut def = format!("{} {ty}", ident(target, &col.name));
        let generated = generated_sql(target, table, col, is_key, &mut warnings);
        if let Some(expression) = &generated {
            let auto = mysql_auto
                .filter(|_| target == Dialect::MySql)
                .map(|a| table.columns[a].name.as_str());
            let kind = generated_kind(target, col, expression, auto, &mut warnings);
            def.push_str(&format!(" GENERATED ALWAYS AS ({expression}) {kind}"));
        }
        if !col.nullable {
            def.push_str(" NOT NULL");
        }
        // Auto-increment keys stay auto-increment (`finish_job` moves each
        // counter past the copied keys and the source's own counter, see
        // `counters`). Where the target cannot keep it, a warning names
        // the column.
        if generated.is_some() {
            // A generated column has neither a default nor an identity.
        } else if identity(col) {
            match target {
                Dialect::Postgres => def.push_str(" GENERATED BY DEFAULT AS IDENTITY"),
                Dialect::MySql if mysql_auto == Some(i) => {
                    def.push_str(" AUTO_INCREMENT");
                    if table.primary_key.first() != Some(&i) {
                        auto_key = Some(i);
                    }
                }
                Dialect::MySql => warnings.push(format!(
                    "column {}: identity/auto-increment is not kept: MySQL allows one AUTO_INCREMENT column a table (column {} has it); new rows need explicit values",
                    col.name,
                    mysql_auto.map_or("?", |a| table.columns[a].name.as_str())
                )),
                // The rowid: a lone INTEGER PRIMARY KEY, AUTOINCREMENT so
                // that it has a counter (`sqlite_sequence`) that continues
                // where the source's does and never reissues an id, as
                // MySQL's and PostgreSQL's do not.
                Dialect::Sqlite if table.primary_key == [i] && ty == "INTEGER" => {
                    def.push_str(" PRIMARY KEY AUTOINCREMENT");
                    inline_key = true;
                }
                Dialect::Sqlite => warnings.push(format!(
                    "column {}: identity/auto-increment is not kept: SQLite has one only for a single-column INTEGER PRIMARY KEY; new rows need explicit values",
                    col.name
                )),
            }
        }
        match default_sql(target, col) {
            Some(d) if generated.is_none() => def.push_str(&format!(" DEFAULT {d}")),
            None if generated.is_none() && col.default.is_some() => warnings.push(format!(
                "column {}: its default {} has no equivalent for a {} column on {} and is not recreated",
                col.name,
                col.default.as_ref().map(default_text).unwrap_or_default(),
                col.source_type,
                dialect_name(target)
            )),
            _ => {}
        }
        if col.on_update_now && generated.is_none() {
            match (target, &col.logical) {
                (Dialect::MySql, Logical::DateTime | Logical::DateTimeTz) => {
                    def.push_str(" ON UPDATE CURRENT_TIMESTAMP(6)")
                }
                // A trigger (after the table, below).
                (Dialect::Postgres, Logical::DateTime | Logical::DateTimeTz) => {}
                _ => warnings.push(format!(
                    "column {}: ON UPDATE CURRENT_TIMESTAMP is not recreated ({} has no such clause): updates on the target leave it unchanged unless the application sets it",
                    col.name,
                    dialect_name(target)
                )),
            }
        }
        if let (Dialect::MySql, Some(comment)) = (target, &col.comment) {
            def.push_str(&format!(" COMMENT {}", literal(target, comment)));
        }
        if let Logical::Enum(labels) = &col.logical
            && target != Dialect::MySql
            && !labels.is_empty()
        {
            let quoted: Vec<String> = labels.iter().map(|l| literal(target, l)).collect();
            def.push_str(&format!(
                " CHECK ({} IN ({}))",
                ident(target, &col.name),
                quoted.join(", ")
            ));
        }
        defs.push(def);
    }
    for check in &table.checks {
        match checks::translate(table.dialect, target, &check.expression, &table.columns) {
            Some(expression) => defs.push(format!(
                "CONSTRAINT {} CHECK ({expression})",
                ident(target, &check_name(table, &check.name))
            )),
            None => warnings.push(
                match checks::sqlite_decimal_refusal(
                    table.dialect,
                    &check.expression,
                    &table.columns,
                )
                .filter(|_| target == Dialect::Sqlite)
                {
                    Some(why) => format!(
                        "CHECK constraint {} ({}) is not recreated: {why}",
                        check.name, check.expression
                    ),
                    None => format!(
                        "CHECK constraint {} ({}) has no faithful translation and is not recreated",
                        check.name, check.expression
                    ),
                },
            ),
        }
    }
    // SQLite cannot add a foreign key to an existing table: they are part of
    // CREATE TABLE (the caller leaves out those to tables the job does not
    // copy). The copy writes with foreign_keys off (see `connect`).
    if target == Dialect::Sqlite {
        for fk in &table.foreign_keys {
            let cols: Vec<String> = fk.columns.iter().map(|c| ident(target, c)).collect();
            let refs: Vec<String> = fk.ref_columns.iter().map(|c| ident(target, c)).collect();
            let mut def = format!(
                "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
                ident(target, &fk.name),
                cols.join(", "),
                ident(target, &fk.ref_table),
                refs.join(", ")
            );
            for (event, action) in [("DELETE", fk.on_delete), ("UPDATE", fk.on_update)] {
                if action != FkAction::NoAction {
                    def.push_str(&format!(" ON {event} {}", action.sql()));
                }
            }
            defs.push(def);
        }
    }
    // An AUTO_INCREMENT column outside the primary key's first place needs
    // an index it leads.
    if let Some(i) = auto_key {
        defs.push(format!("KEY ({})", ident(target, &table.columns[i].name)));
    }
    if !table.primary_key.is_empty() && !inline_key {
        let key: Vec<String> = table
            .primary_key
            .iter()
            .map(|&i| ident(target, &table.columns[i].name))
            .collect();
        defs.push(format!("PRIMARY KEY ({})", key.join(", ")));
    }
    let mut ddl = format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  {}\n)",
        qualified(target, schema, &table.name),
        defs.join(",\n  ")
    );
    if target == Dialect::MySql {
        ddl.push_str(&format!(
            " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={mysql_collation}"
        ));
        if let Some(comment) = &table.comment {
            // MySQL refuses longer table comments in strict mode.
            let kept: String = comment.chars().take(MYSQL_TABLE_COMMENT_CHARS).collect();
            if kept.len() < comment.len() {
                warnings.push(format!(
                    "the comment of table {} is cut to {MYSQL_TABLE_COMMENT_CHARS} characters, MySQL's limit",
                    table.name
                ));
            }
            ddl.push_str(&format!(" COMMENT={}", literal(target, &kept)));
        }
    }
    let mut statements = vec![ddl];
    match (target, &table.comment) {
        (Dialect::Postgres, Some(comment)) => statements.push(format!(
            "COMMENT ON TABLE {} IS {}",
            qualified(target, schema, &table.name),
            literal(target, comment)
        )),
        (Dialect::Sqlite, Some(_)) => warnings.push(format!(
            "the comment of table {} is not kept: SQLite has none",
            table.name
        )),
        _ => {}
    }
    if target == Dialect::Postgres {
        statements.extend(
            table
                .columns
                .iter()
                .filter(|c| c.on_update_now && c.generated.is_none())
                .filter(|c| matches!(c.logical, Logical::DateTime | Logical::DateTimeTz))
                .flat_map(|c| on_update_trigger(schema, &table.name, c)),
        );
    }
    let commented: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| c.comment.is_some())
        .collect();
    match target {
        Dialect::Postgres => statements.extend(commented.iter().map(|c| {
            format!(
                "COMMENT ON COLUMN {}.{} IS {}",
                qualified(target, schema, &table.name),
                ident(target, &c.name),
                literal(target, c.comment.as_deref().unwrap_or_default())
            )
        })),
        Dialect::Sqlite if !commented.is_empty() => warnings.push(format!(
            "column comments of {} are not kept: SQLite has none",
            table.name
        )),
        _ => {}
    }
    (statements, warnings)
}

/// The longest table comment MySQL accepts.
const MYSQL_TABLE_COMMENT_CHARS: usize = 2048;

/// A PostgreSQL exclusion constraint on the target, run after the load
/// with the indexes: on a PostgreSQL target the source's own definition
/// (`ALTER TABLE … ADD CONSTRAINT name EXCLUDE …`); `Err` with the plan's
/// warning elsewhere, since no other database has exclusion constraints
/// and a plain index of the same columns would enforce nothing.
pub fn exclusion_ddl(
    target: Dialect,
    schema: Option<&str>,
    table: &Table,
    exclusion: &Exclusion,
) -> Result<String, String> {
    if target == Dialect::Postgres && table.dialect == Dialect::Postgres {
        if !sqltext::self_contained(target, &exclusion.definition) {
            return Err(format!(
                "exclusion constraint {} ({}) is not recreated: its definition does not read as one clause",
                exclusion.name, exclusion.definition
            ));
        }
        return Ok(format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {}",
            qualified(target, schema, &table.name),
            ident(target, &truncate(&exclusion.name, 63)),
            exclusion.definition
        ));
    }
    Err(format!(
        "exclusion constraint {} ({}) is lost: {} has no exclusion constraints, so the target does not enforce it",
        exclusion.name,
        exclusion.definition,
        dialect_name(target)
    ))
}

/// MySQL's `ON UPDATE CURRENT_TIMESTAMP` on PostgreSQL: a `BEFORE UPDATE`
/// trigger that sets the column to the current time when the row changes
/// and the update left the column as it was (MySQL: when no value is
/// assigned to it; an assignment of its own current value is the one
/// case that differs).
fn on_update_trigger(schema: Option<&str>, table: &str, col: &Column) -> [String; 2] {
    let name = truncate(&format!("{table}_{}_on_update", col.name), 63);
    let function = match schema {
        Some(schema) => format!(
            "{}.{}",
            ident(Dialect::Postgres, schema),
            ident(Dialect::Postgres, &name)
        ),
        None => ident(Dialect::Postgres, &name),
    };
    let column = ident(Dialect::Postgres, &col.name);
    let now = match col.logical {
        Logical::DateTimeTz => "CURRENT_TIMESTAMP",
        _ => "LOCALTIMESTAMP",
    };
    [
        format!(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $freight$\n\
             BEGIN\n\
             IF NEW.{column} IS NOT DISTINCT FROM OLD.{column} AND NEW IS DISTINCT FROM OLD THEN\n\
             NEW.{column} := {now};\n\
             END IF;\n\
             RETURN NEW;\n\
             END $freight$"
        ),
        format!(
            "CREATE TRIGGER {} BEFORE UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {function}()",
            ident(Dialect::Postgres, &name),
            qualified(Dialect::Postgres, schema, table)
        ),
    ]
}

/// A default as a message names it.
fn default_text(default: &DefaultValue) -> String {
    match default {
        DefaultValue::Null => "NULL".to_owned(),
        DefaultValue::Number(n) => n.clone(),
        DefaultValue::String(s) => literal(Dialect::Postgres, s),
        DefaultValue::Bool(b) => b.to_string(),
        DefaultValue::CurrentTimestamp => "CURRENT_TIMESTAMP".to_owned(),
        DefaultValue::CurrentDate => "CURRENT_DATE".to_owned(),
        DefaultValue::CurrentTime => "CURRENT_TIME".to_owned(),
    }
}

fn dialect_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "PostgreSQL",
        Dialect::MySql => "MySQL/MariaDB",
        Dialect::Sqlite => "SQLite",
    }
}

/// A generated column's expression for the target's `GENERATED ALWAYS AS
/// (…) STORED`: the source's own in the same dialect, else translated
/// (`engine/expr.rs`). `None` (with a warning) where it does not
/// translate, for key columns and SQLite targets: the column is then a
/// plain one holding the values the source computed.
fn generated_sql(
    target: Dialect,
    table: &Table,
    col: &Column,
    is_key: bool,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let source_expression = col.generated.as_deref()?;
    // SQLite holds decimals as exact text and computes with them in
    // floating point: `big * q` would be 1.23456789012346e+16, not
    // 12345678901234567.89. Such columns hold the source's values.
    let computes_decimals = target == Dialect::Sqlite
        && (checks::is_decimal_text_on_sqlite(table.dialect, col)
            || !checks::decimal_text_columns(
                table.dialect,
                target,
                source_expression,
                &table.columns,
            )
            .is_empty());
    let translated = if is_key || computes_decimals {
        None
    } else if table.dialect == Dialect::Sqlite && target == Dialect::Sqlite {
        Some(source_expression.to_owned())
    } else if target == Dialect::Sqlite {
        // Token by token, like a CHECK (SQLite is loosely typed); what
        // that cannot spell (MySQL `CONCAT`) through the expression tree.
        checks::translate(table.dialect, target, source_expression, &table.columns).or_else(|| {
            expr::translate_generated(
                table.dialect,
                target,
                source_expression,
                col,
                &table.columns,
            )
        })
    } else if table.dialect == Dialect::MySql && target == Dialect::MySql {
        // MySQL 8 shows generation_expression escaped (see `sqltext`).
        sqltext::mysql_generation_expression(source_expression)
    } else if table.dialect == target {
        sqltext::self_contained(target, source_expression).then(|| source_expression.to_owned())
    } else {
        expr::translate_generated(
            table.dialect,
            target,
            source_expression,
            col,
            &table.columns,
        )
    };
    if translated.is_none() {
        let why = if is_key {
            "it is part of the key"
        } else if computes_decimals {
            "SQLite would compute it in floating point (decimals are exact text there)"
        } else {
            "its expression has no faithful translation"
        };
        warnings.push(format!(
            "column {}: generated column ({source_expression}) is created as a plain column holding the values the source computed: {why}",
            col.name
        ));
    }
    translated
}

/// `STORED` or `VIRTUAL` for a generated column on the target: VIRTUAL
/// where the source's is and the target has it (MySQL, SQLite; PostgreSQL
/// 15 stores every generated column), and on MySQL where the expression
/// reads the table's AUTO_INCREMENT column `auto` (MySQL and MariaDB refuse
/// a STORED one there: the value is not known when the row is stored),
/// with a warning when the source's was STORED. Both compute the same
/// values.
fn generated_kind(
    target: Dialect,
    col: &Column,
    expression: &str,
    auto: Option<&str>,
    warnings: &mut Vec<String>,
) -> &'static str {
    if target == Dialect::Postgres {
        return "STORED";
    }
    let reads_auto = auto.is_some_and(|auto| match checks::tokenize(target, expression) {
        Some(tokens) => tokens.iter().any(|t| match t {
            checks::Token::Ident(n) | checks::Token::Word(n) => n.eq_ignore_ascii_case(auto),
            _ => false,
        }),
        // Unsure (MySQL text it does not tokenize): VIRTUAL is right either way.
        None => expression
            .to_ascii_lowercase()
            .contains(&auto.to_ascii_lowercase()),
    });
    if col.generated_virtual {
        "VIRTUAL"
    } else if reads_auto {
        warnings.push(format!(
            "column {}: generated column is created VIRTUAL (the source's is STORED): MySQL/MariaDB refuse a STORED generated column that reads the AUTO_INCREMENT column {}; it computes the same values",
            col.name,
            auto.unwrap_or_default()
        ));
        "VIRTUAL"
    } else {
        "STORED"
    }
}

/// A CHECK constraint's name on the target: MySQL 8 scopes them per
/// schema (MariaDB names column checks after the column), so names from
/// MySQL and unnamed SQLite ones get the table as a prefix.
fn check_name(table: &Table, name: &str) -> String {
    if table.dialect == Dialect::MySql && !name.starts_with(&table.name) {
        truncate(&format!("{}_{name}", table.name), 63)
    } else {
        truncate(name, 63)
    }
}

/// The index's name on the target: MySQL scopes index names per table,
/// PostgreSQL per schema, so names from MySQL get the table as a prefix.
pub fn index_name(source: Dialect, table: &str, index: &Index) -> String {
    let name = if source == Dialect::MySql && !index.name.starts_with(table) {
        format!("{table}_{}", index.name)
    } else {
        index.name.clone()
    };
    truncate(&name, 63)
}

/// The index's `CREATE INDEX` on the target, or `None` where the target
/// cannot have it; the warnings say what is not kept. An index is never
/// made weaker than the source's: a unique index keeps exactly its key
/// columns (`INCLUDE` columns are carried only on PostgreSQL), and a
/// unique partial index is left out where its condition cannot follow.
pub fn index_ddl(
    target: Dialect,
    schema: Option<&str>,
    table: &Table,
    index: &Index,
    text_prefix: bool,
) -> (Option<String>, Vec<String>) {
    let source = table.dialect;
    let name = index_name(source, &table.name, index);
    let mut warnings = Vec::new();
    let mut kind = if index.unique { "UNIQUE " } else { "" };
    let mut using = None;
    match index.method.as_deref() {
        None => {}
        Some("FULLTEXT") if target == Dialect::MySql => kind = "FULLTEXT ",
        // Spatial columns are copied as WKB bytes (`longblob`), which a
        // SPATIAL index cannot index.
        Some("SPATIAL") if target == Dialect::MySql => {
            warnings.push(format!(
                "index {} is a SPATIAL index and is not recreated: spatial columns arrive as WKB bytes",
                index.name
            ));
            return (None, warnings);
        }
        // Columns that are PostGIS geometry on the target (see `adapt`).
        Some("SPATIAL")
            if target == Dialect::Postgres
                && index.columns.iter().all(|c| {
                    table.column(c).is_some_and(
                    |c| matches!(&c.logical, Logical::Other(t) if super::spatial::is_geometry(t)),
                )
                }) =>
        {
            using = Some("gist")
        }
        Some(m @ ("FULLTEXT" | "SPATIAL")) => {
            warnings.push(format!(
                "index {} is a {m} index and is not recreated: {} has no equivalent",
                index.name,
                dialect_name(target)
            ));
            return (None, warnings);
        }
        Some(m) if source == Dialect::Postgres && target == Dialect::Postgres => using = Some(m),
        // Both answer the same lookups as a b-tree.
        Some(m @ ("hash" | "brin")) => warnings.push(format!(
            "index {} uses {m} and is created as a b-tree index",
            index.name
        )),
        Some(m) => {
            warnings.push(format!(
                "index {} uses {m} and is not recreated: {} has no such index",
                index.name,
                dialect_name(target)
            ));
            return (None, warnings);
        }
    }
    let special = !kind.is_empty() && kind != "UNIQUE ";
    let cols: Vec<String> = index
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let quoted = ident(target, c);
            // MySQL cannot index TEXT/BLOB without a prefix length.
            let unbounded = table.column(c).is_some_and(|col| {
                matches!(
                    col.logical,
                    Logical::Text { max_len: None, .. }
                        | Logical::Bytes
                        | Logical::Other(_)
                        | Logical::Json
                ) || matches!(col.logical, Logical::Text { max_len: Some(n), .. } if n > 768)
            });
            let mut part = if text_prefix && target == Dialect::MySql && unbounded && !special {
                format!("{quoted}(255)")
            } else {
                quoted
            };
            if index.is_descending(i) {
                part.push_str(" DESC");
            }
            part
        })
        .collect();
    let mut tail = String::new();
    if !index.include.is_empty() {
        if target == Dialect::Postgres {
            let include: Vec<String> = index.include.iter().map(|c| ident(target, c)).collect();
            tail.push_str(&format!(" INCLUDE ({})", include.join(", ")));
        } else {
            warnings.push(format!(
                "index {}: INCLUDE ({}) is not kept ({} has no covering columns); the index holds its key columns only",
                index.name,
                index.include.join(", "),
                dialect_name(target)
            ));
        }
    }
    if let Some(predicate) = &index.predicate {
        let translated = match target {
            Dialect::MySql => None,
            _ => checks::translate(source, target, predicate, &table.columns),
        };
        match translated {
            Some(condition) => tail.push_str(&format!(" WHERE {condition}")),
            // Unique over every row would refuse rows the source holds.
            None if index.unique => {
                warnings.push(format!(
                    "index {} is a unique index of the rows where {predicate} and is not recreated: the condition cannot follow it to {}",
                    index.name,
                    dialect_name(target)
                ));
                return (None, warnings);
            }
            None => warnings.push(format!(
                "index {} (partial, where {predicate}) is created as an index of every row",
                index.name
            )),
        }
    }
    let using = using.map(|m| format!(" USING {m}")).unwrap_or_default();
    let ddl = format!(
        "CREATE {kind}INDEX {} ON {}{using} ({}){tail}",
        ident(target, &name),
        qualified(target, schema, &table.name),
        cols.join(", ")
    );
    (Some(ddl), warnings)
}

pub fn foreign_key_ddl(
    target: Dialect,
    schema: Option<&str>,
    table: &str,
    fk: &ForeignKey,
) -> String {
    let cols: Vec<String> = fk.columns.iter().map(|c| ident(target, c)).collect();
    let refs: Vec<String> = fk.ref_columns.iter().map(|c| ident(target, c)).collect();
    let mut ddl = format!(
        "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
        qualified(target, schema, table),
        ident(target, &truncate(&fk.name, 63)),
        cols.join(", "),
        qualified(target, schema, &fk.ref_table),
        refs.join(", ")
    );
    for (event, action) in [("DELETE", fk.on_delete), ("UPDATE", fk.on_update)] {
        let action = fk_action_on(target, action);
        if action != FkAction::NoAction {
            ddl.push_str(&format!(" ON {event} {}", action.sql()));
        }
    }
    ddl
}

/// InnoDB refuses `SET DEFAULT`; it becomes `NO ACTION` there (see
/// [`foreign_key_warnings`]).
fn fk_action_on(target: Dialect, action: FkAction) -> FkAction {
    match (target, action) {
        (Dialect::MySql, FkAction::SetDefault) => FkAction::NoAction,
        _ => action,
    }
}

/// What the target cannot keep of a foreign key's actions.
pub fn foreign_key_warnings(target: Dialect, fk: &ForeignKey) -> Option<String> {
    let lost = [("DELETE", fk.on_delete), ("UPDATE", fk.on_update)]
        .into_iter()
        .filter(|(_, a)| fk_action_on(target, *a) != *a)
        .map(|(event, a)| format!("ON {event} {}", a.sql()))
        .collect::<Vec<_>>();
    (!lost.is_empty()).then(|| {
        format!(
            "foreign key {}: {} is not supported by MySQL/MariaDB (InnoDB); created with NO ACTION",
            fk.name,
            lost.join(", ")
        )
    })
}

fn truncate(name: &str, max: usize) -> String {
    let mut end = name.len().min(max);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(dialect: Dialect) -> Table {
        let text = |name: &str| {
            Column::plain(
                name,
                "text",
                Logical::Text {
                    max_len: Some(100),
                    fixed: false,
                },
            )
        };
        Table {
            dialect,
            name: "users".to_owned(),
            columns: vec![text("email"), text("name")],
            key: Vec::new(),
            primary_key: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
            exclusions: Vec::new(),
            comment: None,
            inherited_by: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_unique_index_is_never_widened_by_its_include_columns() {
        let table = users(Dialect::Postgres);
        let mut index = Index::plain("users_email".into(), vec!["email".into()], true);
        index.include = vec!["name".into()];
        let (pg, _) = index_ddl(Dialect::Postgres, Some("public"), &table, &index, true);
        assert_eq!(
            pg.as_deref(),
            Some(
                "CREATE UNIQUE INDEX \"users_email\" ON \"public\".\"users\" (\"email\") INCLUDE (\"name\")"
            )
        );
        for target in [Dialect::MySql, Dialect::Sqlite] {
            let (ddl, warnings) = index_ddl(target, None, &table, &index, true);
            let ddl = ddl.unwrap_or_default();
            assert!(ddl.starts_with("CREATE UNIQUE INDEX"), "{ddl}");
            assert!(!ddl.contains("name"), "{ddl}");
            assert!(
                warnings[0].contains("INCLUDE (name) is not kept"),
                "{warnings:?}"
            );
        }
    }

    #[test]
    fn index_methods_follow_where_they_can() {
        let table = users(Dialect::Postgres);
        let mut index = Index::plain("users_name".into(), vec!["name".into()], false);
        index.method = Some("gin".into());
        index.descending = vec![true];
        let (pg, _) = index_ddl(Dialect::Postgres, None, &table, &index, true);
        assert!(pg.unwrap_or_default().contains("USING gin (\"name\" DESC)"));
        let (my, warnings) = index_ddl(Dialect::MySql, None, &table, &index, true);
        assert!(
            my.is_none() && warnings[0].contains("uses gin"),
            "{warnings:?}"
        );
        index.method = Some("hash".into());
        let (my, _) = index_ddl(Dialect::MySql, None, &table, &index, true);
        assert_eq!(
            my.as_deref(),
            Some("CREATE INDEX `users_name` ON `users` (`name` DESC)")
        );
        let mysql = users(Dialect::MySql);
        let mut fulltext = Index::plain("ft".into(), vec!["name".into()], false);
        fulltext.method = Some("FULLTEXT".into());
        let (my, _) = index_ddl(Dialect::MySql, None, &mysql, &fulltext, true);
        assert_eq!(
            my.as_deref(),
            Some("CREATE FULLTEXT INDEX `users_ft` ON `users` (`name`)")
        );
        let (pg, warnings) = index_ddl(Dialect::Postgres, None, &mysql, &fulltext, true);
        assert!(
            pg.is_none() && warnings[0].contains("FULLTEXT"),
            "{warnings:?}"
        );
    }
}
