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
    // JSON into jsonb is compared by count only, and says so (floats are
    // compared by their bits).
    assert!(
        checks[0].detail.contains("compared by count only: doc ("),
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
    // double by its bits.
    let my_pg = job(dbs.mysql(), dbs.pg("public"), &["flags"], 10);
    let (plan, _) = migrate(&engine, &my_pg).await;
    let checks = check_all(&engine, &my_pg, &plan).await;
    assert_all_match(&checks, "bits");
    assert!(
        !checks[0].detail.contains("compared by count only"),
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

/// Validates every range of a job that was just migrated and returns the
/// checks, asserting that each matched and that no column was left out.
async fn validated_in_full(
    engine: &Engine,
    job: &JobContext,
    plan: &JobPlan,
    what: &str,
) -> Vec<RangeCheck> {
    let checks = check_all(engine, job, plan).await;
    for c in &checks {
        assert!(c.matched, "{what}: {}", c.detail);
        assert!(
            !c.detail.contains("compared by count only"),
            "{what}: {}",
            c.detail
        );
    }
    checks
}

/// MariaDB → MariaDB: a `tinyint(1)` is an integer column there, so 2, -1
/// and 127 arrive as they are (not as 1), and validation compares the
/// integers: a changed value is found.
#[tokio::test]
async fn mysql_to_mysql_keeps_tinyint1_values_and_validation_compares_them() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE flags (id int PRIMARY KEY, b tinyint(1), n tinyint(1) NOT NULL DEFAULT 1);
         INSERT INTO flags VALUES (1, 2, 0), (2, -1, 1), (3, 1, 127), (4, 0, -128), (5, NULL, 5);
         CREATE TABLE levels (lvl tinyint(1) PRIMARY KEY, name varchar(10));
         INSERT INTO levels VALUES (-1, 'a'), (0, 'b'), (1, 'c'), (2, 'd'), (5, 'e'), (9, 'f');",
    )
    .await
    .expect("source");
    let (url, target) = dbs.second_mysql().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(
        dbs.mysql(),
        config(freight_core::connection::DatabaseKind::Mysql, &url, None),
        &["flags"],
        2,
    );
    let (plan, _) = migrate(&engine, &j).await;
    let rows: Vec<(i32, Option<i8>, i8)> = sqlx::query_as("SELECT id, b, n FROM flags ORDER BY id")
        .fetch_all(&target)
        .await
        .expect("copied");
    assert_eq!(
        rows,
        vec![
            (1, Some(2), 0),
            (2, Some(-1), 1),
            (3, Some(1), 127),
            (4, Some(0), -128),
            (5, None, 5)
        ]
    );
    let column_type: String = sqlx::query_scalar(
        "SELECT CAST(column_type AS CHAR) FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'flags' AND column_name = 'b'",
    )
    .fetch_one(&target)
    .await
    .expect("type");
    assert_eq!(column_type, "tinyint(1)");
    validated_in_full(&engine, &j, &plan, "tinyint(1)").await;
    // As a key too: its ranges are cut on the integers.
    let levels = job(
        dbs.mysql(),
        config(freight_core::connection::DatabaseKind::Mysql, &url, None),
        &["levels"],
        2,
    );
    let (levels_plan, _) = migrate(&engine, &levels).await;
    assert_eq!(levels_plan.batches.len(), 3);
    let keys: Vec<i8> = sqlx::query_scalar("SELECT lvl FROM levels ORDER BY lvl")
        .fetch_all(&target)
        .await
        .expect("levels");
    assert_eq!(keys, [-1, 0, 1, 2, 5, 9]);
    validated_in_full(&engine, &levels, &levels_plan, "tinyint(1) key").await;
    engine.release_job(levels.job_id).await;
    // 2 → 3 keeps both true: compared as integers, the change is found.
    target
        .execute("UPDATE flags SET b = 3 WHERE id = 1")
        .await
        .expect("tamper");
    let checks = check_all(&engine, &j, &plan).await;
    assert_eq!(mismatched(&checks), vec![range_of(&plan, 1)]);
    engine.release_job(j.job_id).await;
    my.close().await;
    target.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}

/// PostgreSQL `±infinity` dates and timestamps arrive in SQLite as the
/// text `infinity` / `-infinity`; validation renders them so on
/// PostgreSQL too (its `to_char` gives NULL), so the copy passes.
#[tokio::test]
async fn postgres_infinite_dates_validate_against_sqlite() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE TABLE spans (id int PRIMARY KEY, d date, ts timestamp, tz timestamptz);
         INSERT INTO spans VALUES
           (1, 'infinity', 'infinity', 'infinity'),
           (2, '-infinity', '-infinity', '-infinity'),
           (3, '2024-02-29', '2024-02-29 10:11:12.5', '2024-02-29 10:11:12.5+02'),
           (4, NULL, NULL, NULL);",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.pg("public"), dbs.sqlite("t"), &["spans"], 2);
    let (plan, _) = migrate(&engine, &j).await;
    let lite = dbs.sqlite_pool("t").await;
    let held: Vec<(Option<String>, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT d, ts, tz FROM spans WHERE id <= 2 ORDER BY id")
            .fetch_all(&lite)
            .await
            .expect("copied");
    let inf = |s: &str| Some(s.to_owned());
    assert_eq!(
        held,
        vec![
            (inf("infinity"), inf("infinity"), inf("infinity")),
            (inf("-infinity"), inf("-infinity"), inf("-infinity"))
        ]
    );
    validated_in_full(&engine, &j, &plan, "infinity").await;
    lite.execute("UPDATE spans SET ts = '-infinity' WHERE id = 1")
        .await
        .expect("tamper");
    let checks = check_all(&engine, &j, &plan).await;
    assert_eq!(mismatched(&checks), vec![range_of(&plan, 1)]);
    engine.release_job(j.job_id).await;
    lite.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

/// With `nul_characters: strip` the copy removes NULs, and validation
/// renders the source's text without them (in MariaDB's SQL, and on the
/// worker for a SQLite source): the ranges pass, and are not forever
/// mismatched.
#[tokio::test]
async fn stripped_nul_characters_validate_in_every_direction() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE texts (id int PRIMARY KEY, s text, v varchar(20));
         INSERT INTO texts VALUES (1, 'plain', 'a'), (6, CONCAT('nul', CHAR(0), 'inside'), CONCAT(CHAR(0), 'x', CHAR(0))),
           (7, NULL, ''), (9, CONCAT(CHAR(0), CHAR(0)), 'ünï');",
    )
    .await
    .expect("mariadb source");
    let lite = dbs.sqlite_pool("src").await;
    lite.execute("CREATE TABLE texts (id INTEGER PRIMARY KEY, s TEXT)")
        .await
        .expect("sqlite source");
    for (id, s) in [(1, "plain"), (6, "nul\0inside"), (9, "\0\0")] {
        sqlx::query("INSERT INTO texts VALUES (?, ?)")
            .bind(id)
            .bind(s)
            .execute(&lite)
            .await
            .expect("sqlite row");
    }
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let strip = |mut j: JobContext| {
        j.nul_characters = freight_core::job::NulCharacters::Strip;
        j
    };
    let jobs = [
        (
            strip(job(dbs.mysql(), dbs.pg("public"), &["texts"], 2)),
            "mariadb → postgres",
        ),
        (
            strip(job(dbs.mysql(), dbs.sqlite("t"), &["texts"], 2)),
            "mariadb → sqlite",
        ),
        (
            strip(job(dbs.sqlite("src"), dbs.mysql(), &["texts"], 2)),
            "sqlite → mariadb",
        ),
    ];
    for (j, what) in &jobs {
        // The SQLite → MariaDB job writes into the MariaDB source's
        // database: give it its own table.
        if what.starts_with("sqlite") {
            my.execute("DROP TABLE texts").await.expect("drop");
        }
        let (plan, _) = migrate(&engine, j).await;
        validated_in_full(&engine, j, &plan, what).await;
        engine.release_job(j.job_id).await;
    }
    let stored: Option<String> = sqlx::query_scalar("SELECT s FROM texts WHERE id = 6")
        .fetch_one(&my)
        .await
        .expect("stripped");
    assert_eq!(stored.as_deref(), Some("nulinside"));
    // A NUL on the target is still a difference.
    my.execute("UPDATE texts SET s = CONCAT(s, CHAR(0)) WHERE id = 1")
        .await
        .expect("tamper");
    let (j, _) = &jobs[2];
    let plan = engine.plan(j, false).await.expect("plan");
    let checks = check_all(&engine, j, &plan).await;
    assert_eq!(mismatched(&checks), vec![range_of(&plan, 1)]);
    engine.release_job(j.job_id).await;
    my.close().await;
    lite.close().await;
    dbs.cleanup().await;
}

/// A MySQL `TIME` (a duration) is text in a SQLite target; validation
/// reads that text back as microseconds and compares it with the source's.
#[tokio::test]
async fn mysql_time_in_sqlite_is_compared_by_value() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE spans (id int PRIMARY KEY, t time(6));
         INSERT INTO spans VALUES (1, '838:59:59'), (2, '-12:30:00'), (3, '13:14:15.5'),
           (4, NULL), (5, '-00:00:00.000001'), (6, '00:00:00');",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.sqlite("t"), &["spans"], 2);
    let (plan, _) = migrate(&engine, &j).await;
    validated_in_full(&engine, &j, &plan, "time into sqlite").await;
    let lite = dbs.sqlite_pool("t").await;
    lite.execute("UPDATE spans SET t = '-12:30:01' WHERE id = 2")
        .await
        .expect("tamper");
    let checks = check_all(&engine, &j, &plan).await;
    assert_eq!(mismatched(&checks), vec![range_of(&plan, 2)]);
    engine.release_job(j.job_id).await;
    lite.close().await;
    my.close().await;
    dbs.cleanup().await;
}

/// Doubles and floats are compared by their IEEE 754 bits in every
/// direction (MariaDB computes them with exact arithmetic, PostgreSQL with
/// `float8send`, SQLite's on the worker): equal values pass whatever each
/// database prints, and a change of one unit in the last place is found.
#[tokio::test]
async fn floats_are_compared_exactly_across_dialects() {
    // Values no printer agrees on, the extremes, subnormals, a MySQL
    // FLOAT's largest value, negative zero.
    let doubles: Vec<f64> = vec![
        0.1,
        1e300,
        -0.0,
        1.0 / 3.0,
        -2.0 / 3.0,
        5.299_064_834_871_378e16,
        1e23,
        5e-324,
        -2.225_073_858_507_201e-308,
        2.225_073_858_507_201_4e-308,
        1.797_693_134_862_315_7e308,
        -1.797_693_134_862_315_7e308,
        123_456.789,
        1e-5,
        9_007_199_254_740_993.0,
    ];
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute("CREATE TABLE nums (id int PRIMARY KEY, d double, f float)")
        .await
        .expect("mariadb table");
    for (i, d) in doubles.iter().enumerate() {
        sqlx::query("INSERT INTO nums VALUES (?, ?, ?)")
            .bind(i as i32)
            .bind(d)
            .bind((*d as f32).is_finite().then_some(*d as f32))
            .execute(&my)
            .await
            .expect("mariadb row");
    }
    my.execute(
        "INSERT INTO nums VALUES (100, NULL, 3.402823466e38), (101, 0, -3.402823466e38),
           (102, 1, 1e-40), (103, 2, 0.1)",
    )
    .await
    .expect("mariadb floats");
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.nums (id int PRIMARY KEY, d float8, f real);
         INSERT INTO src.nums VALUES (1, 'NaN', 'NaN'), (2, 'Infinity', '-Infinity'),
           (3, 0.1, 0.1), (4, -0.0, 3.4028235e38), (5, 1e-310, 1e-40), (6, NULL, NULL);",
    )
    .await
    .expect("pg source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let cases = [
        (
            job(dbs.mysql(), dbs.pg("public"), &["nums"], 4),
            "mariadb → postgres",
        ),
        (
            job(dbs.mysql(), dbs.sqlite("t"), &["nums"], 4),
            "mariadb → sqlite",
        ),
        (
            job(dbs.pg("src"), dbs.sqlite("p"), &["nums"], 4),
            "postgres → sqlite",
        ),
        (
            job(dbs.sqlite("t"), dbs.pg("b"), &["nums"], 4),
            "sqlite → postgres",
        ),
    ];
    pg.execute("CREATE SCHEMA b").await.expect("schema");
    let mut plans = Vec::new();
    for (j, what) in &cases {
        let (plan, _) = migrate(&engine, j).await;
        validated_in_full(&engine, j, &plan, what).await;
        plans.push(plan);
    }
    // One unit in the last place, on each kind of target.
    let next_up = |d: f64| f64::from_bits(d.to_bits() + 1);
    sqlx::query("UPDATE public.nums SET d = $1 WHERE id = 0")
        .bind(next_up(0.1))
        .execute(&pg)
        .await
        .expect("tamper pg");
    let checks = check_all(&engine, &cases[0].0, &plans[0]).await;
    assert_eq!(mismatched(&checks), vec![range_of(&plans[0], 0)]);
    let lite = dbs.sqlite_pool("p").await;
    sqlx::query("UPDATE nums SET d = ? WHERE id = 3")
        .bind(next_up(0.1))
        .execute(&lite)
        .await
        .expect("tamper sqlite");
    let checks = check_all(&engine, &cases[2].0, &plans[2]).await;
    assert_eq!(mismatched(&checks), vec![range_of(&plans[2], 3)]);
    // MariaDB as the target: PostgreSQL's NaN and infinities are rejected
    // records there; the other rows pass.
    let to_my = job(dbs.pg("src"), dbs.mysql(), &["nums"], 4);
    my.execute("DROP TABLE nums").await.expect("drop");
    let plan = engine.plan(&to_my, true).await.expect("plan");
    for b in &plan.batches {
        engine
            .run_batch(&to_my, &to_run(b, 10))
            .await
            .expect("batch");
    }
    let checks = check_all(&engine, &to_my, &plan).await;
    assert!(
        checks.iter().all(|c| !c.detail.contains("count only")),
        "{checks:?}"
    );
    let mut want = vec![range_of(&plan, 1), range_of(&plan, 2)];
    want.dedup();
    assert_eq!(mismatched(&checks), want, "the NaN and infinity rows");
    for (j, _) in &cases {
        engine.release_job(j.job_id).await;
    }
    engine.release_job(to_my.job_id).await;
    lite.close().await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

/// JSON is compared by its text where the target keeps the text it was
/// given (SQLite, MariaDB); into `jsonb` (which reorders keys) by count.
#[tokio::test]
async fn json_is_compared_where_the_target_keeps_its_text() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE docs (id int PRIMARY KEY, doc json);
         INSERT INTO docs VALUES (1, '{\"b\": 1, \"a\": [1, 2.50]}'), (2, NULL), (3, '\"ü\"'), (4, '{}');",
    )
    .await
    .expect("mariadb source");
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.docs (id int PRIMARY KEY, doc jsonb, raw json);
         INSERT INTO src.docs VALUES (1, '{\"b\": 1, \"a\": [1, 2.50]}', '{\"b\":1,  \"a\":2}'), (2, NULL, NULL), (3, '[]', '\"x\"');",
    )
    .await
    .expect("pg source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let to_lite = job(dbs.mysql(), dbs.sqlite("t"), &["docs"], 2);
    let (plan, _) = migrate(&engine, &to_lite).await;
    validated_in_full(&engine, &to_lite, &plan, "mariadb → sqlite").await;
    let lite = dbs.sqlite_pool("t").await;
    lite.execute("UPDATE docs SET doc = '{\"a\": [1, 2.50], \"b\": 1}' WHERE id = 1")
        .await
        .expect("tamper");
    let checks = check_all(&engine, &to_lite, &plan).await;
    assert_eq!(mismatched(&checks), vec![range_of(&plan, 1)]);
    let pg_my = job(dbs.pg("src"), dbs.mysql(), &["docs"], 2);
    my.execute("DROP TABLE docs").await.expect("drop");
    let (plan, _) = migrate(&engine, &pg_my).await;
    validated_in_full(&engine, &pg_my, &plan, "postgres → mariadb").await;
    // MariaDB → PostgreSQL jsonb: by count, and said so.
    let my_pg = job(dbs.mysql(), dbs.pg("public"), &["docs"], 2);
    let (plan, _) = migrate(&engine, &my_pg).await;
    let checks = check_all(&engine, &my_pg, &plan).await;
    assert_all_match(&checks, "mariadb → postgres");
    assert!(
        checks[0].detail.contains("compared by count only: doc ("),
        "{}",
        checks[0].detail
    );
    for j in [&to_lite, &pg_my, &my_pg] {
        engine.release_job(j.job_id).await;
    }
    lite.close().await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}
