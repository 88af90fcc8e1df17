//! What Freight does differently when a job's login is privileged on
//! Freight's own PostgreSQL server ([`Standing::PrivilegedOnFreightServer`]).
//!
//! Other databases of that server stay open to jobs (small installs keep
//! their targets there), often under the superuser `postgres`. PostgreSQL
//! evaluates some SQL a source authored with the privileges of the login
//! that writes or reads: a CHECK runs on every copied row, a user's
//! `CREATE CAST` or operator runs where Freight compares or casts a value.
//! Run by a superuser there, such an expression reads Freight's own tables
//! (other tenants' jobs and webhooks) or any server file, and its error
//! carries the result into the job's log. So, on such a login:
//!
//! - a target gets no expression of the source's: no CHECKs, generated
//!   expressions (the columns stay, holding the copied values), partial
//!   indexes or exclusion constraints ([`strip_expressions`]; indexes on
//!   expressions and domain CHECKs are never recreated anyway), and an
//!   existing target table holding expressions PostgreSQL would evaluate
//!   while Freight writes is refused ([`evaluated_objects`]);
//! - a source or target whose column types have casts or operators of a
//!   user's is refused ([`user_hooks`]): Freight binds keys with `CAST`
//!   and compares them;
//! - a target gets none of the source's views ([`VIEW_WHY`]): creating one
//!   evaluates nothing, but a view runs its SQL with its owner's rights
//!   whenever anyone reads it, and its owner would be that login; and its
//!   SQL is the source's own text, which Freight also rewrites (`sqltext`).
//!
//! Column defaults are kept: they are portable literals only (see
//! `introspect::parse_default`), and the copy writes every column, so
//! PostgreSQL evaluates none.
//!
//! Wherever Freight reads a value of a user type as text (enums,
//! composites, ranges, arrays of those) it goes through the type's output
//! function ([`output_text`]), which no `CREATE CAST` can replace, for any
//! login.

use sqlx::PgPool;

use super::error::{Failure, classify};
use super::model::Table;

/// Why a privileged login is refused or loses an expression (one sentence
/// for every message, so the plan and the log say it alike).
const WHY: &str = "the target login is a superuser (or may read the server's files) on \
                   Freight's own PostgreSQL server, where Freight does not run a source's \
                   expressions; use an ordinary login to keep it";

/// Why a view of the source is not recreated on a privileged login of
/// Freight's server (the plan names each view).
pub const VIEW_WHY: &str = "the target login is a superuser (or may read the server's files) on \
                            Freight's own PostgreSQL server, where a view would run its SQL with \
                            that login's rights whenever it is read; use an ordinary login to \
                            keep it";

/// A value of a user's type as text, through the type's output function:
/// `format('%s', …)` calls it directly, where `::text` would call a cast
/// the type's owner may have created (`CREATE CAST (mood AS text) WITH
/// FUNCTION …`). NULL stays NULL (`format` would print an empty string;
/// `num_nulls` looks at the value, not at a composite's fields).
pub fn output_text(column: &str) -> String {
    format!(
        "CASE WHEN pg_catalog.num_nulls({column}) = 0 THEN pg_catalog.format('%s', {column}) END"
    )
}

/// Takes out of the target's table what PostgreSQL would evaluate during
/// the copy; returns a warning per object left out.
pub fn strip_expressions(table: &mut Table) -> Vec<String> {
    let mut warnings = Vec::new();
    for check in table.checks.drain(..) {
        warnings.push(format!(
            "CHECK {} on {} not recreated: {WHY}",
            check.name, table.name
        ));
    }
    // Its elements and condition are expressions PostgreSQL evaluates on
    // every row, when the constraint is added after the load and on each
    // write afterwards.
    for exclusion in table.exclusions.drain(..) {
        warnings.push(format!(
            "exclusion constraint {} on {} not recreated: {WHY}",
            exclusion.name, table.name
        ));
    }
    for col in &mut table.columns {
        if col.generated.take().is_some() {
            warnings.push(format!(
                "generated column {} on {} is a plain column holding the source's values: {WHY}",
                col.name, table.name
            ));
        }
    }
    // A partial index's condition is evaluated on every row written; the
    // index is left out rather than made an index of every row (never
    // widen a unique one).
    table.indexes.retain(|index| {
        if index.predicate.is_none() {
            return true;
        }
        warnings.push(format!(
            "partial index {} on {} not recreated: {WHY}",
            index.name, table.name
        ));
        false
    });
    warnings
}

/// What PostgreSQL evaluates, with the writing login's privileges, while
/// Freight clears and fills a key range of an existing table (partitions
/// included): CHECKs, exclusion constraints, generated columns, defaults of
/// columns the copy does not write (`written`: the target's names of the
/// columns it does), indexes on expressions or with a condition, triggers
/// on insert, delete or truncate, rules, columns of a domain type (its
/// CHECKs). Each as "CHECK c4". The
/// CHECK Freight itself gives a column that was an enum (its labels, as
/// literals) is not one.
pub async fn evaluated_objects<'c>(
    pg: impl sqlx::PgExecutor<'c>,
    schema: &str,
    table: &str,
    written: &[String],
) -> Result<Vec<String>, Failure> {
    let found: Vec<(String, Option<String>)> = sqlx::query_as(
        "WITH tbl AS (
           SELECT c.oid FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relname = $2),
         -- The table and its partitions (the tree of a table that is not
         -- partitioned is empty).
         rel AS (
           SELECT oid FROM tbl
           UNION SELECT p.relid FROM tbl CROSS JOIN LATERAL pg_catalog.pg_partition_tree(tbl.oid) p)
         SELECT o.what, o.def FROM (
           SELECT CASE k.contype WHEN 'c' THEN 'CHECK ' ELSE 'exclusion constraint ' END
                  || k.conname AS what,
                  CASE k.contype WHEN 'c' THEN pg_catalog.pg_get_constraintdef(k.oid) END AS def
           FROM pg_catalog.pg_constraint k
           WHERE k.conrelid IN (SELECT oid FROM rel) AND k.contype IN ('c', 'x')
           UNION ALL
           SELECT 'generated column ' || a.attname, NULL
           FROM pg_catalog.pg_attribute a
           WHERE a.attrelid IN (SELECT oid FROM rel) AND a.attnum > 0 AND NOT a.attisdropped
             AND a.attgenerated <> ''
           UNION ALL
           -- A default fills the columns the copy does not write.
           SELECT 'default of column ' || a.attname, NULL
           FROM pg_catalog.pg_attribute a
           JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE a.attrelid IN (SELECT oid FROM rel) AND a.attnum > 0 AND NOT a.attisdropped
             AND a.attgenerated = '' AND NOT (a.attname::text = ANY ($3))
           UNION ALL
           SELECT 'column ' || a.attname || ' of domain type ' || pg_catalog.format_type(t.oid, NULL), NULL
           FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
           WHERE a.attrelid IN (SELECT oid FROM rel) AND a.attnum > 0 AND NOT a.attisdropped
             AND t.typtype = 'd'
           UNION ALL
           SELECT 'index ' || ic.relname, NULL
           FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
           WHERE i.indrelid IN (SELECT oid FROM rel)
             AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL)
           UNION ALL
           -- Insert (4), delete (8) and truncate (32): what the copy fires.
           SELECT 'trigger ' || g.tgname, NULL
           FROM pg_catalog.pg_trigger g
           WHERE g.tgrelid IN (SELECT oid FROM rel) AND NOT g.tgisinternal
             AND (g.tgtype::int & 44) <> 0
           UNION ALL
           SELECT 'rule ' || r.rulename, NULL
           FROM pg_catalog.pg_rewrite r
           WHERE r.ev_class IN (SELECT oid FROM rel) AND r.rulename <> '_RETURN') o
         ORDER BY o.what",
    )
    .bind(schema)
    .bind(table)
    .bind(written)
    .fetch_all(pg)
    .await
    .map_err(|e| classify(&e, "reading the target table's constraints"))?;
    Ok(found
        .into_iter()
        .filter(|(_, def)| !def.as_deref().is_some_and(is_label_check))
        .map(|(what, _)| what)
        .collect())
}

/// Whether a CHECK (as `pg_get_constraintdef` prints it) only compares one
/// column with text literals: `CHECK ((c = ANY (ARRAY['a'::text, 'b'::text])))`
/// or `CHECK ((c = 'a'::text))`, what Freight writes for an enum column.
/// Anything else, however harmless, is not.
fn is_label_check(def: &str) -> bool {
    let Some(body) = def
        .strip_prefix("CHECK ((")
        .and_then(|b| b.strip_suffix("))"))
    else {
        return false;
    };
    let Some(rest) = skip_identifier(body).and_then(|r| r.strip_prefix(" = ")) else {
        return false;
    };
    if let Some(list) = rest
        .strip_prefix("ANY (ARRAY[")
        .and_then(|r| r.strip_suffix("])"))
    {
        let mut rest = list;
        loop {
            let Some(after) = skip_text_literal(rest) else {
                return false;
            };
            if after.is_empty() {
                return true;
            }
            let Some(next) = after.strip_prefix(", ") else {
                return false;
            };
            rest = next;
        }
    }
    skip_text_literal(rest).is_some_and(str::is_empty)
}

/// What follows a column name (bare lower case, or double-quoted).
fn skip_identifier(s: &str) -> Option<&str> {
    if let Some(quoted) = s.strip_prefix('"') {
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if quoted[i + 1..].starts_with('"') {
                    chars.next();
                    continue;
                }
                return Some(&quoted[i + 1..]);
            }
        }
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| &s[end..])
}

/// What follows `'label'::text`.
fn skip_text_literal(s: &str) -> Option<&str> {
    let quoted = s.strip_prefix('\'')?;
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if quoted[i + 1..].starts_with('\'') {
                chars.next();
                continue;
            }
            return quoted[i + 1..].strip_prefix("::text");
        }
    }
    None
}

/// Casts into and operators on the types of a table's columns (through
/// domains and arrays) that a user made (not PostgreSQL, not an
/// extension), and the table's row-level security policies, such as `CREATE CAST (text AS mood) WITH FUNCTION
/// leak(text)`: Freight binds key values with `CAST($1 AS mood)` and
/// compares keys with `>=` and `=`. (Casts out of the types do not count:
/// Freight reads user types through [`output_text`].)
pub async fn user_hooks(pg: &PgPool, schema: &str, table: &str) -> Result<Vec<String>, Failure> {
    sqlx::query_scalar(
        "WITH RECURSIVE types(oid) AS (
           SELECT a.atttypid
           FROM pg_catalog.pg_attribute a
           JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
           UNION
           SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.typelem END
           FROM types JOIN pg_catalog.pg_type t ON t.oid = types.oid
           WHERE t.typtype = 'd' OR (t.typcategory = 'A' AND t.typelem <> 0)),
         user_made AS (
           SELECT 'cast (' || pg_catalog.format_type(k.castsource, NULL) || ' AS '
                  || pg_catalog.format_type(k.casttarget, NULL) || ')' AS what,
                  'pg_cast'::regclass AS classid, k.oid
           FROM pg_catalog.pg_cast k
           WHERE k.casttarget IN (SELECT oid FROM types)
           UNION ALL
           SELECT 'operator ' || o.oid::regoperator::text, 'pg_operator'::regclass, o.oid
           FROM pg_catalog.pg_operator o
           WHERE o.oprleft IN (SELECT oid FROM types) OR o.oprright IN (SELECT oid FROM types)
           UNION ALL
           -- Evaluated on every row read or written by a login that does
           -- not bypass row-level security.
           SELECT 'row-level security policy ' || p.polname, 'pg_policy'::regclass, p.oid
           FROM pg_catalog.pg_policy p
           JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relname = $2 AND c.relrowsecurity)
         SELECT u.what FROM user_made u
         WHERE u.oid >= 16384
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                           WHERE d.classid = u.classid AND d.objid = u.oid AND d.deptype = 'e')
         ORDER BY u.what",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(pg)
    .await
    .map_err(|e| classify(&e, "reading the casts and operators of the table's types"))
}

/// Refuses a table whose column types a user hooked (see [`user_hooks`]),
/// on a privileged login of Freight's server.
pub async fn refuse_user_hooks(
    pg: &PgPool,
    side: &str,
    schema: &str,
    table: &str,
) -> Result<(), Failure> {
    let hooks = user_hooks(pg, schema, table).await?;
    if hooks.is_empty() {
        return Ok(());
    }
    Err(Failure::Permanent(format!(
        "{side} table {table}: it has a user's {}, which Freight would run (casting and \
         comparing keys, reading and writing rows) as a superuser (or a login that may read the server's \
         files) on Freight's own PostgreSQL server; use an ordinary login",
        hooks.join(", ")
    )))
}

/// Why an existing target table may not be written by a privileged login
/// on Freight's server: the expressions PostgreSQL would evaluate on every
/// row Freight writes. `None`: it holds none.
pub async fn evaluated_objects_refusal<'c>(
    pg: impl sqlx::PgExecutor<'c>,
    schema: &str,
    table: &str,
    written: &[String],
) -> Result<Option<String>, Failure> {
    let objects = evaluated_objects(pg, schema, table, written).await?;
    Ok((!objects.is_empty()).then(|| {
        format!(
            "target table {table} has {}, which PostgreSQL would evaluate on every row Freight \
             writes: {WHY} (or drop them)",
            objects.join(", ")
        )
    }))
}

/// Why a privileged login on Freight's server may not update the rows of
/// an existing target table in place (a batch into a table that foreign
/// keys reference, see `write::merge`): the user triggers on update it
/// would fire, besides what [`evaluated_objects`] refuses. `None`: none.
pub async fn update_triggers_refusal<'c>(
    pg: impl sqlx::PgExecutor<'c>,
    schema: &str,
    table: &str,
) -> Result<Option<String>, Failure> {
    let triggers: Vec<String> = sqlx::query_scalar(
        "WITH tbl AS (
           SELECT c.oid FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relname = $2),
         rel AS (
           SELECT oid FROM tbl
           UNION SELECT p.relid FROM tbl CROSS JOIN LATERAL pg_catalog.pg_partition_tree(tbl.oid) p)
         SELECT 'trigger ' || g.tgname
         FROM pg_catalog.pg_trigger g
         WHERE g.tgrelid IN (SELECT oid FROM rel) AND NOT g.tgisinternal
           AND (g.tgtype::int & 16) <> 0
         ORDER BY 1",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(pg)
    .await
    .map_err(|e| classify(&e, "reading the target table's triggers"))?;
    Ok((!triggers.is_empty()).then(|| {
        format!(
            "target table {table} is referenced by foreign keys, so batches update its rows in \
             place, and it has {}, which PostgreSQL would run on every row Freight updates: {WHY} \
             (or drop them)",
            triggers.join(", ")
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::is_label_check;

    #[test]
    fn only_freights_enum_checks_are_label_checks() {
        for ok in [
            "CHECK ((mood = ANY (ARRAY['sad'::text, 'it''s'::text])))",
            "CHECK ((\"Mood \"\"x\"\"\" = 'ok'::text))",
        ] {
            assert!(is_label_check(ok), "{ok}");
        }
        for refused in [
            "CHECK ((v > 0))",
            "CHECK ((mood = ANY (ARRAY['a'::text, pg_read_file('/etc/hostname'::text)])))",
            "CHECK ((mood = 'a'::text) OR (pg_read_file('x'::text) = ''::text))",
            "CHECK ((lower(mood) = 'a'::text))",
            "CHECK ((mood = ANY (ARRAY['a'::text])) AND (x = 'b'::text))",
        ] {
            assert!(!is_label_check(refused), "{refused}");
        }
    }
}
