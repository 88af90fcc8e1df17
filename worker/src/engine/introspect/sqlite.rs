//! SQLite: `sqlite_master` and the table-valued pragmas. Declared types are
//! mapped by SQLite's own affinity rules, refined by common spellings
//! (BOOLEAN, DATETIME, DECIMAL(p,s), JSON, UUID).

use sqlx::{Row, SqlitePool};

use super::{choose_key, parse_default, type_args};
use crate::engine::checks::{sqlite_checks, sqlite_generated, sqlite_index_predicate};
use crate::engine::model::{Check, Column, Dialect, FkAction, ForeignKey, Index, Logical, Table};

/// Table names longer than this are not read: PostgreSQL and MySQL cap
/// theirs at 63 and 64 bytes, SQLite does not, and the list is held in
/// memory before any other limit applies.
pub const MAX_NAME_BYTES: i64 = 1024;

/// The names, `None` for one longer than [`MAX_NAME_BYTES`].
pub async fn list_tables(
    pool: &SqlitePool,
    limit: i64,
) -> Result<Vec<Option<String>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CASE WHEN length(CAST(name AS BLOB)) <= ? THEN name END FROM sqlite_master
         WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT ?",
    )
    .bind(MAX_NAME_BYTES)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The file's views, at most `rows`, no name or definition longer than
/// `cap` bytes read.
pub async fn view_definitions(
    pool: &SqlitePool,
    cap: i64,
    rows: i64,
    budget: &mut super::SchemaBudget,
) -> Result<Result<Vec<super::ViewDef>, super::SchemaTooLarge>, sqlx::Error> {
    // A name longer than the cap is not read either (its length stands in:
    // the cost, which counts it, refuses the row).
    let stream = sqlx::query_as(
        "SELECT CASE WHEN length(CAST(name AS BLOB)) <= ?1 THEN name
                     ELSE CAST(length(CAST(name AS BLOB)) AS TEXT) END,
                CASE WHEN length(CAST(sql AS BLOB)) <= ?1 THEN sql END,
                length(CAST(name AS BLOB)) + coalesce(length(CAST(sql AS BLOB)), 0)
         FROM sqlite_master WHERE type = 'view' ORDER BY name LIMIT ?2",
    )
    .bind(cap)
    .bind(rows)
    .fetch(pool);
    super::collect_views(stream, "main", budget).await
}

/// See [`super::schema_text_bytes`]: the `CREATE` statements of the table
/// and its indexes, which hold all of it.
pub async fn schema_text_bytes(pool: &SqlitePool, name: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(length(CAST(sql AS BLOB))), 0) FROM sqlite_master WHERE tbl_name = ?",
    )
    .bind(name)
    .fetch_optional(pool)
    .await
}

pub async fn table(pool: &SqlitePool, name: &str) -> Result<Option<Table>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let create_sql: Option<String> =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(name)
            .fetch_optional(pool)
            .await?
            .flatten();
    let generated_exprs = sqlite_generated(create_sql.as_deref().unwrap_or_default());
    let mut warnings = Vec::new();
    let mut columns = Vec::with_capacity(rows.len());
    let mut pk: Vec<(i64, String)> = Vec::new();
    for row in &rows {
        let col_name: String = row.try_get(0)?;
        let declared: String = row.try_get(1)?;
        let not_null: i64 = row.try_get(2)?;
        let default: Option<String> = row.try_get(3)?;
        let pk_pos: i64 = row.try_get(4)?;
        // 2: VIRTUAL generated, 3: STORED generated (1: hidden column of a
        // virtual table, never copied).
        let hidden: i64 = row.try_get(5)?;
        if hidden == 1 {
            continue;
        }
        let generated = (hidden >= 2).then(|| {
            generated_exprs
                .iter()
                .find(|(c, _)| c.eq_ignore_ascii_case(&col_name))
                .map(|(_, e)| e.clone())
                .unwrap_or_default()
        });
        if pk_pos > 0 {
            pk.push((pk_pos, col_name.clone()));
        }
        let logical = logical_of(&declared);
        if let Logical::Other(_) = logical {
            warnings.push(format!(
                "column {col_name}: declared type {declared:?} has no portable equivalent; copied as text"
            ));
        }
        let parsed_default = default.as_deref().and_then(|raw| {
            let parsed = parse_default(raw);
            if parsed.is_none() {
                warnings.push(format!(
                    "column {col_name}: default {raw} is not portable and is not recreated"
                ));
            }
            parsed
        });
        columns.push(Column {
            name: col_name,
            source_type: declared,
            logical,
            // SQLite lets non-integer primary keys hold NULL; treat key
            // columns as NOT NULL as every other database does.
            nullable: not_null == 0 && pk_pos == 0,
            default: parsed_default,
            select_expr: None,
            auto_increment: false,
            unsigned: false,
            comment: None,
            generated,
            generated_virtual: hidden == 2,
            on_update_now: false,
            collation: None,
        });
    }
    pk.sort();
    let primary: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();
    // An INTEGER PRIMARY KEY is the rowid: SQLite's auto-increment.
    if let [only] = primary.as_slice()
        && let Some(col) = columns.iter_mut().find(|c| &c.name == only)
        && col.source_type.eq_ignore_ascii_case("integer")
    {
        col.auto_increment = true;
    }

    let index_rows = sqlx::query(
        "SELECT l.name, l.\"unique\", l.origin, l.partial, m.sql FROM pragma_index_list(?) l
         LEFT JOIN sqlite_master m ON m.type = 'index' AND m.name = l.name ORDER BY l.name",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    let mut indexes = Vec::new();
    // Names given to this table's UNIQUE constraints so far.
    let mut chosen_names: Vec<String> = Vec::new();
    for row in &index_rows {
        let index_name: String = row.try_get(0)?;
        let unique: i64 = row.try_get(1)?;
        let origin: String = row.try_get(2)?;
        let partial: i64 = row.try_get(3)?;
        let index_sql: Option<String> = row.try_get(4)?;
        if origin == "pk" {
            continue;
        }
        let predicate = if partial != 0 {
            let found = index_sql.as_deref().and_then(sqlite_index_predicate);
            if found.is_none() {
                warnings.push(format!(
                    "index {index_name} is partial and its condition cannot be read; not recreated"
                ));
                continue;
            }
            found
        } else {
            None
        };
        let cols: Vec<(Option<String>, i64)> = sqlx::query_as(
            "SELECT name, \"desc\" FROM pragma_index_xinfo(?) WHERE \"key\" = 1 ORDER BY seqno",
        )
        .bind(&index_name)
        .fetch_all(pool)
        .await?;
        let descending: Vec<bool> = cols.iter().map(|(_, d)| *d != 0).collect();
        match cols
            .into_iter()
            .map(|(c, _)| c)
            .collect::<Option<Vec<String>>>()
        {
            Some(cols) => indexes.push(Index {
                name: if index_name.starts_with(AUTOINDEX_PREFIX) {
                    let chosen = autoindex_name(pool, name, &cols, &chosen_names).await?;
                    chosen_names.push(chosen.clone());
                    chosen
                } else {
                    index_name
                },
                columns: cols,
                unique: unique != 0,
                descending: if descending.iter().any(|d| *d) {
                    descending
                } else {
                    Vec::new()
                },
                include: Vec::new(),
                predicate,
                method: None,
            }),
            None => warnings.push(format!(
                "index {index_name} uses expressions and is not recreated"
            )),
        }
    }

    let fk_rows = sqlx::query(
        "SELECT id, \"table\", \"from\", \"to\", on_delete, on_update
         FROM pragma_foreign_key_list(?) ORDER BY id, seq",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    let mut foreign_keys: Vec<(i64, ForeignKey)> = Vec::new();
    for row in &fk_rows {
        let id: i64 = row.try_get(0)?;
        let ref_table: String = row.try_get(1)?;
        let from: String = row.try_get(2)?;
        let to: Option<String> = row.try_get(3)?;
        let on_delete: String = row.try_get(4)?;
        let on_update: String = row.try_get(5)?;
        let Some(to) = to else {
            warnings.push(format!(
                "foreign key on {from} names no referenced column and is not recreated"
            ));
            continue;
        };
        match foreign_keys.last_mut() {
            Some((last, fk)) if *last == id => {
                fk.columns.push(from);
                fk.ref_columns.push(to);
            }
            _ => foreign_keys.push((
                id,
                ForeignKey {
                    name: format!("fk_{name}_{id}"),
                    columns: vec![from],
                    ref_table,
                    ref_columns: vec![to],
                    on_delete: FkAction::parse(&on_delete),
                    on_update: FkAction::parse(&on_update),
                },
            )),
        }
    }

    let checks = sqlite_checks(create_sql.as_deref().unwrap_or_default())
        .into_iter()
        .enumerate()
        .map(|(i, (check_name, expression))| Check {
            name: check_name.unwrap_or_else(|| format!("{name}_check{}", i + 1)),
            expression,
        })
        .collect();

    let triggers: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? ORDER BY name",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    warnings.extend(super::triggers_warning(name, &triggers));
    let mut table = Table {
        dialect: Dialect::Sqlite,
        name: name.to_owned(),
        columns,
        key: Vec::new(),
        primary_key: Vec::new(),
        indexes,
        foreign_keys: foreign_keys.into_iter().map(|(_, fk)| fk).collect(),
        checks,
        exclusions: Vec::new(),
        comment: None,
        inherited_by: Vec::new(),
        warnings,
    };
    choose_key(&mut table, &primary);
    Ok(Some(table))
}

/// How SQLite names the index behind a UNIQUE (or non-rowid PRIMARY KEY)
/// constraint. The prefix is reserved: a target SQLite refuses to create
/// an index so named, and elsewhere the name means nothing.
const AUTOINDEX_PREFIX: &str = "sqlite_autoindex_";

/// The shortest identifier limit of the targets (PostgreSQL's 63 bytes;
/// MySQL allows 64): a longer name would be cut there and could meet
/// another.
const MAX_INDEX_NAME_BYTES: usize = 63;

/// The name a UNIQUE constraint's index gets on the target, as PostgreSQL
/// would name it: `<table>_<columns>_key`, cut to fit the identifier limit,
/// then `_key1`, `_key2`, … while it names anything in the source file (on
/// PostgreSQL and SQLite indexes share one namespace with tables) or
/// another constraint of this table (`taken`).
async fn autoindex_name(
    pool: &SqlitePool,
    table: &str,
    columns: &[String],
    taken: &[String],
) -> Result<String, sqlx::Error> {
    let stem = format!("{table}_{}", columns.join("_"));
    let mut n: u64 = 0;
    loop {
        let suffix = if n == 0 {
            "_key".to_owned()
        } else {
            format!("_key{n}")
        };
        let candidate = format!(
            "{}{suffix}",
            cut(&stem, MAX_INDEX_NAME_BYTES.saturating_sub(suffix.len()))
        );
        // Names compare without case in SQLite and MySQL (and after
        // `identifiers: lower` in PostgreSQL).
        n += 1;
        if taken.iter().any(|t| t.eq_ignore_ascii_case(&candidate)) {
            continue;
        }
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM sqlite_master WHERE lower(name) = lower(?) LIMIT 1")
                .bind(&candidate)
                .fetch_optional(pool)
                .await?;
        if exists.is_none() {
            return Ok(candidate);
        }
    }
}

/// `name` cut to at most `max` bytes on a character boundary.
fn cut(name: &str, max: usize) -> &str {
    let mut end = name.len().min(max);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The neutral type of a declared SQLite type.
pub fn logical_of(declared: &str) -> Logical {
    let upper = declared.to_ascii_uppercase();
    let args = type_args(&upper);
    let has = |s: &str| upper.contains(s);
    if upper.is_empty() {
        return Logical::Text {
            max_len: None,
            fixed: false,
        };
    }
    if upper.starts_with("BIT_TEXT") {
        Logical::Bits(args.first().copied().unwrap_or(1))
    } else if has("BOOL") || upper.starts_with("TINYINT(1)") {
        Logical::Bool
    } else if has("BIGINT") || upper == "INTEGER" || upper == "INT" {
        Logical::Int(8)
    } else if has("SMALLINT") || has("TINYINT") {
        Logical::Int(2)
    } else if has("INT") && !has("INTERVAL") && !has("POINT") {
        Logical::Int(if has("MEDIUMINT") { 4 } else { 8 })
    } else if has("JSON") {
        Logical::Json
    } else if has("UUID") {
        Logical::Uuid
    } else if has("DECIMAL") || has("NUMERIC") {
        Logical::Decimal {
            precision: args.first().copied(),
            scale: args.get(1).copied(),
        }
    } else if has("CHAR") || has("CLOB") || has("TEXT") {
        Logical::Text {
            max_len: args.first().copied(),
            fixed: upper.starts_with("CHAR")
                || upper.starts_with("NCHAR")
                || upper.starts_with("CHARACTER("),
        }
    } else if has("BLOB") || has("BYTEA") || has("BINARY") {
        Logical::Bytes
    } else if has("DOUB") || has("REAL") || has("FLOA") {
        // SQLite stores every float as a double, `FLOAT` columns included:
        // a single-precision target type would round them.
        Logical::Float64
    } else if has("TIMESTAMPTZ") || has("WITH TIME ZONE") {
        Logical::DateTimeTz
    } else if has("DATETIME") || has("TIMESTAMP") {
        Logical::DateTime
    } else if has("DATE") {
        Logical::Date
    } else if has("TIME") {
        Logical::Time
    } else {
        Logical::Other(declared.to_owned())
    }
}
