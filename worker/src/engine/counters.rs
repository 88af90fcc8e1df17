//! Auto-increment and identity counters after the load (`finish_job`):
//! each counter the target has continues from the larger of the source's
//! next value and the copied maximum + 1, so the target never issues an id
//! the source has issued, rows the source deleted included (a MySQL table
//! at `AUTO_INCREMENT=50` holding ids up to 11 continues at 50, a
//! PostgreSQL sequence called up to 40 at 41).
//!
//! The source's next value: MySQL/MariaDB `SHOW CREATE TABLE`'s
//! `AUTO_INCREMENT=` (exact on MySQL 8 too, where
//! `information_schema.TABLES` may show a cached value), PostgreSQL the
//! column's sequence (identity, `serial`, or a `nextval` default) read
//! directly (`last_value` + increment once called, else `last_value`),
//! SQLite `sqlite_sequence` (tables declared `AUTOINCREMENT`). A counter
//! Freight cannot read (no privilege on the sequence) leaves the copied
//! maximum + 1.
//!
//! The target's counter: PostgreSQL `setval` of the identity's sequence,
//! MySQL `ALTER TABLE … AUTO_INCREMENT = n` (InnoDB never sets it at or
//! below the largest key), SQLite the table's `sqlite_sequence` row (its
//! `INTEGER PRIMARY KEY AUTOINCREMENT` then continues after the larger of
//! it and the largest rowid).

use sqlx::Row;

use super::connect::Pool;
use super::ddl;
use super::model::{Column, Dialect, Logical, Table};
use super::sql::{ident, table as qualified};

/// One table's counters moved forward; the warnings say what could not be.
/// `original` is the table as the source names it, `table` as the target
/// does (column for column), `target_table` as read from the target.
pub async fn continue_counters(
    source: &Pool,
    source_schema: Option<&str>,
    target: &Pool,
    target_schema: Option<&str>,
    original: &Table,
    table: &Table,
    target_table: &Table,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let counted = |c: &Column| {
        c.auto_increment
            && c.generated.is_none()
            && matches!(c.logical, Logical::Int(_) | Logical::UInt64)
    };
    for (i, col) in table.columns.iter().enumerate() {
        let Some(source_col) = original.columns.get(i) else {
            continue;
        };
        // Only columns the target counts for (its identity, its one
        // AUTO_INCREMENT column, its rowid).
        let on_target = target_table
            .column(&col.name)
            .is_some_and(|t| t.auto_increment);
        if !counted(col) || !on_target {
            continue;
        }
        let next = if source_col.auto_increment {
            match source_next(source, source_schema, original, source_col).await {
                Ok(next) => next,
                Err(e) => {
                    warnings.push(format!(
                        "the source's counter of {}.{} could not be read ({e}); the target's continues after the copied maximum",
                        table.name, col.name
                    ));
                    None
                }
            }
        } else {
            None
        };
        if let Err(e) = set_target(target, target_schema, &table.name, &col.name, next).await {
            warnings.push(format!(
                "the counter of {}.{} was not moved past the source's{}: {e}",
                table.name,
                col.name,
                next.map(|n| format!(" (next value {n})"))
                    .unwrap_or_default()
            ));
        }
    }
    warnings
}

/// The value the source's counter of `column` issues next, when it has one
/// Freight can read.
async fn source_next(
    pool: &Pool,
    schema: Option<&str>,
    table: &Table,
    column: &Column,
) -> Result<Option<i128>, sqlx::Error> {
    match pool {
        Pool::MySql(my) => {
            let name = qualified(Dialect::MySql, schema, &table.name);
            Ok(mysql_auto_increment(&show_create(my, &name).await?))
        }
        Pool::Postgres(pg, _) => {
            let name = qualified(Dialect::Postgres, schema, &table.name);
            // The sequence: the identity's or serial's (owned), else the
            // one a `nextval` default reads.
            let found: Option<(String, i64, bool)> = sqlx::query_as(
                "SELECT s.seqrelid::regclass::text, s.seqincrement,
                        has_sequence_privilege(s.seqrelid, 'SELECT')
                 FROM pg_sequence s
                 WHERE s.seqrelid = COALESCE(
                     pg_get_serial_sequence($1, $2)::regclass::oid,
                     (SELECT dep.refobjid FROM pg_attrdef ad
                      JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
                      JOIN pg_depend dep ON dep.classid = 'pg_attrdef'::regclass
                           AND dep.objid = ad.oid AND dep.refclassid = 'pg_class'::regclass
                      JOIN pg_class c ON c.oid = dep.refobjid AND c.relkind = 'S'
                      WHERE ad.adrelid = $1::regclass AND a.attname = $2
                      LIMIT 1))",
            )
            .bind(&name)
            .bind(&column.name)
            .fetch_optional(pg)
            .await?;
            let Some((sequence, increment, readable)) = found else {
                return Ok(None);
            };
            // A descending sequence has no "past the maximum".
            if !readable || increment <= 0 {
                return Ok(None);
            }
            // `regclass` text is quoted by PostgreSQL itself.
            let sql = format!(
                "SELECT (last_value::numeric + CASE WHEN is_called THEN $1 ELSE 0 END)::text FROM {sequence}"
            );
            let next: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(increment)
                .fetch_one(pg)
                .await?;
            Ok(next.parse().ok())
        }
        Pool::Sqlite(lite) => {
            let has_sequence: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence')",
            )
            .fetch_one(lite)
            .await?;
            if !has_sequence {
                return Ok(None);
            }
            let seq: Option<i64> =
                sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = ?")
                    .bind(&table.name)
                    .fetch_optional(lite)
                    .await?;
            Ok(seq.map(|s| i128::from(s) + 1))
        }
    }
}

/// `SHOW CREATE TABLE` of the (quoted) table `name`.
async fn show_create(my: &sqlx::MySqlPool, name: &str) -> Result<String, sqlx::Error> {
    let sql = format!("SHOW CREATE TABLE {name}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(my).await?;
    match row.try_get(1) {
        Ok(text) => Ok(text),
        Err(_) => Ok(String::from_utf8_lossy(&row.try_get::<Vec<u8>, _>(1)?).into_owned()),
    }
}

/// `AUTO_INCREMENT=n` of the table options in `SHOW CREATE TABLE`'s text:
/// the line after the last column (a table comment, later on that line,
/// cannot come first).
fn mysql_auto_increment(create: &str) -> Option<i128> {
    let options = create[create.rfind("\n)")? + 1..].lines().next()?;
    let at = options.find(" AUTO_INCREMENT=")? + " AUTO_INCREMENT=".len();
    let digits: String = options[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Moves the target's counter of `column` to at least `next` and past the
/// largest copied value.
async fn set_target(
    pool: &Pool,
    schema: Option<&str>,
    table: &str,
    column: &str,
    next: Option<i128>,
) -> Result<(), String> {
    match pool {
        Pool::Postgres(pg, _) => {
            let name = qualified(Dialect::Postgres, schema, table);
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence($1, $2),
                    GREATEST(COALESCE(MAX({})::numeric + 1, 1), $3::numeric)::int8, false)
                 FROM {name}",
                ident(Dialect::Postgres, column)
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&name)
                .bind(column)
                .bind(next.map(|n| n.to_string()))
                .execute(pg)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Pool::MySql(my) => {
            let Some(next) = next else {
                // InnoDB continues after the largest key by itself.
                return Ok(());
            };
            let name = qualified(Dialect::MySql, schema, table);
            let create = show_create(my, &name).await.map_err(|e| e.to_string())?;
            if mysql_auto_increment(&create).is_some_and(|current| current >= next) {
                return Ok(());
            }
            ddl::apply(
                pool,
                &format!("ALTER TABLE {name} AUTO_INCREMENT = {next}"),
                ddl::Expect::Other,
            )
            .await
            .map_err(|e| e.into_engine().to_string())
        }
        Pool::Sqlite(lite) => {
            let Some(seq) = next.and_then(|n| i64::try_from(n - 1).ok()) else {
                return Ok(());
            };
            // Only a table declared AUTOINCREMENT has a counter of its own
            // (another continues after its largest rowid).
            let create: Option<String> = sqlx::query_scalar(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
            )
            .bind(table)
            .fetch_optional(lite)
            .await
            .map_err(|e| e.to_string())?
            .flatten();
            if !create.is_some_and(|sql| declares_autoincrement(&sql)) {
                return Ok(());
            }
            let run = async {
                let mut tx = lite.begin().await?;
                let updated =
                    sqlx::query("UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = ?2")
                        .bind(seq)
                        .bind(table)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                if updated == 0 {
                    sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)")
                        .bind(table)
                        .bind(seq)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await
            };
            run.await.map_err(|e| e.to_string())
        }
    }
}

/// Whether a SQLite `CREATE TABLE` declares `AUTOINCREMENT` (as a word, not
/// inside a name or string).
pub fn declares_autoincrement(create: &str) -> bool {
    match super::checks::tokenize(Dialect::Sqlite, create) {
        Some(tokens) => tokens.iter().any(|t| {
            matches!(t, super::checks::Token::Word(w) if w.eq_ignore_ascii_case("autoincrement"))
        }),
        None => create.to_ascii_uppercase().contains("AUTOINCREMENT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_table_option_not_a_comment() {
        let create = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT COMMENT 'AUTO_INCREMENT=7',\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=50 DEFAULT CHARSET=utf8mb4 COMMENT='x AUTO_INCREMENT=9'";
        assert_eq!(mysql_auto_increment(create), Some(50));
        let none = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='AUTO_INCREMENT=9'";
        assert_eq!(mysql_auto_increment(none), None);
        let partitioned = "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=18446744073709551615 DEFAULT CHARSET=latin1\n PARTITION BY HASH (`id`)\nPARTITIONS 2";
        assert_eq!(
            mysql_auto_increment(partitioned),
            Some(18_446_744_073_709_551_615)
        );
    }

    #[test]
    fn finds_autoincrement_as_a_word() {
        assert!(declares_autoincrement(
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v)"
        ));
        assert!(!declares_autoincrement(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, \"autoincrement_x\" TEXT DEFAULT 'AUTOINCREMENT')"
        ));
    }
}
