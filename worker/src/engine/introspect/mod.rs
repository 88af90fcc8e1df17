//! Reading source (and existing target) schemas into [`Table`]s.

pub mod budget;
mod mysql;
mod postgres;
mod sqlite;

use super::connect::Pool;
use super::error::{Failure, classify};
use super::model::{DefaultValue, Table};
use super::planner::PlanFail;
use budget::{ITEM_OVERHEAD, SchemaBudget, SchemaTooLarge};

impl From<SchemaTooLarge> for PlanFail {
    fn from(e: SchemaTooLarge) -> Self {
        Self::TooLarge(e.0)
    }
}

/// Names of the base tables of the database (PostgreSQL: of `schema`), at
/// most `limit` of them (the first by name): the source decides how many
/// it has, and the list is held in memory.
pub async fn list_tables(pool: &Pool, schema: &str, limit: usize) -> Result<Vec<String>, PlanFail> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let res = match pool {
        Pool::Postgres(p, _) => postgres::list_tables(p, schema, limit).await,
        Pool::MySql(p) => mysql::list_tables(p, limit).await,
        Pool::Sqlite(p) => match sqlite::list_tables(p, limit).await {
            Ok(names) => {
                return names.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| {
                    PlanFail::TooLarge(format!(
                        "the source has a table name of more than {} bytes, more than Freight plans",
                        sqlite::MAX_NAME_BYTES
                    ))
                });
            }
            Err(e) => Err(e),
        },
    };
    res.map_err(|e| classify(&e, "listing tables").into())
}

/// A view's definition as the source stores it.
#[derive(Debug, Clone)]
pub struct ViewDef {
    pub name: String,
    /// The SELECT (PostgreSQL `pg_get_viewdef`, MySQL `view_definition`,
    /// SQLite `CREATE VIEW`); `Err` says why there is none to recreate (a
    /// materialized view).
    pub definition: Result<String, String>,
    /// The database (MySQL) or schema (PostgreSQL) qualifying its names.
    pub schema: String,
}

/// The source's views with their definitions, charged to `budget` as they
/// arrive: the server sends no definition longer than what is left of it,
/// nor more views than it can hold (each costs at least
/// [`ITEM_OVERHEAD`]), and reading stops at the first that does not fit.
pub async fn view_definitions(
    pool: &Pool,
    schema: &str,
    budget: &mut SchemaBudget,
) -> Result<Vec<ViewDef>, PlanFail> {
    let cap = i64::try_from(budget.remaining()).unwrap_or(i64::MAX);
    let rows = cap / i64::try_from(ITEM_OVERHEAD).unwrap_or(1) + 1;
    let res = match pool {
        Pool::Postgres(p, _) => postgres::view_definitions(p, schema, cap, rows, budget).await,
        Pool::MySql(p) => mysql::view_definitions(p, cap, rows, budget).await,
        Pool::Sqlite(p) => sqlite::view_definitions(p, cap, rows, budget).await,
    };
    match res {
        Ok(Ok(views)) => Ok(views),
        Ok(Err(too_large)) => Err(too_large.into()),
        Err(e) => Err(classify(&e, "reading view definitions").into()),
    }
}

/// One row of a view listing: name, definition (`None` when longer than
/// the cap the query was given, or a materialized view) and its length.
type ViewRow = (String, Option<String>, i64);

/// Charges each row to `budget` and keeps it; stops at the first that
/// does not fit.
async fn collect_views<'a>(
    mut rows: futures::stream::BoxStream<'a, Result<ViewRow, sqlx::Error>>,
    schema: &str,
    budget: &mut SchemaBudget,
) -> Result<Result<Vec<ViewDef>, SchemaTooLarge>, sqlx::Error> {
    use futures::TryStreamExt;
    let mut views = Vec::new();
    while let Some((name, definition, bytes)) = rows.try_next().await? {
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        let cost = bytes
            .saturating_add(name.len())
            .saturating_add(ITEM_OVERHEAD);
        if let Err(too_large) = budget.charge(&format!("the views (at {name})"), cost) {
            return Ok(Err(too_large));
        }
        views.push(ViewDef {
            name,
            definition: definition.ok_or_else(|| "materialized views are not recreated".to_owned()),
            schema: schema.to_owned(),
        });
    }
    Ok(Ok(views))
}

/// Bytes of schema text the table's description will hold, as the server
/// measures it without sending any of it: checked against the budget
/// before the table is read.
pub async fn schema_text_bytes(pool: &Pool, schema: &str, name: &str) -> Result<i64, Failure> {
    let res = match pool {
        Pool::Postgres(p, _) => postgres::schema_text_bytes(p, schema, name).await,
        Pool::MySql(p) => mysql::schema_text_bytes(p, name).await,
        Pool::Sqlite(p) => sqlite::schema_text_bytes(p, name).await,
    };
    res.map(|n| n.unwrap_or(0))
        .map_err(|e| classify(&e, &format!("measuring the schema of table {name}")))
}

/// The table's columns, key, indexes and foreign keys; `None` if it does
/// not exist. The key is the primary key, else the first unique index whose
/// columns are all NOT NULL; a table with neither has an empty `key`.
pub async fn table(pool: &Pool, schema: &str, name: &str) -> Result<Option<Table>, Failure> {
    let res = match pool {
        Pool::Postgres(p, _) => postgres::table(p, schema, name).await,
        Pool::MySql(p) => mysql::table(p, name).await,
        Pool::Sqlite(p) => sqlite::table(p, name).await,
    };
    res.map_err(|e| classify(&e, &format!("reading the schema of table {name}")))
}

/// The database's own estimate of the table's row count (InnoDB
/// `table_rows`, PostgreSQL `reltuples`), read from its statistics without
/// touching the table; `None` where there is none (SQLite, never analyzed).
pub async fn row_estimate(pool: &Pool, schema: &str, name: &str) -> Result<Option<i64>, Failure> {
    let res = match pool {
        Pool::Postgres(p, _) => postgres::row_estimate(p, schema, name).await,
        Pool::MySql(p) => mysql::row_estimate(p, name).await,
        Pool::Sqlite(_) => Ok(None),
    };
    res.map(|n| n.filter(|n| *n > 0))
        .map_err(|e| classify(&e, &format!("reading the statistics of table {name}")))
}

/// The utf8mb4 collation a MySQL target compares text keys with, byte for
/// byte and without padding: `utf8mb4_bin` is PAD SPACE ('a' = 'a '), so a
/// table created with it refuses `a ` next to `a` and a batch clearing key
/// `a ` would delete another batch's `a`. MariaDB (10.2+) has
/// `utf8mb4_nopad_bin`, MySQL 8 `utf8mb4_0900_bin`; a server with neither
/// (MySQL 5.7) keeps `utf8mb4_bin`. One query, at planning and once per
/// table's batch context; other dialects need none.
pub async fn exact_collation(pool: &Pool) -> Result<&'static str, Failure> {
    let Pool::MySql(p) = pool else {
        return Ok(MYSQL_PAD_BIN);
    };
    let offered = mysql::offered_collations(p, &[MYSQL_NOPAD_BIN, MYSQL_0900_BIN])
        .await
        .map_err(|e| classify(&e, "reading the target's collations"))?;
    Ok([MYSQL_NOPAD_BIN, MYSQL_0900_BIN]
        .into_iter()
        .find(|c| offered.iter().any(|o| o == c))
        .unwrap_or(MYSQL_PAD_BIN))
}

/// MySQL's byte-wise utf8mb4 collation, PAD SPACE.
pub const MYSQL_PAD_BIN: &str = "utf8mb4_bin";
const MYSQL_NOPAD_BIN: &str = "utf8mb4_nopad_bin";
const MYSQL_0900_BIN: &str = "utf8mb4_0900_bin";

/// The warning for a table's triggers: Freight does not translate trigger
/// bodies (procedural code in each dialect's own language).
fn triggers_warning(table: &str, triggers: &[String]) -> Option<String> {
    (!triggers.is_empty()).then(|| {
        format!(
            "table {table}: trigger(s) {} are not recreated (Freight does not translate trigger code); recreate them on the target if the application relies on them",
            triggers.join(", ")
        )
    })
}

/// Picks the key: the primary key's columns, else the first unique index
/// with only NOT NULL columns (it identifies rows just as well).
fn choose_key(table: &mut Table, primary: &[String]) {
    let position = |name: &String| table.columns.iter().position(|c| &c.name == name);
    let pk: Option<Vec<usize>> = primary.iter().map(position).collect();
    if let Some(pk) = pk.filter(|k| !k.is_empty()) {
        table.primary_key = pk.clone();
        table.key = pk;
        return;
    }
    // A partial unique index identifies only some rows.
    for index in table
        .indexes
        .iter()
        .filter(|i| i.unique && i.predicate.is_none())
    {
        let cols: Option<Vec<usize>> = index.columns.iter().map(position).collect();
        if let Some(cols) = cols
            && !cols.is_empty()
            && cols.iter().all(|&i| !table.columns[i].nullable)
        {
            table.warnings.push(format!(
                "table {} has no primary key; batches are cut on unique index {} ({})",
                table.name,
                index.name,
                index.columns.join(", ")
            ));
            table.primary_key = cols.clone();
            table.key = cols;
            return;
        }
    }
}

/// Cuts the table's batches on the columns the job names for it
/// (`key_columns`) instead of the key introspection chose; `Err` says which
/// named column the table lacks.
pub fn apply_key_columns(table: &mut Table, named: &[String]) -> Result<(), String> {
    let mut key = Vec::with_capacity(named.len());
    let mut missing = Vec::new();
    for name in named {
        let found = table
            .columns
            .iter()
            .position(|c| c.name == *name)
            .or_else(|| {
                table
                    .columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(name))
            });
        match found {
            Some(i) if !key.contains(&i) => key.push(i),
            Some(_) => {}
            None => missing.push(name.as_str()),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "table {} has no column(s) {}",
            table.name,
            missing.join(", ")
        ));
    }
    if key != table.key {
        table.warnings.push(format!(
            "batches are cut on {} as the job's key_columns name them; each batch deletes its key range on the target and inserts the source rows of it",
            named.join(", ")
        ));
    }
    table.key = key;
    Ok(())
}

/// Parses the numbers in the first parentheses: `numeric(12,2)` → [12, 2].
pub fn type_args(spelling: &str) -> Vec<u32> {
    let Some(open) = spelling.find('(') else {
        return Vec::new();
    };
    let Some(close) = spelling[open..].find(')') else {
        return Vec::new();
    };
    spelling[open + 1..open + close]
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// The expression without the parentheses around all of it (`((-1))` is
/// `-1`), keeping those of a call (`now()`, `datetime('now')`).
fn without_outer_parens(mut expr: &str) -> &str {
    while let Some(inner) = expr.strip_prefix('(').and_then(|e| e.strip_suffix(')')) {
        // `(a) + (b)` starts and ends with parentheses that do not match.
        let mut depth = 0i32;
        let balanced = inner.chars().all(|c| {
            depth += match c {
                '(' => 1,
                ')' => -1,
                _ => 0,
            };
            depth >= 0
        });
        if !balanced || depth != 0 {
            break;
        }
        expr = inner.trim();
    }
    expr
}

/// Parses a default expression into something every dialect can spell;
/// `None` when it has no portable meaning.
fn parse_default(raw: &str) -> Option<DefaultValue> {
    let raw = raw.trim();
    let unwrapped = without_outer_parens(raw);
    let lower = unwrapped.to_ascii_lowercase();
    if lower == "null" {
        return Some(DefaultValue::Null);
    }
    if matches!(lower.as_str(), "true" | "false") {
        return Some(DefaultValue::Bool(lower == "true"));
    }
    if lower.starts_with("current_timestamp")
        || lower.starts_with("now()")
        || lower.starts_with("localtimestamp")
        || lower == "datetime('now')"
    {
        return Some(DefaultValue::CurrentTimestamp);
    }
    // After the timestamps: `current_time` is a prefix of `current_timestamp`.
    if lower.starts_with("current_date") || lower == "curdate()" || lower == "date('now')" {
        return Some(DefaultValue::CurrentDate);
    }
    if lower.starts_with("current_time")
        || lower.starts_with("localtime")
        || lower.starts_with("curtime(")
        || lower == "time('now')"
    {
        return Some(DefaultValue::CurrentTime);
    }
    if unwrapped.parse::<f64>().is_ok() {
        return Some(DefaultValue::Number(unwrapped.to_owned()));
    }
    if let Some(rest) = unwrapped.strip_prefix('\'') {
        // 'text' or 'text'::type; '' is an escaped quote.
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                return Some(DefaultValue::String(out));
            }
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_arguments_and_defaults() {
        assert_eq!(type_args("numeric(12,2)"), vec![12, 2]);
        assert_eq!(type_args("timestamp(3) without time zone"), vec![3]);
        assert!(type_args("text").is_empty());
        assert_eq!(
            parse_default("'it''s'::character varying"),
            Some(DefaultValue::String("it's".into()))
        );
        assert_eq!(
            parse_default("(-1)"),
            Some(DefaultValue::Number("-1".into()))
        );
        assert_eq!(
            parse_default("current_timestamp()"),
            Some(DefaultValue::CurrentTimestamp)
        );
        assert_eq!(parse_default("nextval('s'::regclass)"), None);
        for today in ["CURRENT_DATE", "curdate()", "(date('now'))"] {
            assert_eq!(
                parse_default(today),
                Some(DefaultValue::CurrentDate),
                "{today}"
            );
        }
        for now in ["CURRENT_TIME", "LOCALTIME(3)", "curtime()", "time('now')"] {
            assert_eq!(parse_default(now), Some(DefaultValue::CurrentTime), "{now}");
        }
        assert_eq!(
            parse_default("LOCALTIMESTAMP"),
            Some(DefaultValue::CurrentTimestamp)
        );
        // A call keeps its own parentheses.
        assert_eq!(parse_default("now()"), Some(DefaultValue::CurrentTimestamp));
        assert_eq!(
            parse_default("(datetime('now'))"),
            Some(DefaultValue::CurrentTimestamp)
        );
        assert_eq!(
            parse_default("((-1))"),
            Some(DefaultValue::Number("-1".into()))
        );
        assert_eq!(parse_default("(1) + (2)"), None);
    }
}
