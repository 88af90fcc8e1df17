//! MySQL/MariaDB types into PostgreSQL: the documented mapping and values
//! (legacy empty enum values into every target).

#[path = "engine_support/mod.rs"]
mod support;

use std::collections::HashMap;

use freight_worker::engine::Engine;
use sqlx::{Executor, Row};
use support::{Dbs, job, migrate};

#[tokio::test]
async fn mysql_types_map_faithfully_to_postgres() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    let mut conn = my.acquire().await.expect("conn");
    // Zero dates can only be stored with a lax sql_mode.
    conn.execute("SET SESSION sql_mode = ''")
        .await
        .expect("mode");
    conn.execute(
        "CREATE TABLE kinds (
            id int unsigned PRIMARY KEY,
            b tinyint(1), tu tinyint unsigned, iu int unsigned, bu bigint unsigned,
            d decimal(30,10), f float, e enum('red','green','it''s'), s set('x','y'),
            dt datetime(3), ts timestamp NULL, dd date, tm time, yr year,
            j json, bl blob, bt bit(5), pt point, vb varbinary(8))",
    )
    .await
    .expect("create");
    conn.execute(
        "INSERT INTO kinds VALUES
          (1, 1, 255, 4294967295, 18446744073709551615, 12345678901234567890.0123456789, 1.5, 'it''s', 'x,y',
           '2024-02-29 23:59:59.123', '2024-06-01 12:00:00', '0000-00-00', '13:14:15', 2024,
           '{\"a\": [1, 2]}', x'00ff10', b'10101', POINT(1.5, -2), x'cafe'),
          (2, 0, 0, 0, 0, -0.5, NULL, 'red', '', '0000-00-00 00:00:00', NULL, '1999-12-31', NULL, NULL,
           NULL, NULL, NULL, NULL, NULL)",
    )
    .await
    .expect("insert");
    drop(conn);
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.mysql(), dbs.pg("public"), &["kinds"], 10);
    // The preview counts zero dates; a job's own planning skips that scan.
    let preview = engine.plan(&job, false).await.expect("preview");
    let previewed = preview.report.tables[0].warnings.join("\n");
    assert!(previewed.contains("zero dates"), "{previewed}");
    let (plan, _) = migrate(&engine, &job).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    for needle in ["WKB", "comma-separated"] {
        assert!(warnings.contains(needle), "missing {needle} in {warnings}");
    }
    assert!(!warnings.contains("zero dates"), "{warnings}");

    let pg = dbs.pg_pool().await;
    let types: HashMap<String, String> = sqlx::query(
        "SELECT column_name::text, format_type(atttypid, atttypmod) FROM information_schema.columns c
         JOIN pg_attribute a ON a.attrelid = 'kinds'::regclass AND a.attname = c.column_name
         WHERE table_name = 'kinds'",
    )
    .fetch_all(&pg)
    .await
    .expect("types")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let expect = [
        ("id", "bigint"),
        ("b", "boolean"),
        ("tu", "smallint"),
        ("iu", "bigint"),
        ("bu", "numeric(20,0)"),
        ("d", "numeric(30,10)"),
        ("f", "real"),
        ("e", "text"),
        ("s", "text"),
        ("dt", "timestamp without time zone"),
        ("ts", "timestamp with time zone"),
        ("dd", "date"),
        ("tm", "interval"),
        ("yr", "smallint"),
        ("j", "jsonb"),
        ("bl", "bytea"),
        ("bt", "bit(5)"),
        ("pt", "bytea"),
        ("vb", "bytea"),
    ];
    for (col, ty) in expect {
        assert_eq!(types.get(col).map(String::as_str), Some(ty), "column {col}");
    }
    let row = sqlx::query(
        "SELECT b, tu, iu, bu::text, d::text, f, e, s, dt::text, ts = '2024-06-01 12:00:00+00', dd, tm::text, yr,
                j = '{\"a\": [1, 2]}'::jsonb, bl, bt::text, length(pt), vb
         FROM kinds WHERE id = 1",
    )
    .fetch_one(&pg)
    .await
    .expect("row 1");
    assert!(row.get::<bool, _>(0));
    assert_eq!(row.get::<i16, _>(1), 255);
    assert_eq!(row.get::<i64, _>(2), 4_294_967_295);
    assert_eq!(row.get::<String, _>(3), "18446744073709551615");
    assert_eq!(row.get::<String, _>(4), "12345678901234567890.0123456789");
    assert_eq!(row.get::<f32, _>(5), 1.5);
    assert_eq!(row.get::<String, _>(6), "it's");
    assert_eq!(row.get::<String, _>(7), "x,y");
    assert_eq!(row.get::<String, _>(8), "2024-02-29 23:59:59.123");
    assert!(row.get::<bool, _>(9));
    assert_eq!(
        row.get::<Option<chrono::NaiveDate>, _>(10),
        None,
        "zero date becomes NULL"
    );
    assert_eq!(row.get::<String, _>(11), "13:14:15");
    assert_eq!(row.get::<i16, _>(12), 2024);
    assert!(row.get::<bool, _>(13));
    assert_eq!(row.get::<Vec<u8>, _>(14), vec![0x00, 0xff, 0x10]);
    assert_eq!(row.get::<String, _>(15), "10101");
    assert_eq!(
        row.get::<i32, _>(16),
        21,
        "WKB point: byte order, type, two doubles"
    );
    assert_eq!(row.get::<Vec<u8>, _>(17), vec![0xca, 0xfe]);

    let row2 = sqlx::query("SELECT b, dt, d::text, s FROM kinds WHERE id = 2")
        .fetch_one(&pg)
        .await
        .expect("row 2");
    assert!(!row2.get::<bool, _>(0));
    assert_eq!(
        row2.get::<Option<chrono::NaiveDateTime>, _>(1),
        None,
        "zero datetime becomes NULL"
    );
    assert_eq!(row2.get::<String, _>(2), "-0.5000000000");
    assert_eq!(row2.get::<String, _>(3), "");
    // The enum keeps its closed set as a CHECK.
    let bad = pg
        .execute("INSERT INTO kinds (id, e) VALUES (3, 'blue')")
        .await;
    assert!(bad.is_err(), "enum CHECK missing");
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn mysql_time_beyond_a_day_and_negative_arrives_as_interval_with_the_rest_of_the_row() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE spans (id int PRIMARY KEY, tm time, tm6 time(6), note varchar(10));
         INSERT INTO spans VALUES (1, '838:59:59', '-00:00:00.5', 'a'), (2, '-12:30:00', '00:00:01.5', 'b'),
             (3, '-838:59:59', NULL, 'c'), (4, '13:14:15', '23:59:59.999999', 'd');",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    // verify: true (the support's default) also compares checksums.
    let to_pg = job(dbs.mysql(), dbs.pg("public"), &["spans"], 10);
    let (plan, outcomes) = migrate(&engine, &to_pg).await;
    assert!(
        plan.report.tables[0].target_ddl[0].contains("interval"),
        "{:?}",
        plan.report.tables[0].target_ddl
    );
    assert_eq!(outcomes[0].rows_written, 4);
    assert!(outcomes[0].rejected.is_empty());
    let pg = dbs.pg_pool().await;
    let rows: Vec<(i32, String, Option<String>, String, i64)> = sqlx::query_as(
        "SELECT id, tm::text, tm6::text, note, extract(epoch FROM tm)::bigint FROM spans ORDER BY id",
    )
    .fetch_all(&pg)
    .await
    .expect("rows");
    assert_eq!(
        rows,
        [
            (
                1,
                "838:59:59".into(),
                Some("-00:00:00.5".into()),
                "a".into(),
                3_020_399
            ),
            (
                2,
                "-12:30:00".into(),
                Some("00:00:01.5".into()),
                "b".into(),
                -45_000
            ),
            (3, "-838:59:59".into(), None, "c".into(), -3_020_399),
            (
                4,
                "13:14:15".into(),
                Some("23:59:59.999999".into()),
                "d".into(),
                47_655
            ),
        ]
    );

    // Into MariaDB the values stay TIME, exactly.
    let admin = sqlx::MySqlPool::connect(support::MY_ADMIN)
        .await
        .expect("admin");
    let my_target = format!("{}_t", dbs.name);
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {my_target}")))
        .await
        .expect("target db");
    let target_url = format!("mysql://root@127.0.0.1:3306/{my_target}");
    let to_my = job(
        dbs.mysql(),
        support::config(
            freight_core::connection::DatabaseKind::Mysql,
            &target_url,
            None,
        ),
        &["spans"],
        10,
    );
    migrate(&engine, &to_my).await;
    let got: Vec<(String, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(tm AS CHAR), CAST(tm6 AS CHAR) FROM {my_target}.spans ORDER BY id"
    )))
    .fetch_all(&admin)
    .await
    .expect("mysql rows");
    assert_eq!(
        got[0],
        ("838:59:59.000000".into(), Some("-00:00:00.500000".into()))
    );
    assert_eq!(got[1].0, "-12:30:00.000000");
    let _ = admin
        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {my_target}")))
        .await;
    for j in [&to_pg, &to_my] {
        engine.release_job(j.job_id).await;
    }
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn the_zero_date_warning_names_only_columns_that_hold_zero_dates() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    let mut conn = my.acquire().await.expect("conn");
    conn.execute("SET SESSION sql_mode = ''")
        .await
        .expect("mode");
    conn.execute(
        "CREATE TABLE dates (id int PRIMARY KEY, zeroed datetime, clean datetime, day date NOT NULL,
                             bad_day date NOT NULL);
         INSERT INTO dates VALUES (1, '0000-00-00 00:00:00', '2024-01-01 00:00:00', '2024-01-01', '2024-00-10'),
             (2, '0000-00-00 00:00:00', NULL, '2024-01-02', '2024-01-01'),
             (3, NULL, '2024-01-03 00:00:00', '2024-01-03', '2024-01-01');",
    )
    .await
    .expect("source");
    drop(conn);
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.pg("public"), &["dates"], 10);
    let plan = engine.plan(&j, false).await.expect("plan");
    let warnings = &plan.report.tables[0].warnings;
    let zero: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("zero dates"))
        .collect();
    assert_eq!(zero.len(), 2, "{warnings:?}");
    assert!(
        zero[0].starts_with("column zeroed: zero dates") && zero[0].contains(" 2 row(s)"),
        "{zero:?}"
    );
    assert!(
        zero[1].starts_with("column bad_day: zero dates")
            && zero[1].contains(" 1 row(s)")
            && zero[1].contains("NOT NULL"),
        "{zero:?}"
    );
    dbs.cleanup().await;
}

/// A MySQL `enum` holding `''` (what MySQL stores for an invalid value
/// under `sql_mode = ''`) arrives as `''` on every target: the plan counts
/// them and the target's enum or CHECK allows `''` for that column only.
#[tokio::test]
async fn legacy_empty_enum_values_arrive_on_every_target() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    let mut conn = my.acquire().await.expect("conn");
    conn.execute("SET SESSION sql_mode = ''")
        .await
        .expect("lax mode");
    conn.execute(
        "CREATE TABLE legacy (id int PRIMARY KEY, c enum('a','b') NOT NULL, n enum('x','y'),
             k enum('p','q') NOT NULL);
         INSERT INTO legacy VALUES (1, 'a', 'x', 'p'), (2, 'zz', 'bad', 'q'), (3, 'b', NULL, 'p'),
             (4, '', 'y', 'q');",
    )
    .await
    .expect("source");
    drop(conn);
    let (my_t_url, my_t) = dbs.second_mysql().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let targets = [
        dbs.pg("public"),
        dbs.sqlite("t"),
        support::config(
            freight_core::connection::DatabaseKind::Mysql,
            &my_t_url,
            None,
        ),
    ];
    for target in targets {
        let what = format!("{:?}", target.kind);
        let j = job(dbs.mysql(), target, &["legacy"], 2);
        let (plan, outcomes) = migrate(&engine, &j).await;
        let warnings = plan.report.tables[0].warnings.join("\n");
        assert!(
            warnings.contains("column c: enum('a','b') holds the empty value '' (MySQL's value for an invalid enum value) in 2 row(s)"),
            "{what}: {warnings}"
        );
        assert!(
            warnings.contains("column n: enum('x','y') holds the empty value '' (MySQL's value for an invalid enum value) in 1 row(s)"),
            "{what}: {warnings}"
        );
        assert!(!warnings.contains("column k:"), "{what}: {warnings}");
        let written: i64 = outcomes.iter().map(|o| o.rows_written).sum();
        assert_eq!(written, 4, "{what}: every row arrives");
        // And validation after the load agrees.
        for b in &plan.batches {
            let range = freight_worker::engine::RangeToValidate {
                batch_id: freight_core::ids::BatchId::new(),
                table_name: b.table_name.clone(),
                key_start: b.key_start.clone(),
                key_end: b.key_end.clone(),
            };
            let check = engine.validate_range(&j, &range).await.expect("validate");
            assert!(check.matched, "{what}: {}", check.detail);
        }
        engine.release_job(j.job_id).await;
    }

    let want: Vec<(i32, String, Option<String>, String)> = vec![
        (1, "a".into(), Some("x".into()), "p".into()),
        (2, String::new(), Some(String::new()), "q".into()),
        (3, "b".into(), None, "p".into()),
        (4, String::new(), Some("y".into()), "q".into()),
    ];
    let pg = dbs.pg_pool().await;
    let got: Vec<(i32, String, Option<String>, String)> =
        sqlx::query_as("SELECT id, c, n, k FROM legacy ORDER BY id")
            .fetch_all(&pg)
            .await
            .expect("pg rows");
    assert_eq!(got, want, "postgres");
    // Only the columns that held '' allow it.
    let refused = pg
        .execute("INSERT INTO legacy VALUES (5, 'a', 'x', '')")
        .await;
    assert!(refused.is_err(), "k keeps its labels exactly");
    let lite = dbs.sqlite_pool("t").await;
    let got: Vec<(i64, String, Option<String>, String)> =
        sqlx::query_as("SELECT id, c, n, k FROM legacy ORDER BY id")
            .fetch_all(&lite)
            .await
            .expect("sqlite rows");
    let as_i64: Vec<_> = want
        .iter()
        .map(|(i, c, n, k)| (i64::from(*i), c.clone(), n.clone(), k.clone()))
        .collect();
    assert_eq!(got, as_i64, "sqlite");
    let got: Vec<(i32, String, Option<String>, String)> = sqlx::query_as(
        "SELECT id, CAST(c AS CHAR), CAST(n AS CHAR), CAST(k AS CHAR) FROM legacy ORDER BY id",
    )
    .fetch_all(&my_t)
    .await
    .expect("mariadb rows");
    assert_eq!(got, want, "mariadb");
    let ddl: (String, String) = sqlx::query_as("SHOW CREATE TABLE legacy")
        .fetch_one(&my_t)
        .await
        .expect("ddl");
    assert!(
        ddl.1.contains("enum('','a','b')") && ddl.1.contains("enum('p','q')"),
        "{}",
        ddl.1
    );
    pg.close().await;
    lite.close().await;
    my.close().await;
    my_t.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}
