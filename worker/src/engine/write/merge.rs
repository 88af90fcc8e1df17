//! Re-copying a range of a PostgreSQL table that foreign keys reference.
//!
//! A batch normally clears its range with `DELETE` and writes the source's
//! rows again. When other tables' foreign keys reference the target table
//! (created by `finish_job` after a first run, or present on a target that
//! existed), that `DELETE` would fire their actions: `ON DELETE CASCADE`
//! would empty the referencing rows, `SET NULL` would null them, and `NO
//! ACTION`/`RESTRICT` would fail the batch. PostgreSQL offers no way for an
//! ordinary login to write without them (`session_replication_role` needs a
//! superuser; referential actions are not deferrable).
//!
//! So such a batch *merges*: the source's rows are staged in a temporary
//! table, rows whose key the target already holds are updated in place
//! (only where a value differs; the key is unchanged, so no referential
//! action fires), the others are inserted, and at the end the target rows
//! of the range whose key the source no longer holds are deleted (a true
//! deletion: its action is what the source's own deletion did). A vanished
//! row that other rows still reference through a `NO ACTION`/`RESTRICT`
//! key is kept, and said so. Rows are matched by a unique key of the
//! target (its primary key first), which every referenced table has.

use sqlx::{Executor, PgConnection, Row as _};

use super::WriteSpec;
use crate::engine::bind;
use crate::engine::context::TableCtx;
use crate::engine::error::{Failure, classify};
use crate::engine::model::{Dialect, Row, Value};
use crate::engine::sql::{PG_PREFER_INDEX, Predicate, ident};

/// The temporary tables of a merging batch (dropped at commit, gone with a
/// rollback).
const STAGE: &str = "pg_temp.freight_stage";
const SEEN: &str = "pg_temp.freight_seen";
/// The unique index on the keys a batch wrote: a second source row with
/// the same key is refused as a record.
const SEEN_INDEX: &str = "freight_seen_key";
/// Keys per statement when rows set aside by the read are kept.
const KEYS_PER_STATEMENT: usize = 500;

/// Whether a batch into `ctx`'s PostgreSQL target table must merge: some
/// foreign key (of any table, itself included) references the table.
pub async fn referenced(conn: &mut PgConnection, ctx: &TableCtx) -> Result<bool, Failure> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                        WHERE contype = 'f' AND confrelid = pg_catalog.to_regclass($1))",
    )
    .bind(&ctx.write.qualified_table)
    .fetch_one(conn)
    .await
    .map_err(|e| classify(&e, "reading the foreign keys referencing the target table"))
}

/// How one batch merges into its target table.
#[derive(Debug)]
pub struct Merge {
    /// The unique key rows are matched by: indexes into the written
    /// columns.
    key: Vec<usize>,
    /// Some key column may be NULL: such rows cannot be referenced, and are
    /// replaced like in a plain batch.
    nullable: bool,
    /// Written columns a trigger of Freight's keeps at the current time
    /// when the row changes (MySQL `ON UPDATE CURRENT_TIMESTAMP`).
    on_update: Vec<usize>,
    /// Where the rows are copied first.
    pub stage: WriteSpec,
    /// The target table, for messages.
    table: String,
    /// Previous copies of rows the batch did not write (rejected, or set
    /// aside by the read) that stay on the target.
    pub kept_unwritten: u64,
}

/// What a merging batch left on the target that a plain batch would have
/// removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// Rows the source no longer has that other rows still reference.
    pub vanished: u64,
    /// Previous copies of rejected or set-aside rows.
    pub unwritten: u64,
}

impl Kept {
    /// A sentence for the batch's verification detail; `None` when nothing
    /// was kept.
    pub fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.vanished > 0 {
            parts.push(format!(
                "{} row(s) the source no longer has stay on the target because rows of other tables still reference them (NO ACTION/RESTRICT); retry those tables' batches, then this one",
                self.vanished
            ));
        }
        if self.unwritten > 0 {
            parts.push(format!(
                "{} rejected or set-aside row(s) keep their previous copy on the target",
                self.unwritten
            ));
        }
        (!parts.is_empty()).then(|| {
            format!(
                "; the table is referenced by foreign keys, so the batch updated rows in place: {}",
                parts.join("; ")
            )
        })
    }
}

/// A unique index of the target table, as the merge key is chosen from.
struct UniqueKey {
    primary: bool,
    columns: Vec<String>,
    not_null: bool,
}

impl Merge {
    /// Creates the batch's temporary tables, and replaces the rows of the
    /// range whose key has a NULL (nothing can reference them).
    pub async fn begin(
        conn: &mut PgConnection,
        ctx: &TableCtx,
        preds: &[Predicate],
    ) -> Result<Self, Failure> {
        let keys: Vec<UniqueKey> = sqlx::query(
            "SELECT i.indisprimary,
                    ARRAY(SELECT a.attname::text
                          FROM pg_catalog.generate_series(0, i.indnkeyatts - 1) k(n)
                          JOIN pg_catalog.pg_attribute a
                            ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.n]
                          ORDER BY k.n),
                    (SELECT pg_catalog.bool_and(a.attnotnull)
                     FROM pg_catalog.generate_series(0, i.indnkeyatts - 1) k(n)
                     JOIN pg_catalog.pg_attribute a
                       ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.n])
             FROM pg_catalog.pg_index i
             WHERE i.indrelid = pg_catalog.to_regclass($1) AND i.indisunique AND i.indisvalid
               AND i.indpred IS NULL AND i.indexprs IS NULL
             ORDER BY NOT i.indisprimary, i.indnkeyatts, i.indexrelid",
        )
        .bind(&ctx.write.qualified_table)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| classify(&e, "reading the target table's unique keys"))?
        .into_iter()
        .map(|row| {
            Ok(UniqueKey {
                primary: row.try_get(0)?,
                columns: row.try_get(1)?,
                not_null: row.try_get::<Option<bool>, _>(2)?.unwrap_or(false),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| classify(&e, "reading the target table's unique keys"))?;
        let Some((key, nullable)) = choose_key(ctx, &keys) else {
            return Err(Failure::Permanent(format!(
                "target table {} is referenced by foreign keys, so a batch updates its rows in place, \
                 but it has no unique key among the columns Freight writes to match them by",
                ctx.target.name
            )));
        };
        let on_update = ctx
            .target
            .columns
            .iter()
            .enumerate()
            .filter(|(i, c)| c.on_update_now && !key.contains(i))
            .map(|(i, _)| i)
            .collect();
        let mut stage = ctx.write.clone();
        stage.qualified_table = STAGE.to_owned();
        let merge = Self {
            key,
            nullable,
            on_update,
            stage,
            table: ctx.target.name.clone(),
            kept_unwritten: 0,
        };
        let table = &ctx.write.qualified_table;
        let setup = format!(
            "CREATE TEMP TABLE freight_stage ON COMMIT DROP AS SELECT {all} FROM {table} WITH NO DATA;
             CREATE TEMP TABLE freight_seen ON COMMIT DROP AS SELECT {key} FROM {table} WITH NO DATA;
             CREATE UNIQUE INDEX {SEEN_INDEX} ON {SEEN} ({key})",
            all = merge.columns(ctx, None, &all_columns(ctx)),
            key = merge.key_list(ctx, None),
        );
        conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(setup)))
            .await
            .map_err(|e| classify(&e, "staging the batch on the target"))?;
        if merge.nullable {
            let any_null = merge
                .key
                .iter()
                .map(|&i| {
                    format!(
                        "{} IS NULL",
                        ident(Dialect::Postgres, &ctx.write.columns[i])
                    )
                })
                .collect::<Vec<_>>()
                .join(" OR ");
            for pred in preds {
                let sql = format!("DELETE FROM {table} WHERE ({}) AND ({any_null})", pred.sql);
                run_with(conn, pred, sql, "clearing the key range on the target").await?;
            }
        }
        Ok(merge)
    }

    /// Moves the staged rows into the target table: new keys inserted,
    /// known ones updated where a value differs; then empties the stage.
    pub async fn apply(&self, conn: &mut PgConnection, ctx: &TableCtx) -> Result<(), Failure> {
        let table = &ctx.write.qualified_table;
        let all = all_columns(ctx);
        let key = self.key_list(ctx, None);
        let not_null = self.key_not_null(ctx, "freight_s");
        let matches = self.key_match(ctx, "freight_t", "freight_s");
        let mut sql = format!(
            "INSERT INTO {SEEN} ({key}) SELECT {key} FROM {STAGE} freight_s{};
             INSERT INTO {table} ({cols}) OVERRIDING SYSTEM VALUE
               SELECT {cols} FROM {STAGE} freight_s
               WHERE NOT EXISTS (SELECT 1 FROM {table} freight_t WHERE {matches});",
            not_null
                .as_deref()
                .map(|c| format!(" WHERE {c}"))
                .unwrap_or_default(),
            cols = self.columns(ctx, None, &all),
        );
        let rest: Vec<usize> = all
            .iter()
            .copied()
            .filter(|i| !self.key.contains(i))
            .collect();
        if !rest.is_empty() {
            let differs = format!(
                "NOT (ROW({})::record OPERATOR(pg_catalog.*=) ROW({})::record)",
                self.columns(ctx, Some("freight_t"), &all),
                self.columns(ctx, Some("freight_s"), &all)
            );
            if !self.on_update.is_empty() {
                // Freight's trigger sets such a column to the current time
                // when a row changes and the update leaves the column as it
                // was: where the source's value equals the target's, the
                // column first gets another value, so the update below
                // changes it back and the trigger leaves it alone.
                let set: Vec<String> = self
                    .on_update
                    .iter()
                    .map(|&i| {
                        let c = ident(Dialect::Postgres, &ctx.write.columns[i]);
                        let ty = &ctx.target.columns[i].source_type;
                        format!(
                            "{c} = CAST(CASE WHEN freight_t.{c} = '-infinity' THEN 'infinity' ELSE '-infinity' END AS {ty})"
                        )
                    })
                    .collect();
                let same: Vec<String> = self
                    .on_update
                    .iter()
                    .map(|&i| {
                        let c = ident(Dialect::Postgres, &ctx.write.columns[i]);
                        format!("freight_t.{c} IS NOT DISTINCT FROM freight_s.{c}")
                    })
                    .collect();
                sql.push_str(&format!(
                    "UPDATE {table} freight_t SET {} FROM {STAGE} freight_s
                     WHERE {matches} AND {differs} AND ({});",
                    set.join(", "),
                    same.join(" OR ")
                ));
            }
            let set: Vec<String> = rest
                .iter()
                .map(|&i| {
                    let c = ident(Dialect::Postgres, &ctx.write.columns[i]);
                    format!("{c} = freight_s.{c}")
                })
                .collect();
            sql.push_str(&format!(
                "UPDATE {table} freight_t SET {} FROM {STAGE} freight_s WHERE {matches} AND {differs};",
                set.join(", ")
            ));
        }
        sql.push_str(&format!("TRUNCATE {STAGE}"));
        conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)))
            .await
            .map(|_| ())
            .map_err(|e| self.write_failure(&e))
    }

    /// Keeps the target's copy of rows the batch did not write (rejected,
    /// or set aside by the read): their keys count as seen, so they are not
    /// deleted as rows the source no longer has (the source still has
    /// them; deleting them would fire the foreign keys' actions).
    pub async fn keep(
        &mut self,
        conn: &mut PgConnection,
        ctx: &TableCtx,
        rows: &[&Row],
    ) -> Result<(), Failure> {
        let columns: Vec<(String, String)> = self
            .key
            .iter()
            .map(|&i| {
                let c = &ctx.target.columns[i];
                (c.name.clone(), c.source_type.clone())
            })
            .collect();
        // A NULL matches no row: nothing to keep.
        let keys: Vec<Vec<Value>> = rows
            .iter()
            .map(|row| self.key.iter().map(|&i| row[i].clone()).collect::<Vec<_>>())
            .filter(|key| !key.iter().any(|v| matches!(v, Value::Null)))
            .collect();
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            if !self.keep_keys(conn, ctx, &columns, chunk).await? && chunk.len() > 1 {
                // One key the target cannot hold must not lose the others.
                for one in chunk {
                    self.keep_keys(conn, ctx, &columns, std::slice::from_ref(one))
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// [`keep`](Self::keep) for some keys; `false` when the target refused
    /// one of them (a key its type cannot hold, perhaps why the row was
    /// refused: it matches no row), leaving the batch as it was.
    async fn keep_keys(
        &mut self,
        conn: &mut PgConnection,
        ctx: &TableCtx,
        columns: &[(String, String)],
        keys: &[Vec<Value>],
    ) -> Result<bool, Failure> {
        let key = self.key_list(ctx, None);
        let mut pred = Predicate::new(Dialect::Postgres);
        pred.key_set(columns, keys);
        let sql = format!(
            "INSERT INTO {SEEN} ({key}) SELECT {key} FROM {} WHERE {} ON CONFLICT DO NOTHING",
            ctx.write.qualified_table, pred.sql
        );
        savepoint(conn, "SAVEPOINT freight_keep").await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in &pred.binds {
            q = bind::pg(q, v);
        }
        match q.execute(&mut *conn).await {
            Ok(done) => {
                self.kept_unwritten += done.rows_affected();
                savepoint(conn, "RELEASE SAVEPOINT freight_keep").await?;
                Ok(true)
            }
            Err(e) if is_data_error(&e) => {
                savepoint(conn, "ROLLBACK TO SAVEPOINT freight_keep").await?;
                savepoint(conn, "RELEASE SAVEPOINT freight_keep").await?;
                Ok(false)
            }
            Err(e) => Err(classify(&e, "keeping rows on the target")),
        }
    }

    /// Deletes the rows of the range whose key the source no longer has.
    /// Returns how many of them stay because other rows still reference
    /// them through a key without an action (`NO ACTION`, `RESTRICT`).
    pub async fn finish(
        &self,
        conn: &mut PgConnection,
        ctx: &TableCtx,
        preds: &[Predicate],
    ) -> Result<u64, Failure> {
        let table = &ctx.write.qualified_table;
        let mut kept = 0;
        let not_null = self
            .key_not_null(ctx, "freight_t")
            .map(|c| format!(" AND {c}"))
            .unwrap_or_default();
        let vanished = |pred: &Predicate| {
            format!(
                "({}){not_null} AND NOT EXISTS (SELECT 1 FROM {SEEN} freight_s WHERE {})",
                pred.sql,
                self.key_match(ctx, "freight_t", "freight_s")
            )
        };
        for pred in preds {
            let sql = format!("DELETE FROM {table} freight_t WHERE {}", vanished(pred));
            savepoint(conn, "SAVEPOINT freight_vanished").await?;
            match run_with(conn, pred, sql, "deleting rows the source no longer has").await {
                Ok(()) => savepoint(conn, "RELEASE SAVEPOINT freight_vanished").await?,
                Err(ForeignKey::Referenced) => {
                    savepoint(conn, "ROLLBACK TO SAVEPOINT freight_vanished").await?;
                    savepoint(conn, "RELEASE SAVEPOINT freight_vanished").await?;
                    kept += delete_one_by_one(conn, ctx, pred, &vanished(pred)).await?;
                }
                Err(ForeignKey::Other(f)) => return Err(f),
            }
        }
        Ok(kept)
    }

    /// `a, b` of the columns at `indexes`, optionally qualified.
    fn columns(&self, ctx: &TableCtx, alias: Option<&str>, indexes: &[usize]) -> String {
        indexes
            .iter()
            .map(|&i| {
                let c = ident(Dialect::Postgres, &ctx.write.columns[i]);
                match alias {
                    Some(a) => format!("{a}.{c}"),
                    None => c,
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn key_list(&self, ctx: &TableCtx, alias: Option<&str>) -> String {
        self.columns(ctx, alias, &self.key)
    }

    /// `t.a = s.a AND t.b = s.b`.
    fn key_match(&self, ctx: &TableCtx, left: &str, right: &str) -> String {
        self.key
            .iter()
            .map(|&i| {
                let c = ident(Dialect::Postgres, &ctx.write.columns[i]);
                format!("{left}.{c} = {right}.{c}")
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// `s.a IS NOT NULL AND …` when the key may hold NULLs.
    fn key_not_null(&self, ctx: &TableCtx, alias: &str) -> Option<String> {
        self.nullable.then(|| {
            self.key
                .iter()
                .map(|&i| {
                    let c = ident(Dialect::Postgres, &ctx.write.columns[i]);
                    format!("{alias}.{c} IS NOT NULL")
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        })
    }

    /// A failed merge statement as a failure; two source rows with one key
    /// are named as such (the unique index of the staged keys refused the
    /// second), not by Freight's temporary index.
    fn write_failure(&self, e: &sqlx::Error) -> Failure {
        let failure = classify(e, "writing rows");
        let duplicate = e
            .as_database_error()
            .and_then(|d| d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
            .filter(|d| d.constraint() == Some(SEEN_INDEX))
            .map(|d| d.detail().unwrap_or_default().to_owned());
        match (duplicate, failure) {
            (Some(detail), Failure::Data { column, .. }) => Failure::Data {
                message: format!(
                    "writing rows: two source rows have the same value of the unique key rows of {} are matched by \
                     on the target (it is referenced by foreign keys, so batches update its rows in place): {detail}",
                    self.table
                ),
                column,
            },
            (_, failure) => failure,
        }
    }
}

/// Every written column's index.
fn all_columns(ctx: &TableCtx) -> Vec<usize> {
    (0..ctx.write.columns.len()).collect()
}

/// The unique key rows are matched by, as indexes into the written columns,
/// and whether it may hold NULLs: the primary key, else the batches' own key
/// when it is unique, else a unique key without NULLs, else any (a foreign
/// key references a unique key).
fn choose_key(ctx: &TableCtx, keys: &[UniqueKey]) -> Option<(Vec<usize>, bool)> {
    let written = |k: &UniqueKey| -> Option<Vec<usize>> {
        k.columns
            .iter()
            .map(|c| ctx.write.columns.iter().position(|w| w == c))
            .collect()
    };
    let batch_key: Vec<String> = {
        let mut k: Vec<String> = ctx.target_key().into_iter().map(|(n, _)| n).collect();
        k.sort();
        k
    };
    let is_batch_key = |k: &UniqueKey| {
        let mut cols = k.columns.clone();
        cols.sort();
        cols == batch_key
    };
    let pick = |k: &UniqueKey| written(k).map(|cols| (cols, !k.not_null));
    keys.iter()
        .filter(|k| k.primary)
        .chain(keys.iter().filter(|k| k.not_null && is_batch_key(k)))
        .chain(keys.iter().filter(|k| k.not_null))
        .chain(keys.iter())
        .find_map(pick)
}

/// A statement failed on a foreign key (the row is referenced), or
/// otherwise.
enum ForeignKey {
    Referenced,
    Other(Failure),
}

/// Runs `sql` with `pred`'s values bound (one-sided ranges through the key
/// index, like every range query).
async fn run_with(
    conn: &mut PgConnection,
    pred: &Predicate,
    sql: String,
    context: &str,
) -> Result<(), ForeignKey> {
    if pred.one_sided {
        sqlx::query(PG_PREFER_INDEX)
            .execute(&mut *conn)
            .await
            .map_err(|e| ForeignKey::Other(classify(&e, context)))?;
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in &pred.binds {
        q = bind::pg(q, v);
    }
    match q.execute(&mut *conn).await {
        Ok(_) => Ok(()),
        Err(e) if is_foreign_key_violation(&e) => Err(ForeignKey::Referenced),
        Err(e) => Err(ForeignKey::Other(classify(&e, context))),
    }
}

impl From<ForeignKey> for Failure {
    fn from(e: ForeignKey) -> Self {
        match e {
            ForeignKey::Referenced => Failure::Data {
                message: "clearing the key range on the target: rows of other tables reference it"
                    .to_owned(),
                column: None,
            },
            ForeignKey::Other(f) => f,
        }
    }
}

/// The vanished rows one by one, each under a savepoint, keeping those
/// still referenced; passes repeat while one deletes something (a
/// vanished row may reference another). Returns the rows kept.
async fn delete_one_by_one(
    conn: &mut PgConnection,
    ctx: &TableCtx,
    pred: &Predicate,
    condition: &str,
) -> Result<u64, Failure> {
    let table = &ctx.write.qualified_table;
    let context = "deleting rows the source no longer has";
    let sql = format!(
        "SELECT freight_t.tableoid::oid::bigint, freight_t.ctid::text FROM {table} freight_t WHERE {condition}"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in &pred.binds {
        q = bind::pg(q, v);
    }
    let mut rows: Vec<(i64, String)> = q
        .fetch_all(&mut *conn)
        .await
        .and_then(|rows| {
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })
        .map_err(|e| classify(&e, context))?;
    loop {
        let before = rows.len();
        let mut referenced = Vec::new();
        for (oid, ctid) in rows {
            savepoint(conn, "SAVEPOINT freight_vanished").await?;
            let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE tableoid = $1::bigint::oid AND ctid = $2::pg_catalog.tid"
            )))
            .bind(oid)
            .bind(&ctid)
            .execute(&mut *conn)
            .await;
            match deleted {
                Ok(_) => savepoint(conn, "RELEASE SAVEPOINT freight_vanished").await?,
                Err(e) if is_foreign_key_violation(&e) => {
                    savepoint(conn, "ROLLBACK TO SAVEPOINT freight_vanished").await?;
                    savepoint(conn, "RELEASE SAVEPOINT freight_vanished").await?;
                    referenced.push((oid, ctid));
                }
                Err(e) => return Err(classify(&e, context)),
            }
        }
        rows = referenced;
        if rows.is_empty() || rows.len() == before {
            return Ok(rows.len() as u64);
        }
    }
}

async fn savepoint(conn: &mut PgConnection, sql: &'static str) -> Result<(), Failure> {
    conn.execute(sql)
        .await
        .map(|_| ())
        .map_err(|e| classify(&e, "managing a savepoint"))
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23503")
}

/// A value the target refused (class 22 or 23).
fn is_data_error(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c.starts_with("22") || c.starts_with("23"))
}
