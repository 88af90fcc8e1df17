//! Key addressing that must never let one batch clear or skip the rows of
//! another: decimal keys stored as text on SQLite, and text keys that
//! differ only in case and accents between case-insensitive and
//! byte-ordered collations.

#[path = "engine_support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use freight_worker::engine::{Engine, JobContext, JobPlan};
use sqlx::{Executor, Row};
use support::{Dbs, job, migrate, to_run};

/// Runs every batch again, last first, then first to last: each run must
/// verify and leave every other batch's rows in place.
async fn rerun_all(engine: &Engine, job: &JobContext, plan: &JobPlan) {
    let order: Vec<usize> = (0..plan.batches.len())
        .rev()
        .chain(0..plan.batches.len())
        .collect();
    for i in order {
        let o = engine
            .run_batch(job, &to_run(&plan.batches[i], 0))
            .await
            .expect("rerun");
        assert_eq!(o.verified, Some(true), "batch {i}: {:?}", o.verify_detail);
    }
}

async fn sqlite_decimal_rows(dbs: &Dbs) -> BTreeMap<String, i64> {
    let lite = dbs.sqlite_pool("dst").await;
    let rows = sqlx::query("SELECT CAST(id AS TEXT), v FROM d")
        .fetch_all(&lite)
        .await
        .expect("read target");
    lite.close().await;
    rows.iter()
        .map(|r| {
            let id: String = r.get(0);
            (
                freight_worker::engine::model::normalize_decimal(&id),
                r.get(1),
            )
        })
        .collect()
}

/// Keys spanning digit counts: as text, '1000.00' sorts between '100.00'
/// and '200.00', and '9.50' after '10.00'.
const DECIMAL_KEYS: [&str; 16] = [
    "-5.00", "0.01", "1.00", "2.50", "9.50", "10.00", "15.00", "99.99", "100.00", "150.00",
    "199.99", "200.00", "1000.00", "1500.00", "2000.00", "10000.00",
];

fn decimal_expected() -> BTreeMap<String, i64> {
    DECIMAL_KEYS
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (
                freight_worker::engine::model::normalize_decimal(k),
                i as i64,
            )
        })
        .collect()
}

#[tokio::test]
async fn decimal_keys_into_sqlite_never_clear_another_batch() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute("CREATE TABLE d (id decimal(10,2) PRIMARY KEY, v int)")
        .await
        .expect("create");
    for (i, k) in DECIMAL_KEYS.iter().enumerate() {
        sqlx::query("INSERT INTO d VALUES (?, ?)")
            .bind(k)
            .bind(i as i64)
            .execute(&my)
            .await
            .expect("insert");
    }
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.mysql(), dbs.sqlite("dst"), &["d"], 3);
    let (plan, _) = migrate(&engine, &job).await;
    assert_eq!(sqlite_decimal_rows(&dbs).await, decimal_expected());
    rerun_all(&engine, &job, &plan).await;
    assert_eq!(sqlite_decimal_rows(&dbs).await, decimal_expected());
    engine.release_job(job.job_id).await;
    my.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn decimal_keys_from_postgres_into_sqlite_never_clear_another_batch() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute("CREATE SCHEMA src; CREATE TABLE src.d (id numeric(12,2) PRIMARY KEY, v bigint)")
        .await
        .expect("create");
    for (i, k) in DECIMAL_KEYS.iter().enumerate() {
        sqlx::query("INSERT INTO src.d VALUES ($1::numeric, $2)")
            .bind(k)
            .bind(i as i64)
            .execute(&pg)
            .await
            .expect("insert");
    }
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.pg("src"), dbs.sqlite("dst"), &["d"], 4);
    let (plan, _) = migrate(&engine, &job).await;
    rerun_all(&engine, &job, &plan).await;
    assert_eq!(sqlite_decimal_rows(&dbs).await, decimal_expected());
    engine.release_job(job.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

/// Keys that differ only in case and accents, among neighbours, and keys
/// that differ only by trailing spaces (equal under MySQL's PAD SPACE
/// collations, `utf8mb4_bin` among them).
const WORDS: [&str; 12] = [
    "resume",
    "Resume",
    "RESUME",
    "résumé",
    "Résumé",
    "resumé",
    "rest",
    "Résumés",
    "resumf",
    "a",
    "a ",
    "a  ",
];

async fn pg_words(pg: &sqlx::PgPool, table: &str) -> BTreeMap<String, i32> {
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT w, n FROM {table}")))
        .fetch_all(pg)
        .await
        .expect("read")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn words_expected() -> BTreeMap<String, i32> {
    WORDS
        .iter()
        .enumerate()
        .map(|(i, w)| ((*w).to_owned(), i as i32))
        .collect()
}

#[tokio::test]
async fn case_and_accent_keys_mariadb_to_postgres_row_for_row() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    // A byte-ordered key column in a case- and accent-insensitive table
    // (only such a column holds all six spellings, and only a NO PAD one
    // `a` and `a `), and a table whose key itself is accent- and
    // case-insensitive (utf8mb4_unicode_ci), whose ranges order differently
    // from PostgreSQL's.
    my.execute(
        "CREATE TABLE words (w varchar(40) COLLATE utf8mb4_nopad_bin PRIMARY KEY, n int, note varchar(20))
           CHARSET utf8mb4 COLLATE utf8mb4_unicode_ci;
         CREATE TABLE ci (w varchar(40) PRIMARY KEY, n int) CHARSET utf8mb4 COLLATE utf8mb4_unicode_ci;",
    )
    .await
    .expect("create");
    for (i, w) in WORDS.iter().enumerate() {
        sqlx::query("INSERT INTO words VALUES (?, ?, 'x')")
            .bind(w)
            .bind(i as i32)
            .execute(&my)
            .await
            .expect("insert");
    }
    let ci_words = [
        "résumé", "RESUMF", "resumd", "Résumer", "a", "B", "çd", "C", "d", "É", "f",
    ];
    for (i, w) in ci_words.iter().enumerate() {
        sqlx::query("INSERT INTO ci VALUES (?, ?)")
            .bind(w)
            .bind(i as i32)
            .execute(&my)
            .await
            .expect("insert ci");
    }
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.mysql(), dbs.pg("public"), &["words", "ci"], 2);
    let (plan, _) = migrate(&engine, &job).await;
    let pg = dbs.pg_pool().await;
    assert_eq!(pg_words(&pg, "words").await, words_expected());
    rerun_all(&engine, &job, &plan).await;
    assert_eq!(pg_words(&pg, "words").await, words_expected());
    let ci_expected: BTreeMap<String, i32> = ci_words
        .iter()
        .enumerate()
        .map(|(i, w)| ((*w).to_owned(), i as i32))
        .collect();
    assert_eq!(pg_words(&pg, "ci").await, ci_expected);
    engine.release_job(job.job_id).await;
    pg.close().await;
    my.close().await;
    dbs.cleanup().await;
}

async fn my_words(my: &sqlx::MySqlPool, table: &str) -> BTreeMap<String, i32> {
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT w, n FROM {table}")))
        .fetch_all(my)
        .await
        .expect("read")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn case_and_accent_keys_postgres_to_mariadb_never_clear_another_batch() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.words (w varchar(40) COLLATE \"C\" PRIMARY KEY, n int);
         CREATE TABLE src.ci (w varchar(40) COLLATE \"C\" PRIMARY KEY, n int);
         CREATE TABLE src.padded (w char(8) COLLATE \"C\" PRIMARY KEY, n int);
         INSERT INTO src.padded VALUES ('ab', 1), ('Ab', 2), ('résumé', 3), ('Résumé', 4);",
    )
    .await
    .expect("create");
    for (i, w) in WORDS.iter().enumerate() {
        for t in ["words", "ci"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO src.{t} VALUES ($1, $2)"
            )))
            .bind(w)
            .bind(i as i32)
            .execute(&pg)
            .await
            .expect("insert");
        }
    }
    let my = dbs.my_pool().await;
    // `ci` exists on the target with a case- and accent-insensitive key:
    // it can hold one of the six spellings, never all. Each batch must
    // either write its rows or report them, not take another batch's row
    // for its own (`resume` = `Résumé` there) and delete it.
    my.execute(
        "CREATE TABLE ci (w varchar(40) PRIMARY KEY, n int) CHARSET utf8mb4 COLLATE utf8mb4_general_ci",
    )
    .await
    .expect("target table");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.pg("src"), dbs.mysql(), &["words", "ci", "padded"], 2);
    let plan = engine.plan(&job, true).await.expect("plan");
    let mut rejected = Vec::new();
    for round in 0..2 {
        if round == 1 {
            // Freight's own table keeps every spelling, `a`, `a ` and `a  `
            // apart (a NO PAD binary collation).
            assert_eq!(my_words(&my, "words").await, words_expected());
        }
        for b in &plan.batches {
            let o = engine
                .run_batch(&job, &to_run(b, 100))
                .await
                .expect("batch");
            // PostgreSQL pads a char(n) value and MySQL strips the spaces
            // on read: both sides checksum the same unpadded string.
            assert_eq!(o.verified, Some(true), "{:?}", o.verify_detail);
            // A char(n) key (unpadded in transit): still its own row on a
            // re-run.
            if b.table_name != "ci" {
                assert!(o.rejected.is_empty(), "{}: {:?}", b.table_name, o.rejected);
            }
            if round == 1 && b.table_name == "ci" {
                rejected.extend(o.rejected.iter().map(|r| r.key.clone()));
            }
        }
    }
    engine.finish_job(&job).await.expect("finish");
    // And after a re-run of every batch.
    assert_eq!(my_words(&my, "words").await, words_expected());
    let padded: BTreeMap<String, i32> = [("ab", 1), ("Ab", 2), ("résumé", 3), ("Résumé", 4)]
        .into_iter()
        .map(|(w, n)| (w.to_owned(), n))
        .collect();
    assert_eq!(my_words(&my, "padded").await, padded);
    // The insensitive one: every source row is on the target or reported
    // as rejected, never silently gone; what is there equals its source row.
    let got = my_words(&my, "ci").await;
    let expected = words_expected();
    for (w, n) in &got {
        assert_eq!(expected.get(w), Some(n), "{w}");
    }
    let rejected_words: Vec<String> = rejected
        .iter()
        .filter_map(|k| k.get(0).and_then(|v| v.as_str()).map(str::to_owned))
        .collect();
    assert_eq!(
        got.len() + rejected_words.len(),
        WORDS.len(),
        "on target {got:?}, rejected {rejected_words:?}"
    );
    for w in &rejected_words {
        assert!(!got.contains_key(w), "{w} both written and rejected");
    }
    engine.release_job(job.job_id).await;
    pg.close().await;
    my.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn trailing_space_keys_sqlite_to_mariadb_row_for_row() {
    let dbs = Dbs::new().await;
    let lite = dbs.sqlite_pool("src").await;
    // `tags`: a unique index on a text column that is not the key, holding
    // `a`, `a ` and `a  ` too (recreated when the job finishes).
    lite.execute(
        "CREATE TABLE words (w TEXT PRIMARY KEY, n INTEGER);
         CREATE TABLE tags (id INTEGER PRIMARY KEY, tag TEXT NOT NULL);
         CREATE UNIQUE INDEX tags_tag ON tags (tag);",
    )
    .await
    .expect("create");
    for (i, w) in WORDS.iter().enumerate() {
        sqlx::query("INSERT INTO words VALUES (?, ?)")
            .bind(w)
            .bind(i as i32)
            .execute(&lite)
            .await
            .expect("insert");
        sqlx::query("INSERT INTO tags VALUES (?, ?)")
            .bind(i as i32)
            .bind(w)
            .execute(&lite)
            .await
            .expect("insert tag");
    }
    lite.close().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    // Two keys a batch: `a`, `a ` and `a  ` fall in different batches.
    let job = job(dbs.sqlite("src"), dbs.mysql(), &["words", "tags"], 2);
    // `migrate` also checks that the unique index was created.
    let (plan, _) = migrate(&engine, &job).await;
    let my = dbs.my_pool().await;
    assert_eq!(my_words(&my, "words").await, words_expected());
    let tags = my_words(&my, "(SELECT tag AS w, id AS n FROM tags) t").await;
    assert_eq!(tags, words_expected());
    let unique: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.statistics
         WHERE table_schema = DATABASE() AND table_name = 'tags' AND column_name = 'tag'
           AND non_unique = 0",
    )
    .fetch_one(&my)
    .await
    .expect("index");
    assert_eq!(unique, 1);
    rerun_all(&engine, &job, &plan).await;
    assert_eq!(my_words(&my, "words").await, words_expected());
    engine.release_job(job.job_id).await;
    my.close().await;
    dbs.cleanup().await;
}
