//! Validation of key ranges (`Engine::validate_range`) across dialects:
//! identical rich data gives equal counts and checksums per range in every
//! direction (SQLite hashed on the worker, the others in SQL), and a
//! changed value, a missing row and an extra row are each found in their
//! range.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "engine_support/rich.rs"]
mod rich;
#[path = "engine_support/mod.rs"]
mod support;

use freight_core::ids::BatchId;
use freight_worker::engine::{Engine, JobContext, JobPlan, RangeCheck, RangeToValidate};
use sqlx::Executor;
use support::*;

async fn check_all(engine: &Engine, job: &JobContext, plan: &JobPlan) -> Vec<RangeCheck> {
    let mut out = Vec::new();
    for b in &plan.batches {
        let range = RangeToValidate {
            batch_id: BatchId::new(),
            table_name: b.table_name.clone(),
            key_start: b.key_start.clone(),
            key_end: b.key_end.clone(),
        };
        out.push(engine.validate_range(job, &range).await.expect("validate"));
    }
    out
}

fn assert_all_match(checks: &[RangeCheck], what: &str) {
    assert!(checks.len() > 1, "{what}: several ranges");
    for c in checks {
        assert!(c.matched, "{what}: {}", c.detail);
        assert_eq!(c.source, c.target, "{what}");
        assert!(c.source.rows == 0 || c.source.checksum > 0, "{what}");
    }
}

/// Indexes of the ranges that differ.
fn mismatched(checks: &[RangeCheck]) -> Vec<usize> {
    (0..checks.len()).filter(|&i| !checks[i].matched).collect()
}

/// The range holding integer key `id`.
fn range_of(plan: &JobPlan, id: i64) -> usize {
    let bound = |v: &Option<serde_json::Value>| v.as_ref().and_then(|b| b[0].as_i64());
    plan.batches
        .iter()
        .position(|b| {
            bound(&b.key_start).is_none_or(|s| s <= id) && bound(&b.key_end).is_none_or(|e| id < e)
        })
        .expect("a range holds the id")
}

#[tokio::test]
async fn identical_data_matches_in_every_direction_and_each_change_names_its_range() {
    let dbs = Dbs::new().await;
    let rows = rich::rows(60);
    let my = dbs.my_pool().await;
    rich::create_mysql(&my, &rows).await;
    let pg = dbs.pg_pool().await;
    pg.execute("CREATE SCHEMA src; CREATE SCHEMA a; CREATE SCHEMA b")
        .await
        .expect("schemas");
    rich::create_pg(&pg, "src", &rows).await;
    let sq_src = dbs.sqlite_pool("src").await;
    rich::create_sqlite(&sq_src, &rows).await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());

    // MariaDB → PostgreSQL: in SQL on both sides.
    let my_pg = job(dbs.mysql(), dbs.pg("a"), &["rich"], 10);
    let (plan, _) = migrate(&engine, &my_pg).await;
    let checks = check_all(&engine, &my_pg, &plan).await;
    assert_all_match(&checks, "mariadb → postgres");
    // Floats and JSON are compared by count only, and say so.
    assert!(
        checks[0]
            .detail
            .contains("compared by count only: ratio (double), doc ("),
        "{}",
        checks[0].detail
    );

    // One changed value, one missing row, one extra row.
    pg.execute(
        "UPDATE a.rich SET name = name || 'x' WHERE id = 4;
         DELETE FROM a.rich WHERE id = 91;
         INSERT INTO a.rich (id) VALUES (152);",
    )
    .await
    .expect("tamper");
    let checks = check_all(&engine, &my_pg, &plan).await;
    let mut expected = vec![
        range_of(&plan, 4),
        range_of(&plan, 91),
        range_of(&plan, 152),
    ];
    expected.sort_unstable();
    expected.dedup();
    assert_eq!(expected.len(), 3, "three ranges");
    assert_eq!(mismatched(&checks), expected);
    let changed = &checks[range_of(&plan, 4)];
    assert_eq!(
        changed.source.rows, changed.target.rows,
        "same count, other value"
    );
    assert_eq!(
        checks[range_of(&plan, 91)].target.rows + 1,
        checks[range_of(&plan, 91)].source.rows
    );
    assert_eq!(
        checks[range_of(&plan, 152)].target.rows,
        checks[range_of(&plan, 152)].source.rows + 1
    );
    engine.release_job(my_pg.job_id).await;

    // PostgreSQL → MariaDB, MariaDB → SQLite (hashed on the worker) and
    // SQLite → PostgreSQL.
    let pairs = [
        (
            job(dbs.pg("src"), dbs.mysql(), &["rich"], 10),
            "postgres → mariadb",
        ),
        (
            job(dbs.mysql(), dbs.sqlite("dst"), &["rich"], 10),
            "mariadb → sqlite",
        ),
        (
            job(dbs.sqlite("src"), dbs.pg("b"), &["rich"], 10),
            "sqlite → postgres",
        ),
    ];
    let mut plans = Vec::new();
    for (j, what) in &pairs {
        let (plan, _) = migrate(&engine, j).await;
        assert_all_match(&check_all(&engine, j, &plan).await, what);
        plans.push(plan);
    }
    let sq_dst = dbs.sqlite_pool("dst").await;
    sqlx::query("UPDATE rich SET amount = '1.5' WHERE id = 10")
        .execute(&sq_dst)
        .await
        .expect("tamper sqlite");
    let (j, _) = &pairs[1];
    let checks = check_all(&engine, j, &plans[1]).await;
    assert_eq!(
        mismatched(&checks),
        vec![range_of(&plans[1], 10)],
        "sqlite change found"
    );
    for (j, _) in &pairs {
        engine.release_job(j.job_id).await;
    }
    my.close().await;
    pg.close().await;
    sq_src.close().await;
    sq_dst.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn extra_target_rows_of_a_text_key_table_fail_the_table_count() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE words (w varchar(20) PRIMARY KEY, n int) CHARSET utf8mb4 COLLATE utf8mb4_general_ci;
         INSERT INTO words SELECT CONCAT('w', seq), seq FROM seq_1_to_25;",
    )
    .await
    .expect("data");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.pg("public"), &["words"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let checks = check_all(&engine, &j, &plan).await;
    assert_all_match(&checks, "copied");
    assert!(
        checks[0]
            .detail
            .contains("table words: source 25 rows, target 25"),
        "{}",
        checks[0].detail
    );
    // A row the source never had: no range's keys reach it.
    let pg = dbs.pg_pool().await;
    pg.execute("INSERT INTO words VALUES ('stray', 0)")
        .await
        .expect("extra");
    let checks = check_all(&engine, &j, &plan).await;
    assert_eq!(mismatched(&checks), vec![0], "the table's first range");
    let d = &checks[0].detail;
    assert!(d.contains("TABLE COUNT MISMATCH"), "{d}");
    assert!(
        d.contains("at least 1 row(s) whose key the source does not hold"),
        "{d}"
    );
    assert!(d.contains("retrying batches does not remove them"), "{d}");
    engine.release_job(j.job_id).await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn bits_and_same_dialect_floats_json_and_arrays_are_in_the_checksum() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE flags (id int PRIMARY KEY, f bit(5), r double);
         INSERT INTO flags SELECT seq, seq % 32, seq / 3 FROM seq_1_to_30;",
    )
    .await
    .expect("mariadb data");
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src; CREATE SCHEMA dst;
         CREATE TABLE src.t (id int PRIMARY KEY, r float8, doc jsonb, tags int[], b bit(3));
         INSERT INTO src.t SELECT i, i / 7.0, jsonb_build_object('k', i, 'a', 'x'), ARRAY[i, i + 1], (i % 8)::bit(3)
           FROM generate_series(1, 30) i;",
    )
    .await
    .expect("pg data");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());

    // MariaDB bit(5) → PostgreSQL bit(5): compared as binary digits; the
    // double is not (two printers), and says so.
    let my_pg = job(dbs.mysql(), dbs.pg("public"), &["flags"], 10);
    let (plan, _) = migrate(&engine, &my_pg).await;
    let checks = check_all(&engine, &my_pg, &plan).await;
    assert_all_match(&checks, "bits");
    assert!(
        checks[0]
            .detail
            .contains("compared by count only: r (double)"),
        "{}",
        checks[0].detail
    );
    pg.execute("UPDATE public.flags SET f = B'11111' WHERE id = 4")
        .await
        .expect("tamper bit");
    let checks = check_all(&engine, &my_pg, &plan).await;
    assert_eq!(mismatched(&checks), vec![range_of(&plan, 4)]);
    engine.release_job(my_pg.job_id).await;

    // PostgreSQL → PostgreSQL: floats, jsonb and arrays by their own text.
    let pg_pg = job(dbs.pg("src"), dbs.pg("dst"), &["t"], 10);
    let (plan, _) = migrate(&engine, &pg_pg).await;
    let checks = check_all(&engine, &pg_pg, &plan).await;
    assert_all_match(&checks, "pg → pg");
    assert!(
        !checks[0].detail.contains("compared by count only"),
        "{}",
        checks[0].detail
    );
    pg.execute(
        "UPDATE dst.t SET r = r + 1e-12 WHERE id = 5;
         UPDATE dst.t SET doc = doc || '{\"k\": 0}' WHERE id = 15;
         UPDATE dst.t SET tags = ARRAY[0] WHERE id = 25;",
    )
    .await
    .expect("tamper");
    let checks = check_all(&engine, &pg_pg, &plan).await;
    let mut want = vec![range_of(&plan, 5), range_of(&plan, 15), range_of(&plan, 25)];
    want.dedup();
    assert_eq!(mismatched(&checks), want);
    engine.release_job(pg_pg.job_id).await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

/// Zero and partial MySQL dates are copied as NULL (`zero_dates: null`):
/// validation compares them as NULL too, so an untouched copy passes.
#[tokio::test]
async fn zero_dates_copied_as_null_validate_as_null() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    sqlx::raw_sql(
        "SET SESSION sql_mode = '';
         CREATE TABLE stamps (id int PRIMARY KEY, born date, seen datetime, at timestamp NULL);
         INSERT INTO stamps SELECT seq,
             IF(seq % 3 = 0, '0000-00-00', '2024-01-02'),
             IF(seq % 4 = 0, '2024-00-10 10:00:00', IF(seq % 5 = 0, NULL, '2024-03-04 05:06:07')),
             IF(seq % 7 = 0, '0000-00-00 00:00:00', '2024-05-06 07:08:09')
           FROM seq_1_to_40;",
    )
    .execute(&my)
    .await
    .expect("zero dates");
    let pg = dbs.pg_pool().await;
    pg.execute("CREATE SCHEMA a").await.expect("schema");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let my_pg = job(dbs.mysql(), dbs.pg("a"), &["stamps"], 10);
    let (plan, _) = migrate(&engine, &my_pg).await;
    let nulls: i64 = sqlx::query_scalar("SELECT count(*) FROM a.stamps WHERE born IS NULL")
        .fetch_one(&pg)
        .await
        .expect("copied");
    assert_eq!(nulls, 13, "the zero dates arrived as NULL");
    let checks = check_all(&engine, &my_pg, &plan).await;
    assert_all_match(&checks, "zero dates");
    // A real difference in a date is still found.
    pg.execute("UPDATE a.stamps SET born = '2024-01-03' WHERE id = 1")
        .await
        .expect("tamper");
    let checks = check_all(&engine, &my_pg, &plan).await;
    assert_eq!(mismatched(&checks), vec![range_of(&plan, 1)]);
    engine.release_job(my_pg.job_id).await;
    dbs.cleanup().await;
}

/// A MySQL `year` 0 (shown `0000`) arrives as 0 on PostgreSQL and SQLite
/// and as the year 0 on MariaDB: validation renders it as the number on
/// both sides, so an untouched copy passes in every direction.
#[tokio::test]
async fn mysql_year_zero_validates_in_every_direction() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE y (id int PRIMARY KEY, c year);
         INSERT INTO y VALUES (1, 1901), (2, 0), (3, NULL), (4, 2155);",
    )
    .await
    .expect("years");
    let (my_t_url, my_t) = dbs.second_mysql().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let targets = [
        (dbs.pg("public"), "mariadb → postgres"),
        (dbs.sqlite("dst"), "mariadb → sqlite"),
        (
            config(
                freight_core::connection::DatabaseKind::Mysql,
                &my_t_url,
                None,
            ),
            "mariadb → mariadb",
        ),
    ];
    for (target, what) in targets {
        let j = job(dbs.mysql(), target, &["y"], 2);
        let (plan, _) = migrate(&engine, &j).await;
        let checks = check_all(&engine, &j, &plan).await;
        assert_all_match(&checks, what);
        assert!(
            !checks[0].detail.contains("compared by count only"),
            "{what}: {}",
            checks[0].detail
        );
        engine.release_job(j.job_id).await;
    }
    let pg = dbs.pg_pool().await;
    let pg_years: Vec<Option<i16>> = sqlx::query_scalar("SELECT c FROM y ORDER BY id")
        .fetch_all(&pg)
        .await
        .expect("pg years");
    assert_eq!(pg_years, vec![Some(1901), Some(0), None, Some(2155)]);
    let my_years: Vec<Option<String>> =
        sqlx::query_scalar("SELECT CAST(c AS CHAR) FROM y ORDER BY id")
            .fetch_all(&my_t)
            .await
            .expect("mariadb years");
    let want = ["1901", "0000"].map(|y| Some(y.to_owned()));
    assert_eq!(
        my_years,
        vec![want[0].clone(), want[1].clone(), None, Some("2155".into())]
    );
    // A changed year is still found.
    pg.execute("UPDATE y SET c = 1 WHERE id = 2")
        .await
        .expect("tamper");
    let j = job(dbs.mysql(), dbs.pg("public"), &["y"], 2);
    let plan = engine.plan(&j, false).await.expect("plan");
    let checks = check_all(&engine, &j, &plan).await;
    assert_eq!(mismatched(&checks), vec![range_of(&plan, 2)]);
    engine.release_job(j.job_id).await;
    my.close().await;
    my_t.close().await;
    pg.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}
