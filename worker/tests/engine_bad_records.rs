//! Bad records: the batch is narrowed down to the rows the target refuses;
//! good rows are written; beyond the budget the batch fails and writes
//! nothing, still naming the bad records.

#[path = "engine_support/mod.rs"]
mod support;

use freight_worker::engine::{Engine, RejectedRecord};
use serde_json::json;
use sqlx::Executor;
use support::{Dbs, expect_rejected, job, migrate, to_run};

fn keys(records: &[RejectedRecord]) -> Vec<serde_json::Value> {
    let mut k: Vec<_> = records.iter().map(|r| r.key.clone()).collect();
    k.sort_by_key(|v| v[0].as_i64());
    k
}

/// Plans the job and runs every batch with `budget` record errors each:
/// rows written and the records rejected, in all.
async fn plan_and_run_all(
    engine: &Engine,
    job: &freight_worker::engine::JobContext,
    budget: u64,
) -> (i64, Vec<RejectedRecord>) {
    let plan = engine.plan(job, true).await.expect("plan");
    let mut rejected = Vec::new();
    let mut written = 0;
    for b in &plan.batches {
        let o = engine
            .run_batch(job, &to_run(b, budget))
            .await
            .expect("batch");
        written += o.rows_written;
        rejected.extend(o.rejected);
    }
    (written, rejected)
}

async fn mysql_people(dbs: &Dbs) {
    let my = dbs.my_pool().await;
    my.execute("CREATE TABLE people (id int PRIMARY KEY, name varchar(50), age int)")
        .await
        .expect("create");
    for i in 1..=100 {
        let name = match i {
            7 => None,
            77 => Some("nul\0byte".to_owned()),
            _ => Some(format!("person {i}")),
        };
        let age = if i == 42 { -1 } else { i };
        sqlx::query("INSERT INTO people VALUES (?, ?, ?)")
            .bind(i)
            .bind(name)
            .bind(age)
            .execute(&my)
            .await
            .expect("insert");
    }
}

const PG_PEOPLE: &str =
    "CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL, age int CHECK (age >= 0))";

#[tokio::test]
async fn bad_rows_are_isolated_and_good_rows_written_into_postgres() {
    let dbs = Dbs::new().await;
    mysql_people(&dbs).await;
    let pg = dbs.pg_pool().await;
    pg.execute(PG_PEOPLE).await.expect("target");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.mysql(), dbs.pg("public"), &["people"], 1000);
    let plan = engine.plan(&job, true).await.expect("plan");
    assert_eq!(plan.batches.len(), 1);
    let outcome = engine
        .run_batch(&job, &to_run(&plan.batches[0], 10))
        .await
        .expect("batch");
    assert_eq!(outcome.rows_read, 100);
    assert_eq!(outcome.rows_written, 97);
    assert_eq!(
        keys(&outcome.rejected),
        [json!([7]), json!([42]), json!([77])]
    );
    let by_key = |k: i64| {
        outcome
            .rejected
            .iter()
            .find(|r| r.key == json!([k]))
            .expect("rejected")
    };
    assert_eq!(by_key(7).column.as_deref(), Some("name"));
    assert!(by_key(7).message.contains("23502"), "{}", by_key(7).message);
    assert!(
        by_key(42).message.contains("check"),
        "{}",
        by_key(42).message
    );
    // PostgreSQL names the check, not the column: the check's default name
    // (`people_age_check`) does.
    assert_eq!(by_key(42).column.as_deref(), Some("age"));
    assert_eq!(by_key(77).column.as_deref(), Some("name"));
    assert_eq!(outcome.verified, Some(true), "{:?}", outcome.verify_detail);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM people")
        .fetch_one(&pg)
        .await
        .expect("count");
    assert_eq!(n, 97);
    // Running it again gives the same result (idempotent with rejects too).
    let again = engine
        .run_batch(&job, &to_run(&plan.batches[0], 10))
        .await
        .expect("again");
    assert_eq!(again.rejected.len(), 3);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM people")
        .fetch_one(&pg)
        .await
        .expect("count");
    assert_eq!(n, 97);

    // Budget 0: the batch fails, writes nothing, and names the records.
    pg.execute("TRUNCATE people").await.expect("truncate");
    let err = engine
        .run_batch(&job, &to_run(&plan.batches[0], 0))
        .await
        .expect_err("over budget");
    assert_eq!(
        keys(&expect_rejected(err)),
        [json!([7]), json!([42]), json!([77])]
    );
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM people")
        .fetch_one(&pg)
        .await
        .expect("count");
    assert_eq!(n, 0);
    // Budget 2 < 3 bad records: also fails whole.
    let err = engine
        .run_batch(&job, &to_run(&plan.batches[0], 2))
        .await
        .expect_err("over budget");
    assert_eq!(expect_rejected(err).len(), 3);

    // After fixing the source data, the batch completes.
    let my = dbs.my_pool().await;
    my.execute("UPDATE people SET name = 'seven' WHERE id = 7; UPDATE people SET age = 42 WHERE id = 42; UPDATE people SET name = 'fixed' WHERE id = 77")
        .await
        .expect("fix");
    let fixed = engine
        .run_batch(&job, &to_run(&plan.batches[0], 0))
        .await
        .expect("fixed");
    assert_eq!((fixed.rows_written, fixed.rejected.len()), (100, 0));
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn values_that_do_not_fit_mysql_are_rejected_not_truncated() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE TABLE codes (id int PRIMARY KEY, code text, n bigint);
         INSERT INTO codes SELECT i, 'c' || i, i FROM generate_series(1, 30) i;
         UPDATE codes SET code = 'far too long for five' WHERE id = 5;
         UPDATE codes SET n = 99999999999 WHERE id = 20;",
    )
    .await
    .expect("source");
    let my = dbs.my_pool().await;
    my.execute("CREATE TABLE codes (id int PRIMARY KEY, code varchar(5), n int)")
        .await
        .expect("target");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.pg("public"), dbs.mysql(), &["codes"], 8);
    let (written, rejected) = plan_and_run_all(&engine, &job, 5).await;
    assert_eq!(written, 28);
    assert_eq!(keys(&rejected), [json!([5]), json!([20])]);
    let cols: Vec<Option<String>> = rejected.iter().map(|r| r.column.clone()).collect();
    assert!(
        cols.contains(&Some("code".into())) && cols.contains(&Some("n".into())),
        "{rejected:?}"
    );
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM codes")
        .fetch_one(&my)
        .await
        .expect("count");
    assert_eq!(n, 28);
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_infinity_copies_to_postgres_and_is_a_record_error_for_mysql() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.spans (id int PRIMARY KEY, d date, ts timestamp, tz timestamptz);
         INSERT INTO src.spans SELECT i, '2024-01-01'::date + i, '2024-01-01 10:00'::timestamp + i * interval '1 hour',
                                      '2024-01-01 10:00Z'::timestamptz + i * interval '1 minute'
         FROM generate_series(1, 12) i;
         UPDATE src.spans SET d = 'infinity', ts = '-infinity', tz = 'infinity' WHERE id = 3;
         UPDATE src.spans SET d = '-infinity', ts = 'infinity', tz = '-infinity' WHERE id = 9;",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());

    // PostgreSQL to PostgreSQL: the values arrive as they were.
    let to_pg = job(dbs.pg("src"), dbs.pg("dst"), &["spans"], 5);
    let (_, outcomes) = support::migrate(&engine, &to_pg).await;
    assert_eq!(outcomes.iter().map(|o| o.rows_written).sum::<i64>(), 12);
    let diff: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT * FROM src.spans EXCEPT SELECT * FROM dst.spans) x",
    )
    .fetch_one(&pg)
    .await
    .expect("compare");
    assert_eq!(diff, 0);
    let infinite: Vec<(i32, String, String, String)> = sqlx::query_as(
        "SELECT id, d::text, ts::text, tz::text FROM dst.spans WHERE id IN (3, 9) ORDER BY id",
    )
    .fetch_all(&pg)
    .await
    .expect("read");
    assert_eq!(
        infinite,
        [
            (3, "infinity".into(), "-infinity".into(), "infinity".into()),
            (9, "-infinity".into(), "infinity".into(), "-infinity".into()),
        ]
    );

    // MySQL has no infinity: those two rows are rejected records naming a
    // column, the other ten are written.
    let to_my = job(dbs.pg("src"), dbs.mysql(), &["spans"], 5);
    let (written, rejected) = plan_and_run_all(&engine, &to_my, 5).await;
    assert_eq!(written, 10);
    assert_eq!(keys(&rejected), [json!([3]), json!([9])]);
    assert!(rejected.iter().all(|r| r.column.is_some()), "{rejected:?}");
    engine.release_job(to_pg.job_id).await;
    engine.release_job(to_my.job_id).await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn sqlite_constraint_violations_are_rejected() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE TABLE scores (id int PRIMARY KEY, score int);
         INSERT INTO scores SELECT i, i FROM generate_series(1, 20) i;
         UPDATE scores SET score = NULL WHERE id = 3;
         UPDATE scores SET score = 500 WHERE id = 13;",
    )
    .await
    .expect("source");
    let lite = dbs.sqlite_pool("dst").await;
    lite.execute(
        "CREATE TABLE scores (id INTEGER PRIMARY KEY, score INTEGER NOT NULL CHECK (score < 100))",
    )
    .await
    .expect("target");
    lite.close().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.pg("public"), dbs.sqlite("dst"), &["scores"], 100);
    let plan = engine.plan(&job, true).await.expect("plan");
    let o = engine
        .run_batch(&job, &to_run(&plan.batches[0], 2))
        .await
        .expect("batch");
    assert_eq!(o.rows_written, 18);
    assert_eq!(keys(&o.rejected), [json!([3]), json!([13])]);
    assert!(
        o.rejected
            .iter()
            .any(|r| r.column.as_deref() == Some("score")),
        "{:?}",
        o.rejected
    );
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn text_with_a_nul_character_is_a_record_error_naming_table_column_and_key_or_is_stripped() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE notes (id int PRIMARY KEY, note text, tag varchar(10));
         INSERT INTO notes VALUES (1, 'ok', 'a'), (2, CONCAT('bad', CHAR(0), 'x'), 'b'), (3, 'fine', 'c');",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let reject = job(dbs.mysql(), dbs.pg("rejected"), &["notes"], 10);
    let plan = engine.plan(&reject, true).await.expect("plan");
    let batch = to_run(&plan.batches[0], 0);
    let records = expect_rejected(
        engine
            .run_batch(&reject, &batch)
            .await
            .expect_err("over budget"),
    );
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].key, serde_json::json!([2]));
    assert_eq!(records[0].column.as_deref(), Some("note"));
    assert!(
        records[0].message.contains("notes") && records[0].message.contains("NUL"),
        "{}",
        records[0].message
    );
    let within = engine
        .run_batch(&reject, &to_run(&plan.batches[0], 1))
        .await
        .expect("within budget");
    assert_eq!(within.rows_written, 2);
    assert_eq!(within.verified, Some(true), "{:?}", within.verify_detail);
    let pg = dbs.pg_pool().await;
    let ids: Vec<i32> = sqlx::query_scalar("SELECT id FROM rejected.notes ORDER BY id")
        .fetch_all(&pg)
        .await
        .expect("ids");
    assert_eq!(ids, [1, 3]);

    let mut strip = job(dbs.mysql(), dbs.pg("stripped"), &["notes"], 10);
    strip.nul_characters = freight_core::job::NulCharacters::Strip;
    migrate(&engine, &strip).await;
    let note: String = sqlx::query_scalar("SELECT note FROM stripped.notes WHERE id = 2")
        .fetch_one(&pg)
        .await
        .expect("note");
    assert_eq!(note, "badx");
    for j in [&reject, &strip] {
        engine.release_job(j.job_id).await;
    }
    pg.close().await;
    dbs.cleanup().await;
}

/// Rows 3 (qty), 5 (code, a duplicate of row 4's) and 7 (amount) break
/// the target's constraints; `(id, column)` of each rejected record.
async fn constraint_rejections(
    engine: &Engine,
    job: &freight_worker::engine::JobContext,
) -> Vec<(i64, Option<String>)> {
    let (written, rejected) = plan_and_run_all(engine, job, 10).await;
    assert_eq!(written, 17);
    let mut got: Vec<(i64, Option<String>)> = rejected
        .iter()
        .map(|r| (r.key[0].as_i64().expect("id"), r.column.clone()))
        .collect();
    got.sort();
    got
}

#[tokio::test]
async fn constraint_names_lead_to_their_columns_on_every_target() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src; CREATE SCHEMA dst;
         CREATE TABLE src.orders (id int PRIMARY KEY, qty int, code text, amount int);
         INSERT INTO src.orders SELECT i, CASE WHEN i = 3 THEN -1 ELSE i END,
             CASE WHEN i IN (4, 5) THEN 'dup' ELSE 'c' || i END,
             CASE WHEN i = 7 THEN 5000 ELSE i END
           FROM generate_series(1, 20) i;
         CREATE TABLE dst.orders (id int PRIMARY KEY,
             qty int CONSTRAINT qty_ok CHECK (qty >= 0),
             code text CONSTRAINT uq_code UNIQUE,
             amount int CONSTRAINT not_too_much CHECK (amount < 1000));",
    )
    .await
    .expect("postgres");
    let my = dbs.my_pool().await;
    // A named table CHECK (MySQL 4025 names it), a column CHECK (named
    // after its column) and a named unique index (1062 names the key).
    my.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, qty int, code varchar(10),
             amount int CHECK (amount < 1000),
             CONSTRAINT qty_ok CHECK (qty >= 0), UNIQUE KEY uq_code (code))",
    )
    .await
    .expect("mariadb");
    let lite = dbs.sqlite_pool("dst").await;
    // A named CHECK, an unnamed one (SQLite quotes its expression) and a
    // unique index (SQLite names table.column itself).
    lite.execute(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, qty INTEGER, code TEXT, amount INTEGER,
             CONSTRAINT qty_ok CHECK (qty >= 0), CHECK (amount < 1000));
         CREATE UNIQUE INDEX uq_code ON orders (code);",
    )
    .await
    .expect("sqlite");
    lite.close().await;
    let want = vec![
        (3, Some("qty".to_owned())),
        (5, Some("code".to_owned())),
        (7, Some("amount".to_owned())),
    ];
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    for target in [dbs.pg("dst"), dbs.mysql(), dbs.sqlite("dst")] {
        let kind = target.kind;
        let j = job(dbs.pg("src"), target, &["orders"], 1000);
        assert_eq!(constraint_rejections(&engine, &j).await, want, "{kind:?}");
        engine.release_job(j.job_id).await;
    }
    pg.close().await;
    my.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn a_keyless_table_with_bad_rows_is_isolated_chunk_by_chunk() {
    // 3,000 rows without a key (duplicates included): one batch, read in
    // chunks while the bad rows are narrowed down, never held whole.
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE logs (n int, msg varchar(20));
         INSERT INTO logs SELECT IF(seq IN (700, 2900), -seq, seq % 1000), 'm' FROM seq_1_to_3000;",
    )
    .await
    .expect("source");
    let pg = dbs.pg_pool().await;
    pg.execute("CREATE TABLE logs (n int CHECK (n >= 0), msg text)")
        .await
        .expect("target");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.pg("public"), &["logs"], 1000);
    let (written, rejected) = plan_and_run_all(&engine, &j, 5).await;
    assert_eq!(written, 2998);
    let mut bad: Vec<(serde_json::Value, Option<String>)> = rejected
        .iter()
        .map(|r| (r.key.clone(), r.column.clone()))
        .collect();
    bad.sort_by_key(|(k, _)| k[0].as_i64());
    assert_eq!(
        bad,
        vec![
            (json!([-2900, "m"]), Some("n".to_owned())),
            (json!([-700, "m"]), Some("n".to_owned())),
        ]
    );
    let (rows, sum): (i64, i64) = sqlx::query_as("SELECT count(*), sum(n)::bigint FROM logs")
        .fetch_one(&pg)
        .await
        .expect("target");
    let want: i64 = (1..=3000i64)
        .filter(|i| *i != 700 && *i != 2900)
        .map(|i| i % 1000)
        .sum();
    assert_eq!((rows, sum), (2998, want));
    // Over the budget the batch writes nothing and names both rows.
    let plan = engine.plan(&j, true).await.expect("plan");
    let err = engine
        .run_batch(&j, &to_run(&plan.batches[0], 1))
        .await
        .expect_err("over budget");
    assert_eq!(expect_rejected(err).len(), 2);
    engine.release_job(j.job_id).await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn decimals_with_more_digits_than_mysql_keeps_are_rejected_not_rounded() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    // `free` (unconstrained numeric) and `wide` (scale 35) become
    // decimal(65,30) on MySQL, which MariaDB's strict mode still rounds
    // (a note, no error) beyond 30 fraction digits.
    pg.execute(
        "CREATE TABLE nums (id int PRIMARY KEY, free numeric, wide numeric(50,35));
         INSERT INTO nums VALUES
           (1, '0.1234567890123456789012345678901234', NULL),
           (2, '1.5', '0.12345'),
           (3, NULL, '0.12345678901234567890123456789012345'),
           (4, '-0.123456789012345678901234567890000', '7'),
           (5, '12345678901234567890123456789012345', NULL),
           (6, '123456789012345678901234567890123456', NULL);",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.pg("public"), dbs.mysql(), &["nums"], 4);
    let (written, rejected) = plan_and_run_all(&engine, &job, 5).await;
    assert_eq!(keys(&rejected), [json!([1]), json!([3]), json!([6])]);
    assert_eq!(written, 3);
    let by_key = |id: i64| {
        rejected
            .iter()
            .find(|r| r.key == json!([id]))
            .expect("record")
    };
    assert_eq!(by_key(1).column.as_deref(), Some("free"));
    assert_eq!(by_key(3).column.as_deref(), Some("wide"));
    assert_eq!(by_key(6).column.as_deref(), Some("free"));
    for id in [1, 3] {
        let message = &by_key(id).message;
        assert!(
            message.contains("nums") && message.contains("fraction digits"),
            "{message}"
        );
    }
    // What was written is exact.
    let my = dbs.my_pool().await;
    let rows: Vec<(i32, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT id, CAST(free AS CHAR), CAST(wide AS CHAR) FROM nums ORDER BY id")
            .fetch_all(&my)
            .await
            .expect("read");
    let normalized: Vec<(i32, Option<String>, Option<String>)> = rows
        .into_iter()
        .map(|(id, f, w)| {
            let n =
                |v: Option<String>| v.map(|v| freight_worker::engine::model::normalize_decimal(&v));
            (id, n(f), n(w))
        })
        .collect();
    assert_eq!(
        normalized,
        [
            (2, Some("1.5".into()), Some("0.12345".into())),
            (
                4,
                Some("-0.12345678901234567890123456789".into()),
                Some("7".into())
            ),
            (5, Some("12345678901234567890123456789012345".into()), None),
        ]
    );
    engine.release_job(job.job_id).await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}
