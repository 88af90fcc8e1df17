//! Schema choices that take a look at the databases before the target
//! DDL is written (`typemap` itself only reads the neutral schema):
//!
//! - a `bigint unsigned` auto-increment key becomes a PostgreSQL `bigint`
//!   identity when the source's largest value fits (else `numeric(20,0)`
//!   without identity, and a warning naming the column), and so do the
//!   `bigint unsigned` columns that reference it (a foreign key needs the
//!   same type on both sides); `all` are the job's source tables;
//! - from PostgreSQL to PostgreSQL, a type the target does not have (an
//!   extension's type, a type of the source's own schemas) becomes text,
//!   with a warning, and the CHECKs and special indexes that need it are
//!   left out, so one odd column never fails the job;
//! - from MySQL to a PostgreSQL database with PostGIS, spatial columns
//!   become `geometry` (see `spatial`);
//! - a MySQL `enum` holding `''`, the value MySQL stores for an invalid one
//!   under a lax `sql_mode`, gets `''` among its labels on the target
//!   ([`empty_enum_values`], planning only).
//! - a target login privileged on Freight's own server gets no expression
//!   of the source's (see `own_server`);
//! - SQLite to SQLite, a rowid key not declared `AUTOINCREMENT` stays
//!   without (other targets get the source's auto-increment as theirs);
//! - MySQL to MySQL, a `tinyint(1)` stays the integer it is (other targets
//!   read it as a boolean), and a text column that foreign keys link to a
//!   key column takes the key's binary collation
//!   ([`collations_linked_to_keys`]).

use super::checks::{Token, tokenize};
use super::connect::Pool;
use super::error::{Failure, classify};
use super::model::{Dialect, Logical, Table};
use super::sql::{ident, table as qualified};
use super::{counters, own_server, spatial};

/// The table the target DDL is written from, and the warnings of the
/// choices made. `source_table` is the table as the source names it,
/// `table` as the target will (`identifiers`), column for column.
pub async fn for_target(
    source: &Pool,
    source_schema: Option<&str>,
    target: Option<&Pool>,
    target_dialect: Dialect,
    all: &[Table],
    source_table: &Table,
    table: &Table,
) -> Result<(Table, Vec<String>), Failure> {
    let mut out = table.clone();
    let mut warnings = Vec::new();
    if source_table.dialect == Dialect::MySql && target_dialect == Dialect::MySql {
        out.keep_tinyint1_as_integer();
        warnings.extend(collations_linked_to_keys(all, source_table, &mut out));
    }
    // SQLite → SQLite: a rowid table not declared AUTOINCREMENT has no
    // counter (it reuses the largest id once deleted) and arrives so.
    if let (Pool::Sqlite(lite), Dialect::Sqlite) = (source, target_dialect)
        && out.columns.iter().any(|c| c.auto_increment)
    {
        let create: Option<String> =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
                .bind(&source_table.name)
                .fetch_optional(lite)
                .await
                .map_err(|e| classify(&e, "reading the source table's definition"))?
                .flatten();
        if !create.is_some_and(|sql| counters::declares_autoincrement(&sql)) {
            for col in &mut out.columns {
                col.auto_increment = false;
            }
        }
    }
    if target_dialect == Dialect::Postgres {
        for (i, col) in source_table.columns.iter().enumerate() {
            if col.logical != Logical::UInt64 {
                continue;
            }
            // The auto-increment key itself, or a column referencing one
            // (`wp_postmeta.post_id`): both become bigint, or neither.
            let parent = source_table.foreign_keys.iter().find_map(|fk| {
                let at = fk.columns.iter().position(|c| *c == col.name)?;
                let parent = all.iter().find(|t| t.name == fk.ref_table)?;
                let parent_col = parent.column(fk.ref_columns.get(at)?)?;
                (parent_col.auto_increment && parent_col.logical == Logical::UInt64)
                    .then(|| (parent, parent_col.name.clone()))
            });
            if !col.auto_increment && parent.is_none() {
                continue;
            }
            let mut fits = !above_i64(source, source_schema, source_table, &col.name).await?;
            if let Some((parent, parent_col)) = &parent {
                fits = fits && !above_i64(source, source_schema, parent, parent_col).await?;
            }
            if fits {
                out.columns[i].logical = Logical::Int(8);
            } else if col.auto_increment {
                out.columns[i].auto_increment = false;
                warnings.push(format!(
                    "column {}: bigint unsigned auto-increment holds values above 2^63-1, which no PostgreSQL bigint identity holds: created as numeric(20,0) without identity (inserts must give it a value)",
                    out.columns[i].name
                ));
            }
        }
    }
    if let (Dialect::MySql, Some(Pool::Postgres(pg, _))) = (source_table.dialect, target) {
        geometry_columns(pg, &mut out).await?;
    }
    if let (Dialect::Postgres, Some(Pool::Postgres(pg, _))) = (source_table.dialect, target) {
        let mut missing = Vec::new();
        for col in &mut out.columns {
            let Logical::Other(spelling) = &col.logical else {
                continue;
            };
            let exists: bool = sqlx::query_scalar("SELECT to_regtype($1) IS NOT NULL")
                .bind(spelling)
                .fetch_one(pg)
                .await
                .map_err(|e| classify(&e, "looking up a column type on the target"))?;
            if exists {
                continue;
            }
            warnings.push(format!(
                "column {}: type {spelling} does not exist on the target (an extension or a type of the source's own) and is created as text holding its text form",
                col.name
            ));
            missing.push((col.name.clone(), spelling.clone()));
            col.logical = Logical::Text {
                max_len: None,
                fixed: false,
            };
        }
        if !missing.is_empty() {
            out.checks.retain(|check| {
                let needs = missing
                    .iter()
                    .find(|(column, ty)| {
                        let bare = ty.trim_end_matches("[]");
                        check.expression.contains(&format!("::{bare}"))
                            || reads_column(&check.expression, column)
                    })
                    .map(|(column, _)| column);
                if let Some(column) = needs {
                    warnings.push(format!(
                        "CHECK constraint {} ({}) reads column {column}, which is text on the target, and is not recreated",
                        check.name, check.expression
                    ));
                }
                needs.is_none()
            });
            out.indexes.retain(|index| {
                let special = index.method.is_some()
                    && index
                        .columns
                        .iter()
                        .any(|c| missing.iter().any(|(m, _)| m == c));
                if special {
                    warnings.push(format!(
                        "index {} ({}) is not recreated: its column is text on the target",
                        index.name,
                        index.method.as_deref().unwrap_or_default()
                    ));
                }
                !special
            });
        }
    }
    if target.is_some_and(Pool::privileged_on_freight_server) {
        warnings.extend(own_server::strip_expressions(&mut out));
    }
    Ok((out, warnings))
}

/// A column of one of the job's tables: (table, column).
type ColumnOf<'a> = (&'a str, &'a str);

/// MySQL → MySQL: the text columns of `table` that foreign keys between
/// the job's tables (`all`, as the source names them) link, directly or
/// through other such columns, to a key column. Key columns get the
/// table's binary NO PAD collation on the target (see
/// `typemap::create_table`) and InnoDB refuses a foreign key whose columns
/// differ in character set or collation (errno 150), so these lose the
/// source's collation too (`collation = None`: the table's applies), with a
/// warning naming the key. `source_table` and `table` are the same table as
/// the source and the target name it.
fn collations_linked_to_keys(
    all: &[Table],
    source_table: &Table,
    table: &mut Table,
) -> Vec<String> {
    // Foreign key column pairs among the job's tables.
    let mut edges: Vec<(ColumnOf<'_>, ColumnOf<'_>)> = Vec::new();
    for t in all {
        for fk in &t.foreign_keys {
            if !all.iter().any(|p| p.name == fk.ref_table) {
                continue;
            }
            for (c, r) in fk.columns.iter().zip(&fk.ref_columns) {
                edges.push(((&t.name, c), (&fk.ref_table, r)));
            }
        }
    }
    let is_key = |(t, c): (&str, &str)| {
        all.iter().find(|x| x.name == t).is_some_and(|x| {
            x.columns
                .iter()
                .position(|col| col.name == c)
                .is_some_and(|i| x.primary_key.contains(&i) || x.key.contains(&i))
        })
    };
    let mut warnings = Vec::new();
    for (i, col) in source_table.columns.iter().enumerate() {
        let Some((_, collation)) = &col.collation else {
            continue;
        };
        if source_table.primary_key.contains(&i) || source_table.key.contains(&i) {
            continue;
        }
        // The columns linked to this one, nearest first, until a key.
        let start = (source_table.name.as_str(), col.name.as_str());
        let mut seen = vec![start];
        let mut at = 0;
        let mut key = None;
        while let Some(&node) = seen.get(at) {
            at += 1;
            if node != start && is_key(node) {
                key = Some(node);
                break;
            }
            for &(a, b) in &edges {
                for (from, to) in [(a, b), (b, a)] {
                    if from == node && !seen.contains(&to) {
                        seen.push(to);
                    }
                }
            }
        }
        let Some((key_table, key_column)) = key else {
            continue;
        };
        if let Some(target_col) = table.columns.get_mut(i) {
            target_col.collation = None;
            warnings.push(format!(
                "column {}: created with the binary collation of key column {key_table}.{key_column}, which a foreign key links it to (both sides of a foreign key need the same collation on MySQL), not {collation}: it compares byte-wise on the target",
                target_col.name
            ));
        }
    }
    warnings
}

/// MySQL `enum` columns holding `''` (what MySQL stores, as index 0, for
/// an invalid value inserted under a lax `sql_mode`): the target's enum or
/// CHECK would refuse their rows, so `''` becomes the first label (it sorts
/// first in MySQL too), with a warning counting them. Columns that hold
/// none keep their labels exactly. One pass over a table with such columns
/// counts them all (a full scan, like the copy's).
pub async fn empty_enum_values(
    source: &Pool,
    source_schema: Option<&str>,
    source_table: &Table,
    table: &mut Table,
) -> Result<Vec<String>, Failure> {
    let Pool::MySql(my) = source else {
        return Ok(Vec::new());
    };
    let enums: Vec<usize> = (0..source_table.columns.len())
        .filter(|&i| {
            matches!(&source_table.columns[i].logical,
                Logical::Enum(labels) if !labels.iter().any(String::is_empty))
        })
        .collect();
    if enums.is_empty() {
        return Ok(Vec::new());
    }
    let sums: Vec<String> = enums
        .iter()
        .map(|&i| {
            let column = ident(Dialect::MySql, &source_table.columns[i].name);
            format!("CAST(COALESCE(SUM({column} = ''), 0) AS SIGNED)")
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {}",
        sums.join(", "),
        qualified(Dialect::MySql, source_schema, &source_table.name)
    );
    let context = "counting invalid enum values";
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_one(my)
        .await
        .map_err(|e| classify(&e, context))?;
    let mut warnings = Vec::new();
    for (at, &i) in enums.iter().enumerate() {
        let n: i64 = sqlx::Row::try_get(&row, at).map_err(|e| classify(&e, context))?;
        if n == 0 {
            continue;
        }
        if let Some(Logical::Enum(labels)) = table.columns.get_mut(i).map(|c| &mut c.logical) {
            labels.insert(0, String::new());
        }
        let col = &source_table.columns[i];
        warnings.push(format!(
            "column {}: {} holds the empty value '' (MySQL's value for an invalid enum value) in {n} row(s): '' is added to the allowed values on the target so those rows arrive as ''",
            col.name, col.source_type
        ));
    }
    Ok(warnings)
}

/// MySQL spatial columns become PostGIS `geometry` when the target
/// database has the extension; their "copied as WKB" warnings go.
async fn geometry_columns(pg: &sqlx::PgPool, table: &mut Table) -> Result<(), Failure> {
    let spatial: Vec<usize> = (0..table.columns.len())
        .filter(|&i| spatial::postgis_type(&table.columns[i].source_type).is_some())
        .collect();
    if spatial.is_empty() {
        return Ok(());
    }
    let postgis: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')")
            .fetch_one(pg)
            .await
            .map_err(|e| classify(&e, "looking up PostGIS on the target"))?;
    if !postgis {
        return Ok(());
    }
    for i in spatial {
        let col = &mut table.columns[i];
        if let Some(ty) = spatial::postgis_type(&col.source_type) {
            col.logical = Logical::Other(ty.to_owned());
            let prefix = format!("column {}: spatial type", col.name);
            table.warnings.retain(|w| !w.starts_with(&prefix));
        }
    }
    Ok(())
}

/// The table with less for a target that refused it, once no CHECK or
/// generated expression alone was the cause (the planner tries each on its
/// own first, and leaves out only those refused): first without column
/// collations, then with every type of no neutral equivalent as text, last
/// without any CHECK or generated expression (the columns stay, holding
/// the source's values). `None` when nothing is left to take out; else
/// what was.
pub fn simpler(table: &mut Table) -> Option<String> {
    // A collation of another server (MariaDB's `uca1400` ones on MySQL).
    if table.columns.iter().any(|c| c.collation.is_some()) {
        for col in &mut table.columns {
            col.collation = None;
        }
        return Some(
            "column collations are not kept (the table's binary collation applies)".to_owned(),
        );
    }
    let mut texts = Vec::new();
    for col in &mut table.columns {
        if let Logical::Other(spelling) = &col.logical {
            texts.push(format!("{} ({spelling})", col.name));
            col.logical = Logical::Text {
                max_len: None,
                fixed: false,
            };
        }
    }
    if !texts.is_empty() {
        return Some(format!("columns {} are created as text", texts.join(", ")));
    }
    let generated: Vec<String> = table
        .columns
        .iter()
        .filter(|c| c.generated.is_some())
        .map(|c| c.name.clone())
        .collect();
    if table.checks.is_empty() && generated.is_empty() {
        return None;
    }
    let checks: Vec<String> = table.checks.drain(..).map(|c| c.name).collect();
    for col in &mut table.columns {
        col.generated = None;
    }
    let mut parts = Vec::new();
    if !checks.is_empty() {
        parts.push(format!(
            "CHECK constraints {} are not recreated",
            checks.join(", ")
        ));
    }
    if !generated.is_empty() {
        parts.push(format!(
            "generated columns {} are plain columns holding the source's values",
            generated.join(", ")
        ));
    }
    Some(parts.join("; "))
}

/// Whether the column holds a value above `i64::MAX` (one index lookup).
async fn above_i64(
    pool: &Pool,
    schema: Option<&str>,
    table: &Table,
    column: &str,
) -> Result<bool, Failure> {
    let Pool::MySql(my) = pool else {
        return Ok(false);
    };
    let sql = format!(
        "SELECT CAST(COALESCE(MAX({}) > 9223372036854775807, 0) AS SIGNED) FROM {}",
        ident(Dialect::MySql, column),
        qualified(Dialect::MySql, schema, &table.name)
    );
    let above: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(my)
        .await
        .map_err(|e| classify(&e, "reading the largest auto-increment value"))?;
    Ok(above != 0)
}

/// Whether a PostgreSQL expression names the column (unsure: yes).
fn reads_column(expression: &str, column: &str) -> bool {
    let Some(tokens) = tokenize(Dialect::Postgres, expression) else {
        return true;
    };
    tokens.iter().any(|t| match t {
        Token::Ident(name) => name == column,
        Token::Word(word) => word.eq_ignore_ascii_case(column),
        _ => false,
    })
}
