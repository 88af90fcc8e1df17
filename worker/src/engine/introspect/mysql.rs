//! MySQL / MariaDB `information_schema`.

use std::collections::{BTreeMap, HashSet};

use sqlx::{MySqlPool, Row};

use super::{choose_key, parse_default};
use crate::engine::model::{
    Check, Column, DefaultValue, Dialect, FkAction, ForeignKey, Index, Logical, Table,
};
use crate::engine::sql::ident;

pub async fn list_tables(pool: &MySqlPool, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables
         WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name
         LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| r.try_get::<String, _>(0)).collect()
}

/// Which of `names` the server has as collations.
pub async fn offered_collations(
    pool: &MySqlPool,
    names: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    let marks = vec!["?"; names.len()].join(", ");
    let sql = format!(
        "SELECT CAST(collation_name AS CHAR) FROM information_schema.collations
         WHERE collation_name IN ({marks})"
    );
    let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
    for name in names {
        query = query.bind(*name);
    }
    query.fetch_all(pool).await
}

/// The database's views, at most `rows`, no definition longer than `cap`
/// bytes sent.
pub async fn view_definitions(
    pool: &MySqlPool,
    cap: i64,
    rows: i64,
    budget: &mut super::SchemaBudget,
) -> Result<Result<Vec<super::ViewDef>, super::SchemaTooLarge>, sqlx::Error> {
    let schema: String = sqlx::query_scalar("SELECT CAST(DATABASE() AS CHAR)")
        .fetch_one(pool)
        .await?;
    let stream = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR),
                CASE WHEN LENGTH(view_definition) <= ? THEN CAST(view_definition AS CHAR) END,
                CAST(COALESCE(LENGTH(view_definition), 0) AS SIGNED)
         FROM information_schema.views WHERE table_schema = DATABASE() ORDER BY table_name
         LIMIT ?",
    )
    .bind(cap)
    .bind(rows)
    .fetch(pool);
    super::collect_views(stream, &schema, budget).await
}

/// See [`super::schema_text_bytes`]: columns (names, types, defaults,
/// generation expressions, comments).
pub async fn schema_text_bytes(pool: &MySqlPool, name: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(LENGTH(column_name) + LENGTH(column_type)
                    + COALESCE(LENGTH(column_default), 0)
                    + COALESCE(LENGTH(generation_expression), 0)
                    + COALESCE(LENGTH(column_comment), 0) + 64), 0) AS SIGNED)
         FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?",
    )
    .bind(name)
    .fetch_optional(pool)
    .await
}

pub async fn row_estimate(pool: &MySqlPool, name: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CAST(table_rows AS SIGNED) FROM information_schema.tables
         WHERE table_schema = DATABASE() AND table_name = ?",
    )
    .bind(name)
    .fetch_optional(pool)
    .await
    .map(Option::flatten)
}

pub async fn table(pool: &MySqlPool, name: &str) -> Result<Option<Table>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR), CAST(column_type AS CHAR),
                CAST(is_nullable AS CHAR), CAST(column_default AS CHAR), CAST(extra AS CHAR),
                CAST(character_maximum_length AS SIGNED), CAST(numeric_precision AS SIGNED),
                CAST(numeric_scale AS SIGNED), CAST(datetime_precision AS SIGNED),
                CAST(column_comment AS CHAR), CAST(generation_expression AS CHAR),
                CAST(character_set_name AS CHAR), CAST(collation_name AS CHAR)
         FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }

    // MariaDB's JSON is a LONGTEXT with a json_valid() check.
    let all_checks = check_constraints(pool, name).await;
    let json_columns: HashSet<String> = all_checks
        .iter()
        .filter_map(|(_, c)| json_valid_column(c))
        .collect();
    let checks: Vec<Check> = all_checks
        .into_iter()
        .filter(|(_, clause)| json_valid_column(clause).is_none())
        .map(|(name, expression)| Check { name, expression })
        .collect();

    let mut warnings = Vec::new();
    let mut columns = Vec::with_capacity(rows.len());
    for row in &rows {
        let col_name: String = row.try_get(0)?;
        let data_type: String = row.try_get::<String, _>(1)?.to_ascii_lowercase();
        let column_type: String = row.try_get(2)?;
        let nullable = row.try_get::<String, _>(3)? == "YES";
        let default: Option<String> = row.try_get(4)?;
        let extra: String = row.try_get::<Option<String>, _>(5)?.unwrap_or_default();
        let char_len: Option<i64> = row.try_get(6)?;
        let precision: Option<i64> = row.try_get(7)?;
        let scale: Option<i64> = row.try_get(8)?;
        let quoted = ident(Dialect::MySql, &col_name);
        let is_json = json_columns.contains(&col_name);
        let (logical, select_expr, warning) = logical_of(
            &data_type,
            &column_type,
            char_len,
            precision,
            scale,
            is_json,
            &quoted,
        );
        if let Some(w) = warning {
            warnings.push(format!("column {col_name}: {w}"));
        }
        let auto_increment = extra.contains("auto_increment");
        let comment: Option<String> = row
            .try_get::<Option<String>, _>(10)?
            .filter(|c| !c.is_empty());
        let is_generated = extra.to_ascii_uppercase().contains("GENERATED")
            && !extra.contains("DEFAULT_GENERATED");
        // MariaDB also lists a generated column's expression as its default.
        let generation: Option<String> = row.try_get(11)?;
        let generated = is_generated.then(|| generation.or(default.clone()).unwrap_or_default());
        let default = if is_generated { None } else { default };
        let parsed_default = match default {
            Some(raw) if !auto_increment => {
                let parsed = parse_default(&raw).or_else(|| {
                    // MySQL 8 shows string defaults unquoted.
                    (!extra.contains("DEFAULT_GENERATED")
                        && matches!(logical, Logical::Text { .. } | Logical::Enum(_)))
                    .then(|| DefaultValue::String(raw.clone()))
                });
                if parsed.is_none() {
                    warnings.push(format!(
                        "column {col_name}: default {raw} is not portable and is not recreated"
                    ));
                }
                parsed
            }
            _ => None,
        };
        let charset: Option<String> = row.try_get(12)?;
        let collation: Option<String> = row.try_get(13)?;
        columns.push(Column {
            // MariaDB: `on update current_timestamp()`; MySQL 8:
            // `DEFAULT_GENERATED on update CURRENT_TIMESTAMP`.
            on_update_now: extra
                .to_ascii_lowercase()
                .contains("on update current_timestamp"),
            collation: charset.zip(collation),
            unsigned: column_type.contains("unsigned"),
            name: col_name,
            source_type: column_type,
            logical,
            nullable,
            default: parsed_default,
            select_expr,
            auto_increment,
            comment,
            generated_virtual: is_generated && extra.to_ascii_uppercase().contains("VIRTUAL"),
            generated,
        });
    }

    let stats = sqlx::query(
        "SELECT CAST(index_name AS CHAR), CAST(non_unique AS SIGNED), CAST(column_name AS CHAR),
                CAST(sub_part AS SIGNED), CAST(index_type AS CHAR), CAST(collation AS CHAR)
         FROM information_schema.statistics
         WHERE table_schema = DATABASE() AND table_name = ? ORDER BY index_name, seq_in_index",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    type Parts = (bool, Vec<Option<String>>, Vec<bool>, Option<String>);
    let mut by_index: BTreeMap<String, Parts> = BTreeMap::new();
    let mut prefixed = BTreeMap::<String, Vec<String>>::new();
    for row in &stats {
        let index_name: String = row.try_get(0)?;
        let non_unique: i64 = row.try_get(1)?;
        let column: Option<String> = row.try_get(2)?;
        let sub_part: Option<i64> = row.try_get(3)?;
        let index_type: Option<String> = row.try_get(4)?;
        let order: Option<String> = row.try_get(5)?;
        // FULLTEXT and SPATIAL are kinds of index, not prefixes.
        let special = index_type.filter(|t| matches!(t.as_str(), "FULLTEXT" | "SPATIAL"));
        if special.is_none()
            && let (Some(column), Some(chars)) = (&column, sub_part)
        {
            prefixed
                .entry(index_name.clone())
                .or_default()
                .push(format!("{column}({chars})"));
        }
        let entry = by_index.entry(index_name).or_insert((
            non_unique == 0,
            Vec::new(),
            Vec::new(),
            special,
        ));
        entry.1.push(column);
        entry.2.push(order.as_deref() == Some("D"));
    }
    // Other databases index whole values; a unique prefix index becomes
    // stricter (unique on the whole value), which the plan says.
    for (index_name, parts) in &prefixed {
        warnings.push(format!(
            "index {index_name} indexes prefixes ({}) and becomes an index of the whole columns",
            parts.join(", ")
        ));
    }
    let mut primary = Vec::new();
    let mut indexes = Vec::new();
    for (index_name, (unique, cols, descending, method)) in by_index {
        let Some(cols) = cols.into_iter().collect::<Option<Vec<String>>>() else {
            warnings.push(format!(
                "index {index_name} uses expressions and is not recreated"
            ));
            continue;
        };
        if index_name == "PRIMARY" {
            primary = cols;
        } else {
            indexes.push(Index {
                name: index_name,
                columns: cols,
                unique,
                descending: if descending.iter().any(|d| *d) {
                    descending
                } else {
                    Vec::new()
                },
                include: Vec::new(),
                predicate: None,
                method,
            });
        }
    }

    let fk_rows = sqlx::query(
        "SELECT CAST(k.constraint_name AS CHAR), CAST(k.column_name AS CHAR),
                CAST(k.referenced_table_name AS CHAR), CAST(k.referenced_column_name AS CHAR),
                CAST(r.delete_rule AS CHAR), CAST(r.update_rule AS CHAR)
         FROM information_schema.key_column_usage k
         LEFT JOIN information_schema.referential_constraints r
           ON r.constraint_schema = k.table_schema AND r.table_name = k.table_name
          AND r.constraint_name = k.constraint_name
         WHERE k.table_schema = DATABASE() AND k.table_name = ? AND k.referenced_table_name IS NOT NULL
         ORDER BY k.constraint_name, k.ordinal_position",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    let mut foreign_keys: Vec<ForeignKey> = Vec::new();
    for row in &fk_rows {
        let fk_name: String = row.try_get(0)?;
        let column: String = row.try_get(1)?;
        let ref_table: String = row.try_get(2)?;
        let ref_column: String = row.try_get(3)?;
        let on_delete: Option<String> = row.try_get(4)?;
        let on_update: Option<String> = row.try_get(5)?;
        match foreign_keys.last_mut() {
            Some(fk) if fk.name == fk_name => {
                fk.columns.push(column);
                fk.ref_columns.push(ref_column);
            }
            _ => foreign_keys.push(ForeignKey {
                name: fk_name,
                columns: vec![column],
                ref_table,
                ref_columns: vec![ref_column],
                on_delete: FkAction::parse(on_delete.as_deref().unwrap_or_default()),
                on_update: FkAction::parse(on_update.as_deref().unwrap_or_default()),
            }),
        }
    }

    let (comment, triggers) = comment_and_triggers(pool, name).await?;
    warnings.extend(super::triggers_warning(name, &triggers));
    let mut table = Table {
        dialect: Dialect::MySql,
        name: name.to_owned(),
        columns,
        key: Vec::new(),
        primary_key: Vec::new(),
        indexes,
        foreign_keys,
        checks,
        exclusions: Vec::new(),
        comment,
        inherited_by: Vec::new(),
        warnings,
    };
    choose_key(&mut table, &primary);
    Ok(Some(table))
}

/// The table's comment (`COMMENT='…'`; none when empty) and the names of
/// its triggers.
async fn comment_and_triggers(
    pool: &MySqlPool,
    name: &str,
) -> Result<(Option<String>, Vec<String>), sqlx::Error> {
    let comment: Option<String> = sqlx::query_scalar(
        "SELECT CAST(table_comment AS CHAR) FROM information_schema.tables
         WHERE table_schema = DATABASE() AND table_name = ?",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?
    .flatten();
    let triggers = sqlx::query_scalar(
        "SELECT CAST(trigger_name AS CHAR) FROM information_schema.triggers
         WHERE event_object_schema = DATABASE() AND event_object_table = ? ORDER BY trigger_name",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    Ok((comment.filter(|c| !c.is_empty()), triggers))
}

/// The table's CHECK constraints as (name, clause). MariaDB lists them with
/// their table in `check_constraints`; MySQL 8 only through
/// `table_constraints`. Unreadable (MySQL before 8.0.16) means none.
async fn check_constraints(pool: &MySqlPool, name: &str) -> Vec<(String, String)> {
    let read = |sql: &'static str| async move {
        sqlx::query(sql)
            .bind(name)
            .fetch_all(pool)
            .await
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
                    .collect::<Vec<(String, String)>>()
            })
    };
    match read(
        "SELECT CAST(constraint_name AS CHAR), CAST(check_clause AS CHAR)
         FROM information_schema.check_constraints
         WHERE constraint_schema = DATABASE() AND table_name = ? ORDER BY constraint_name",
    )
    .await
    {
        Ok(found) => found,
        Err(_) => read(
            "SELECT CAST(t.constraint_name AS CHAR), CAST(c.check_clause AS CHAR)
             FROM information_schema.table_constraints t
             JOIN information_schema.check_constraints c
               ON c.constraint_schema = t.constraint_schema AND c.constraint_name = t.constraint_name
             WHERE t.table_schema = DATABASE() AND t.table_name = ? AND t.constraint_type = 'CHECK'
             ORDER BY t.constraint_name",
        )
        .await
        .unwrap_or_default(),
    }
}

/// `json_valid(`doc`)`: the check that makes a MariaDB LONGTEXT a JSON column.
fn json_valid_column(clause: &str) -> Option<String> {
    let rest = clause.strip_prefix("json_valid(`")?;
    let (column, tail) = rest.split_once('`')?;
    (tail == ")").then(|| column.to_owned())
}

type Mapped = (Logical, Option<String>, Option<String>);

/// The neutral type of a MySQL column, the expression to select it with when
/// the driver cannot decode it directly, and a warning for lossy fallbacks.
fn logical_of(
    data_type: &str,
    column_type: &str,
    char_len: Option<i64>,
    precision: Option<i64>,
    scale: Option<i64>,
    is_json: bool,
    quoted: &str,
) -> Mapped {
    let unsigned = column_type.contains("unsigned");
    let len = char_len.and_then(|l| u32::try_from(l).ok());
    let plain = |l: Logical| (l, None, None);
    match data_type {
        "tinyint" if column_type.starts_with("tinyint(1)") && !unsigned => plain(Logical::Bool),
        "tinyint" => plain(Logical::Int(2)),
        "smallint" => plain(Logical::Int(if unsigned { 4 } else { 2 })),
        "mediumint" => plain(Logical::Int(4)),
        "int" | "integer" => plain(Logical::Int(if unsigned { 8 } else { 4 })),
        "bigint" if unsigned => plain(Logical::UInt64),
        "bigint" => plain(Logical::Int(8)),
        "year" => plain(Logical::Int(2)),
        "decimal" | "numeric" => plain(Logical::Decimal {
            precision: precision.and_then(|p| u32::try_from(p).ok()),
            scale: scale.and_then(|s| u32::try_from(s).ok()),
        }),
        "float" => plain(Logical::Float32),
        "double" | "real" => plain(Logical::Float64),
        "char" => plain(Logical::Text {
            max_len: len,
            fixed: true,
        }),
        "varchar" => plain(Logical::Text {
            max_len: len,
            fixed: false,
        }),
        "tinytext" | "text" | "mediumtext" | "longtext" if is_json => plain(Logical::Json),
        "tinytext" | "text" | "mediumtext" | "longtext" => plain(Logical::Text {
            max_len: None,
            fixed: false,
        }),
        "json" => plain(Logical::Json),
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            plain(Logical::Bytes)
        }
        "date" => plain(Logical::Date),
        "datetime" => plain(Logical::DateTime),
        "timestamp" => plain(Logical::DateTimeTz),
        // TIME spans -838:59:59..838:59:59: a duration, read as text.
        "time" => (
            Logical::Duration,
            Some(format!("CAST({quoted} AS CHAR)")),
            None,
        ),
        "enum" => plain(Logical::Enum(enum_labels(column_type))),
        "set" => (
            Logical::Text {
                max_len: None,
                fixed: false,
            },
            None,
            Some(format!("{column_type} is copied as comma-separated text")),
        ),
        "uuid" => (Logical::Uuid, Some(format!("CAST({quoted} AS CHAR)")), None),
        // BIN() drops leading zeros; every digit of the width is kept.
        "bit" => {
            let width = super::type_args(column_type).first().copied().unwrap_or(1);
            (
                Logical::Bits(width),
                Some(format!("LPAD(BIN({quoted}), {width}, '0')")),
                None,
            )
        }
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" => (
            Logical::Bytes,
            Some(format!("ST_AsWKB({quoted})")),
            Some(format!("spatial type {column_type} is copied as WKB bytes")),
        ),
        _ => (
            Logical::Other(column_type.to_owned()),
            Some(format!("CAST({quoted} AS CHAR)")),
            Some(format!(
                "type {column_type} has no portable equivalent; copied as its text form"
            )),
        ),
    }
}

/// `enum('a','b''c')` → ["a", "b'c"].
fn enum_labels(column_type: &str) -> Vec<String> {
    let inner = column_type
        .trim_start_matches("enum(")
        .trim_end_matches(')');
    let mut labels = Vec::new();
    let mut current = String::new();
    let mut in_quote = false;
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, in_quote) {
            ('\'', true) if chars.peek() == Some(&'\'') => {
                chars.next();
                current.push('\'');
            }
            ('\'', true) => {
                in_quote = false;
                labels.push(std::mem::take(&mut current));
            }
            ('\'', false) => in_quote = true,
            (c, true) => current.push(c),
            _ => {}
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_mysql_types() {
        let q = "`c`";
        assert_eq!(
            logical_of("tinyint", "tinyint(1)", None, None, None, false, q).0,
            Logical::Bool
        );
        assert_eq!(
            logical_of("int", "int(10) unsigned", None, None, None, false, q).0,
            Logical::Int(8)
        );
        assert_eq!(
            logical_of("bigint", "bigint(20) unsigned", None, None, None, false, q).0,
            Logical::UInt64
        );
        assert_eq!(enum_labels("enum('a','b''c')"), vec!["a", "b'c"]);
        assert!(
            logical_of("point", "point", None, None, None, false, q)
                .2
                .is_some()
        );
    }
}
