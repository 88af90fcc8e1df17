//! PostgreSQL catalogs (`pg_catalog`, so partitioned tables, enums and
//! identity columns are seen as they are).

use sqlx::{PgPool, Row};

use super::{choose_key, parse_default, type_args};
use crate::engine::model::{
    Check, Column, Dialect, Exclusion, FkAction, ForeignKey, Index, Logical, Table,
};

pub async fn list_tables(
    pool: &PgPool,
    schema: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                         AND d.objid = c.oid AND d.deptype = 'e')
         ORDER BY c.relname LIMIT $2",
    )
    .bind(schema)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Views and materialized views of the schema (not an extension's own,
/// such as PostGIS `geometry_columns`: the extension makes those), at most
/// `rows`, no definition longer than `cap` bytes sent.
pub async fn view_definitions(
    pool: &PgPool,
    schema: &str,
    cap: i64,
    rows: i64,
    budget: &mut super::SchemaBudget,
) -> Result<Result<Vec<super::ViewDef>, super::SchemaTooLarge>, sqlx::Error> {
    // With the schema as the search path, the definitions name its tables
    // unqualified (a PostgreSQL target recreates them in its own schema).
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('search_path', $1, true)")
        .bind(crate::engine::sql::ident(Dialect::Postgres, schema))
        .execute(&mut *tx)
        .await?;
    let views = {
        let stream = sqlx::query_as(
            "SELECT v.name, CASE WHEN v.bytes <= $2 THEN v.def END, v.bytes
             FROM (SELECT c.relname::text AS name, d.def,
                          coalesce(octet_length(d.def), 0)::int8 AS bytes
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   CROSS JOIN LATERAL (SELECT CASE WHEN c.relkind = 'v'
                                       THEN pg_get_viewdef(c.oid, true) END AS def) d
                   WHERE n.nspname = $1 AND c.relkind IN ('v', 'm')
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                   AND d.objid = c.oid AND d.deptype = 'e')
                   ORDER BY c.relname LIMIT $3) v
             ORDER BY v.name",
        )
        .bind(schema)
        .bind(cap)
        .bind(rows)
        .fetch(&mut *tx);
        super::collect_views(stream, schema, budget).await?
    };
    tx.rollback().await?;
    let Ok(views) = views else {
        return Ok(views);
    };
    let casts = type_casts(pool).await?;
    Ok(Ok(views
        .into_iter()
        .map(|view| super::ViewDef {
            definition: view
                .definition
                .and_then(|d| retype_casts(&d, &casts).ok_or_else(|| UNREADABLE.to_owned())),
            ..view
        })
        .collect()))
}

/// See [`super::schema_text_bytes`]: columns (names, types, defaults,
/// comments), constraints, index conditions and the table's comment.
pub async fn schema_text_bytes(
    pool: &PgPool,
    schema: &str,
    name: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT ((SELECT coalesce(sum(octet_length(a.attname::text)
                        + octet_length(format_type(a.atttypid, a.atttypmod))
                        + coalesce(octet_length(pg_get_expr(d.adbin, d.adrelid)), 0)
                        + coalesce(octet_length(col_description(a.attrelid, a.attnum)), 0) + 64), 0)
                  FROM pg_attribute a
                  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
               + (SELECT coalesce(sum(octet_length(pg_get_constraintdef(k.oid)) + 64), 0)
                  FROM pg_constraint k WHERE k.conrelid = c.oid)
               + (SELECT coalesce(sum(coalesce(octet_length(pg_get_expr(i.indpred, i.indrelid)), 0)
                        + 64 * i.indnatts), 0)
                  FROM pg_index i WHERE i.indrelid = c.oid)
               + coalesce(octet_length(obj_description(c.oid, 'pg_class')), 0))::int8
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relname = $2",
    )
    .bind(schema)
    .bind(name)
    .fetch_optional(pool)
    .await
}

pub async fn row_estimate(
    pool: &PgPool,
    schema: &str,
    name: &str,
) -> Result<Option<i64>, sqlx::Error> {
    // -1 (PostgreSQL 14+) or 0 until the table is first analyzed.
    sqlx::query_scalar(
        "SELECT c.reltuples::bigint FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relname = $2",
    )
    .bind(schema)
    .bind(name)
    .fetch_optional(pool)
    .await
}

pub async fn table(pool: &PgPool, schema: &str, name: &str) -> Result<Option<Table>, sqlx::Error> {
    let oid: Option<i64> = sqlx::query_scalar(
        "SELECT c.oid::int8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
    )
    .bind(schema)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let Some(oid) = oid else { return Ok(None) };

    let rows = sqlx::query(
        "SELECT a.attname::text, format_type(b.oid, base.typmod),
                NOT a.attnotnull,
                pg_get_expr(d.adbin, d.adrelid), b.typname::text, b.typtype::text,
                a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false),
                (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = b.oid),
                col_description(a.attrelid, a.attnum),
                CASE WHEN t.typtype = 'd' THEN format_type(t.oid, NULL) END,
                a.attgenerated <> '',
                el.typtype::text
         FROM pg_attribute a
         JOIN pg_type t ON t.oid = a.atttypid
         -- A domain is copied as its base type, through domains of domains;
         -- the type modifier is the one some level of the chain declares.
         JOIN LATERAL (
           WITH RECURSIVE chain(oid, typmod, depth) AS (
             SELECT t.oid, a.atttypmod, 0
             UNION ALL
             SELECT ty.typbasetype, ty.typtypmod, c.depth + 1
             FROM chain c JOIN pg_type ty ON ty.oid = c.oid WHERE ty.typtype = 'd')
           SELECT (SELECT oid FROM chain ORDER BY depth DESC LIMIT 1) AS oid,
                  (SELECT max(typmod) FROM chain) AS typmod
         ) base ON true
         JOIN pg_type b ON b.oid = base.oid
         -- An array's element type (arrays of enums and composites).
         LEFT JOIN pg_type el ON el.oid = b.typelem AND b.typcategory = 'A'
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;

    let mut warnings = Vec::new();
    let mut columns = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get(0)?;
        let spelled: String = row.try_get(1)?;
        let default: Option<String> = row.try_get(3)?;
        let typname: String = row.try_get(4)?;
        let typtype: String = row.try_get(5)?;
        let auto_increment: bool = row.try_get(6)?;
        let labels: Option<Vec<String>> = row.try_get(7)?;
        let comment: Option<String> = row.try_get(8)?;
        let domain: Option<String> = row.try_get(9)?;
        if let Some(domain) = &domain {
            warnings.push(format!(
                "column {name}: domain {domain} is created as its base type {spelled}; the domain's constraints are not recreated"
            ));
        }
        if typname == "citext" {
            warnings.push(format!(
                "column {name}: citext is copied as text; comparisons on the target are not case-insensitive"
            ));
        }
        // A generated column's "default" is its expression.
        let is_generated: bool = row.try_get(10)?;
        let (default, generated) = if is_generated {
            (None, default)
        } else {
            (default, None)
        };
        let element: Option<String> = row.try_get(11)?;
        let (logical, needs_text) = match (typtype.as_str(), element.as_deref()) {
            // The target has no such types (enums become CHECKed text).
            (_, Some("e")) => {
                warnings.push(format!(
                    "column {name}: {spelled} (an array of an enum type) is copied as an array of text (text[] on PostgreSQL)"
                ));
                (Logical::Other("text[]".to_owned()), true)
            }
            ("c", _) | (_, Some("c")) => {
                warnings.push(format!(
                    "column {name}: composite type {spelled} is copied as its text form (text)"
                ));
                (
                    Logical::Text {
                        max_len: None,
                        fixed: false,
                    },
                    true,
                )
            }
            _ => logical_of(&typname, &typtype, &spelled, labels),
        };
        // No warning here for a type without a neutral equivalent: a
        // PostgreSQL target keeps it, and the other targets' type mapping
        // says it is stored as text.
        let parsed_default = match (&default, auto_increment) {
            (Some(raw), false) => {
                let parsed = parse_default(raw);
                if parsed.is_none() {
                    warnings.push(format!(
                        "column {name}: default {raw} is not portable and is not recreated"
                    ));
                }
                parsed
            }
            _ => None,
        };
        // Types a user creates (enums, composites, ranges, arrays of
        // those) may have a user's cast to text: read through their output
        // function, which no cast replaces (see `own_server`).
        let user_type = |t: &str| matches!(t, "e" | "c" | "r" | "m");
        let quoted = crate::engine::sql::ident(Dialect::Postgres, &name);
        let select_expr = match needs_text {
            false => None,
            true if user_type(&typtype) || element.as_deref().is_some_and(user_type) => {
                Some(crate::engine::own_server::output_text(&quoted))
            }
            true => Some(format!("{quoted}::text")),
        };
        columns.push(Column {
            select_expr,
            name,
            source_type: spelled,
            logical,
            nullable: row.try_get(2)?,
            default: parsed_default,
            auto_increment,
            unsigned: false,
            comment,
            generated,
            // PostgreSQL (15) generated columns are always STORED.
            generated_virtual: false,
            on_update_now: false,
            collation: None,
        });
    }

    let index_rows = sqlx::query(
        "SELECT ic.relname::text, i.indisunique, i.indisprimary,
                array(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o),
                i.indexprs IS NOT NULL, i.indnkeyatts::int4,
                array(SELECT (i.indoption[s] & 1) <> 0 FROM generate_series(0, i.indnkeyatts - 1) s ORDER BY s),
                am.amname::text, pg_get_expr(i.indpred, i.indrelid)
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_am am ON am.oid = ic.relam
         -- An exclusion constraint's index is the constraint's (below), never
         -- an index of its own: alone it would not enforce anything.
         WHERE i.indrelid = $1::oid AND NOT i.indisexclusion ORDER BY ic.relname",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;
    let mut primary = Vec::new();
    let mut indexes = Vec::new();
    for row in index_rows {
        let index_name: String = row.try_get(0)?;
        let unique: bool = row.try_get(1)?;
        let is_primary: bool = row.try_get(2)?;
        let mut cols: Vec<String> = row.try_get(3)?;
        let expressions: bool = row.try_get(4)?;
        let key_count = usize::try_from(row.try_get::<i32, _>(5)?).unwrap_or(0);
        let descending: Vec<bool> = row.try_get(6)?;
        let method: String = row.try_get(7)?;
        let predicate: Option<String> = row.try_get(8)?;
        // `INCLUDE` columns follow the key columns: they are carried, not
        // part of the key (nor of its uniqueness).
        let include = cols.split_off(key_count.min(cols.len()));
        if is_primary {
            primary = cols;
        } else if expressions {
            warnings.push(format!(
                "index {index_name} uses expressions and is not recreated"
            ));
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
                include,
                predicate,
                method: (method != "btree").then_some(method),
            });
        }
    }

    let fk_rows = sqlx::query(
        "SELECT con.conname::text, rc.relname::text,
                array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o),
                array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o),
                con.confdeltype::text, con.confupdtype::text
         FROM pg_constraint con JOIN pg_class rc ON rc.oid = con.confrelid
         WHERE con.conrelid = $1::oid AND con.contype = 'f' ORDER BY con.conname",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;
    let mut foreign_keys = Vec::new();
    for row in fk_rows {
        foreign_keys.push(ForeignKey {
            name: row.try_get(0)?,
            ref_table: row.try_get(1)?,
            columns: row.try_get(2)?,
            ref_columns: row.try_get(3)?,
            on_delete: fk_action(&row.try_get::<String, _>(4)?),
            on_update: fk_action(&row.try_get::<String, _>(5)?),
        });
    }

    let check_rows = sqlx::query(
        "SELECT conname::text, pg_get_constraintdef(oid), convalidated FROM pg_constraint
         WHERE conrelid = $1::oid AND contype = 'c' ORDER BY conname",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;
    let casts = type_casts(pool).await?;
    let mut checks = Vec::new();
    for row in check_rows {
        let check_name: String = row.try_get(0)?;
        let definition: String = row.try_get(1)?;
        let validated: bool = row.try_get(2)?;
        if !validated {
            warnings.push(format!(
                "CHECK constraint {check_name} is NOT VALID on the source (rows may violate it) and is not recreated"
            ));
            continue;
        }
        match check_body(&definition).and_then(|body| retype_casts(&body, &casts)) {
            Some(expression) => checks.push(Check {
                name: check_name,
                expression,
            }),
            None => warnings.push(format!(
                "CHECK constraint {check_name} ({definition}) is not recreated"
            )),
        }
    }

    let structure = structure(pool, oid, name, &mut columns, &mut warnings).await?;
    let mut table = Table {
        dialect: Dialect::Postgres,
        name: name.to_owned(),
        columns,
        key: Vec::new(),
        primary_key: Vec::new(),
        indexes,
        foreign_keys,
        checks,
        exclusions: structure.exclusions,
        comment: structure.comment,
        inherited_by: structure.inherited_by,
        warnings,
    };
    choose_key(&mut table, &primary);
    Ok(Some(table))
}

/// What a PostgreSQL table is besides its columns, keys and checks.
struct Structure {
    comment: Option<String>,
    inherited_by: Vec<String>,
    exclusions: Vec<Exclusion>,
}

/// Names listed in a warning at most; the rest are counted.
const LISTED_NAMES: usize = 10;

fn listed(names: &[String]) -> String {
    let mut out = names
        .iter()
        .take(LISTED_NAMES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED_NAMES {
        out.push_str(&format!(" and {} more", names.len() - LISTED_NAMES));
    }
    out
}

/// Inheritance, partitioning, sequences shared with other tables,
/// exclusion constraints, triggers and the table's comment: what the target
/// gets of them, and warnings for what it does not.
async fn structure(
    pool: &PgPool,
    oid: i64,
    name: &str,
    columns: &mut [Column],
    warnings: &mut Vec<String>,
) -> Result<Structure, sqlx::Error> {
    // Related tables by name, qualified when in another schema.
    let row = sqlx::query(
        "SELECT c.relkind::text, obj_description(c.oid, 'pg_class'),
                array(SELECT CASE WHEN k.relnamespace = c.relnamespace THEN k.relname::text
                                  ELSE k.oid::regclass::text END
                      FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
                      WHERE i.inhparent = c.oid ORDER BY 1),
                array(SELECT CASE WHEN k.relnamespace = c.relnamespace THEN k.relname::text
                                  ELSE k.oid::regclass::text END
                      FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhparent
                      WHERE i.inhrelid = c.oid ORDER BY i.inhseqno),
                CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END
         FROM pg_class c WHERE c.oid = $1::oid",
    )
    .bind(oid)
    .fetch_one(pool)
    .await?;
    let relkind: String = row.try_get(0)?;
    let comment: Option<String> = row.try_get(1)?;
    let children: Vec<String> = row.try_get(2)?;
    let parents: Vec<String> = row.try_get(3)?;
    let partition_key: Option<String> = row.try_get(4)?;
    let mut inherited_by = Vec::new();
    if relkind == "p" {
        warnings.push(format!(
            "table {name} is partitioned on the source (PARTITION BY {}): it arrives as one unpartitioned table holding the rows of all its partitions ({}); the partitions are not copied as tables of their own",
            partition_key.unwrap_or_default(),
            listed(&children)
        ));
    } else if !children.is_empty() {
        warnings.push(format!(
            "table {name} has inheritance children ({}): inheritance is not recreated; {name} arrives with its own rows only (read with ONLY) and each child copied is a separate table with its own rows, so a query of {name} on the target (a view over it included) no longer returns its children's rows",
            listed(&children)
        ));
        inherited_by = children;
    }
    if !parents.is_empty() && relkind != "p" {
        warnings.push(format!(
            "table {name} inherits from {}: inheritance is not recreated; {name} arrives as a separate table with all its columns (the inherited ones included) and its own rows only",
            listed(&parents)
        ));
    }

    // A sequence numbering columns of several tables (a parent's `serial`
    // that its children inherit) becomes an identity per table.
    let shared = sqlx::query(
        "SELECT a.attname::text,
                CASE WHEN s.relnamespace = t.relnamespace THEN s.relname::text
                     ELSE s.oid::regclass::text END,
                array_agg(DISTINCT CASE WHEN t2.relnamespace = t.relnamespace THEN t2.relname::text
                                        ELSE t2.oid::regclass::text END || '.' || a2.attname::text)
         FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid
         JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         JOIN pg_depend dep ON dep.classid = 'pg_attrdef'::regclass AND dep.objid = d.oid
              AND dep.refclassid = 'pg_class'::regclass
         JOIN pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
         JOIN pg_depend dep2 ON dep2.classid = 'pg_attrdef'::regclass
              AND dep2.refclassid = 'pg_class'::regclass AND dep2.refobjid = s.oid
              AND dep2.objid <> d.oid
         JOIN pg_attrdef d2 ON d2.oid = dep2.objid
         JOIN pg_attribute a2 ON a2.attrelid = d2.adrelid AND a2.attnum = d2.adnum
         JOIN pg_class t2 ON t2.oid = d2.adrelid
         WHERE a.attrelid = $1::oid AND NOT a.attisdropped
         GROUP BY a.attname, s.oid, s.relname, s.relnamespace, t.relnamespace ORDER BY 1",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;
    for row in shared {
        let column: String = row.try_get(0)?;
        let sequence: String = row.try_get(1)?;
        let others: Vec<String> = row.try_get(2)?;
        warnings.push(format!(
            "column {column}: its sequence {sequence} also numbers {} on the source; on the target each table gets an identity of its own (continuing past its own largest value), so new rows of these tables can get the same id",
            listed(&others)
        ));
    }

    let exclusion_rows = sqlx::query(
        "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = $1::oid AND contype = 'x' ORDER BY conname",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;
    let mut exclusions = Vec::new();
    for row in exclusion_rows {
        exclusions.push(Exclusion {
            name: row.try_get(0)?,
            definition: row.try_get(1)?,
        });
    }

    // User triggers (not those of foreign keys). One Freight itself made
    // for a MySQL `ON UPDATE CURRENT_TIMESTAMP` column (named and
    // implemented `<table>_<column>_on_update`, see
    // `typemap::on_update_trigger`) is that column's clause again.
    let trigger_rows = sqlx::query(
        "SELECT t.tgname::text,
                (SELECT a.attname::text FROM pg_attribute a
                 WHERE a.attrelid = t.tgrelid AND a.attnum > 0 AND NOT a.attisdropped
                   AND p.proname = t.tgname
                   AND left(c.relname || '_' || a.attname || '_on_update', 63) = t.tgname::text
                 LIMIT 1)
         FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
         JOIN pg_class c ON c.oid = t.tgrelid
         WHERE t.tgrelid = $1::oid AND NOT t.tgisinternal ORDER BY 1",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;
    let mut triggers = Vec::new();
    for row in trigger_rows {
        let trigger: String = row.try_get(0)?;
        let freight_column: Option<String> = row.try_get(1)?;
        match freight_column.and_then(|c| columns.iter_mut().find(|col| col.name == c)) {
            Some(col) if matches!(col.logical, Logical::DateTime | Logical::DateTimeTz) => {
                col.on_update_now = true;
            }
            _ => triggers.push(trigger),
        }
    }
    if let Some(warning) = super::triggers_warning(name, &triggers) {
        warnings.push(warning);
    }
    Ok(Structure {
        comment,
        inherited_by,
        exclusions,
    })
}

/// Casts to types the target does not get, with the type they become:
/// enum types (created as CHECKed text) and domains (created as their base
/// type), as `format_type` spells them (schema-qualified when not visible).
async fn type_casts(pool: &PgPool) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "WITH RECURSIVE chain(top, oid, typmod, depth) AS (
           SELECT t.oid, t.typbasetype, t.typtypmod, 1 FROM pg_type t
           WHERE t.typtype = 'd'
             AND t.typnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
           UNION ALL
           SELECT c.top, ty.typbasetype, greatest(c.typmod, ty.typtypmod), c.depth + 1
           FROM chain c JOIN pg_type ty ON ty.oid = c.oid WHERE ty.typtype = 'd')
         SELECT format_type(oid, NULL), 'text' FROM pg_type WHERE typtype = 'e'
         UNION ALL
         (SELECT DISTINCT ON (c.top) format_type(c.top, NULL),
                 CASE WHEN b.typtype = 'e' THEN 'text' ELSE format_type(c.oid, c.typmod) END
          FROM chain c JOIN pg_type b ON b.oid = c.oid
          ORDER BY c.top, c.depth DESC)",
    )
    .fetch_all(pool)
    .await
}

/// Why a definition [`retype_casts`] could not read is not recreated.
const UNREADABLE: &str =
    "its definition has an unterminated literal, identifier or comment, and is not rewritten";

/// `'sad'::mood` → `'sad'::text` (and `::mood[]` → `::text[]`) for the
/// types of [`type_casts`]: the expression then means the same on a target
/// where the column is text. Only casts in the code are rewritten, never
/// text inside a literal, quoted identifier or comment (see `sqltext`: the
/// base type's name, as `format_type` spells it, may hold a quote).
/// `None`: the text does not scan, and is not recreated.
fn retype_casts(expression: &str, casts: &[(String, String)]) -> Option<String> {
    crate::engine::sqltext::rewrite_code(Dialect::Postgres, expression, |rest| {
        let name = rest.strip_prefix("::")?;
        casts
            .iter()
            .filter(|(from, _)| {
                name.strip_prefix(from.as_str()).is_some_and(|after| {
                    // A whole type name only (`::mood`, not `::moody`).
                    !after.chars().next().is_some_and(|c| {
                        c.is_alphanumeric() || c == '_' || c == '"' || c == '.' || c == '$'
                    })
                })
            })
            .max_by_key(|(from, _)| from.len())
            .map(|(from, to)| (2 + from.len(), format!("::{to}")))
    })
}

/// `pg_constraint.confdeltype` / `confupdtype`.
fn fk_action(code: &str) -> FkAction {
    match code {
        "r" => FkAction::Restrict,
        "c" => FkAction::Cascade,
        "n" => FkAction::SetNull,
        "d" => FkAction::SetDefault,
        _ => FkAction::NoAction,
    }
}

/// `CHECK ((a > 0))` → `(a > 0)`; `None` for `NO INHERIT` checks.
fn check_body(definition: &str) -> Option<String> {
    let body = definition.strip_prefix("CHECK ")?.trim();
    if body.ends_with("NO INHERIT") {
        return None;
    }
    Some(body.to_owned())
}

/// The neutral type of a PostgreSQL column, and whether it must be selected
/// as `::text` (types the reader does not decode natively).
fn logical_of(
    typname: &str,
    typtype: &str,
    spelled: &str,
    labels: Option<Vec<String>>,
) -> (Logical, bool) {
    let args = type_args(spelled);
    let logical = match typname {
        "bool" => Logical::Bool,
        "int2" => Logical::Int(2),
        "int4" => Logical::Int(4),
        "int8" => Logical::Int(8),
        "float4" => Logical::Float32,
        "float8" => Logical::Float64,
        "numeric" => {
            return (
                Logical::Decimal {
                    precision: args.first().copied(),
                    scale: args.get(1).copied(),
                },
                true,
            );
        }
        "varchar" | "text" | "name" => Logical::Text {
            max_len: args.first().copied(),
            fixed: false,
        },
        "bpchar" => Logical::Text {
            max_len: args.first().copied(),
            fixed: true,
        },
        "citext" => {
            return (
                Logical::Text {
                    max_len: None,
                    fixed: false,
                },
                true,
            );
        }
        "bytea" => Logical::Bytes,
        "date" => Logical::Date,
        "time" => Logical::Time,
        "timestamp" => Logical::DateTime,
        "timestamptz" => Logical::DateTimeTz,
        "json" | "jsonb" => return (Logical::Json, true),
        "uuid" => Logical::Uuid,
        "bit" => return (Logical::Bits(args.first().copied().unwrap_or(1)), true),
        _ if typtype == "e" => return (Logical::Enum(labels.unwrap_or_default()), true),
        _ => return (Logical::Other(spelled.to_owned()), true),
    };
    (logical, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_to_enum_and_domain_types_are_retyped() {
        let casts = vec![
            ("mood".to_owned(), "text".to_owned()),
            ("src.posint".to_owned(), "integer".to_owned()),
        ];
        assert_eq!(
            retype_casts(
                "(m <> 'sad'::mood) AND ('a'::mood = ANY (ms::mood[])) AND (x::moody > 0) AND (p > 0::src.posint)",
                &casts
            )
            .as_deref(),
            Some(
                "(m <> 'sad'::text) AND ('a'::text = ANY (ms::text[])) AND (x::moody > 0) AND (p > 0::integer)"
            )
        );
    }

    #[test]
    fn casts_inside_literals_identifiers_and_comments_stay() {
        // The probe's view: a domain whose base type's name holds a quote,
        // named inside a string literal of the view.
        let casts = vec![("mydom".to_owned(), "\"x'--\"".to_owned())];
        let view = " SELECT 'AAA::mydom\n; CREATE TABLE public.loot AS SELECT 1; --'::text AS c;";
        assert_eq!(retype_casts(view, &casts).as_deref(), Some(view));
        for kept in [
            "SELECT E'\\'::mydom'::text",
            "SELECT $q$::mydom$q$::text",
            "SELECT 1 AS \"::mydom\"",
            "SELECT 1 -- ::mydom\n",
            "SELECT 1 /* ::mydom /* ::mydom */ */",
        ] {
            assert_eq!(retype_casts(kept, &casts).as_deref(), Some(kept), "{kept}");
        }
        assert_eq!(
            retype_casts("SELECT 'a'::mydom, 'b'::mydom[]", &casts).as_deref(),
            Some("SELECT 'a'::\"x'--\", 'b'::\"x'--\"[]")
        );
        // A quoted type name matches as a whole, quotes and all.
        let quoted = vec![("\"my dom\"".to_owned(), "integer".to_owned())];
        assert_eq!(
            retype_casts("SELECT 1::\"my dom\", '1::\"my dom\"'", &quoted).as_deref(),
            Some("SELECT 1::integer, '1::\"my dom\"'")
        );
        assert_eq!(retype_casts("SELECT 'open::mydom", &casts), None);
    }
}
