//! MySQL zero and partial dates into PostgreSQL, under both `zero_dates`
//! modes: NULL (a NOT NULL column rejects the record) or a rejected record
//! naming table, column and key, the rest of the batch copied.

#[path = "engine_support/mod.rs"]
mod support;

use freight_core::job::ZeroDates;
use freight_worker::engine::{BatchOutcome, Engine, JobContext, RejectedRecord};
use sqlx::Executor;
use support::{Dbs, expect_rejected, job, to_run};

async fn source_with_zero_dates(dbs: &Dbs) {
    let my = dbs.my_pool().await;
    let mut conn = my.acquire().await.expect("conn");
    // Zero dates can only be stored with a lax sql_mode.
    conn.execute("SET SESSION sql_mode = ''")
        .await
        .expect("mode");
    conn.execute(
        "CREATE TABLE dates (id int PRIMARY KEY, d date, dt datetime, nn date NOT NULL);
         INSERT INTO dates VALUES
           (1, '2024-01-01', '2024-01-01 10:00:00', '2024-01-01'),
           (2, '0000-00-00', '2024-01-02 10:00:00', '2024-01-02'),
           (3, '2024-01-03', '2024-00-10 10:00:00', '2024-01-03'),
           (4, '2024-01-04', NULL, '0000-00-00'),
           (5, NULL, '2024-01-05 10:00:00', '2024-01-05');
         CREATE TABLE codes (code varchar(10) PRIMARY KEY, d date);
         INSERT INTO codes VALUES ('a', '2024-01-01'), ('b', '2024-02-00'), ('c', NULL);",
    )
    .await
    .expect("source");
    drop(conn);
    my.close().await;
}

/// Plans (creating the target tables) and runs every batch with `budget`.
async fn run_all(
    engine: &Engine,
    j: &JobContext,
    budget: u64,
) -> (Vec<BatchOutcome>, Vec<RejectedRecord>) {
    let plan = engine.plan(j, true).await.expect("plan");
    let mut outcomes = Vec::new();
    let mut rejected = Vec::new();
    for b in &plan.batches {
        let outcome = engine
            .run_batch(j, &to_run(b, budget))
            .await
            .expect("batch");
        assert_eq!(
            outcome.verified,
            Some(true),
            "verification: {:?}",
            outcome.verify_detail
        );
        rejected.extend(outcome.rejected.clone());
        outcomes.push(outcome);
    }
    (outcomes, rejected)
}

async fn target_dates(dbs: &Dbs) -> Vec<(i32, Option<String>, Option<String>)> {
    let pg = dbs.pg_pool().await;
    let rows = sqlx::query_as("SELECT id, d::text, dt::text FROM dates ORDER BY id")
        .fetch_all(&pg)
        .await
        .expect("target rows");
    pg.close().await;
    rows
}

#[tokio::test]
async fn zero_dates_null_copies_them_as_null_and_a_not_null_column_rejects_the_record() {
    let dbs = Dbs::new().await;
    source_with_zero_dates(&dbs).await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.pg("public"), &["dates"], 2);
    assert_eq!(j.zero_dates, ZeroDates::Null, "the default");

    let preview = engine.plan(&j, false).await.expect("preview");
    let warnings = &preview.report.tables[0].warnings;
    let zero: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("zero dates"))
        .collect();
    assert_eq!(zero.len(), 3, "{warnings:?}");
    assert!(zero[0].starts_with("column d:") && zero[0].contains("1 row(s) are copied as NULL"));
    assert!(zero[1].starts_with("column dt:") && zero[1].contains("1 row(s) are copied as NULL"));
    assert!(
        zero[2].starts_with("column nn:") && zero[2].contains("NOT NULL column refuses"),
        "{zero:?}"
    );

    let (outcomes, rejected) = run_all(&engine, &j, 10).await;
    assert_eq!(outcomes.iter().map(|o| o.rows_read).sum::<i64>(), 5);
    assert_eq!(outcomes.iter().map(|o| o.rows_written).sum::<i64>(), 4);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].key, serde_json::json!([4]));
    assert_eq!(rejected[0].column.as_deref(), Some("nn"));
    // The end-of-job warnings say what happened to each column's zero dates.
    let done = freight_core::work::conversion_warnings(
        outcomes
            .iter()
            .map(|o| ("dates", o.verify_detail.as_deref())),
    );
    let zero = "zero dates (0000-00-00 or a zero month/day) in 1 row(s)";
    assert_eq!(
        done,
        vec![
            format!("dates: column d: {zero} were copied as NULL (zero_dates: null)"),
            format!("dates: column dt: {zero} were copied as NULL (zero_dates: null)"),
            format!(
                "dates: column nn: {zero} were rejected records: zero_dates: null copies them as NULL, which the NOT NULL column refuses"
            ),
        ]
    );
    assert_eq!(
        target_dates(&dbs).await,
        vec![
            (
                1,
                Some("2024-01-01".into()),
                Some("2024-01-01 10:00:00".into())
            ),
            (2, None, Some("2024-01-02 10:00:00".into())),
            (3, Some("2024-01-03".into()), None),
            (5, None, Some("2024-01-05 10:00:00".into())),
        ]
    );
    dbs.cleanup().await;
}

#[tokio::test]
async fn zero_dates_reject_makes_each_such_row_a_record_error_and_copies_the_rest() {
    let dbs = Dbs::new().await;
    source_with_zero_dates(&dbs).await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let mut j = job(dbs.mysql(), dbs.pg("public"), &["dates", "codes"], 2);
    j.zero_dates = ZeroDates::Reject;

    let preview = engine.plan(&j, false).await.expect("preview");
    let warnings = preview.report.tables[1].warnings.join("\n");
    assert!(
        warnings.contains("column d: zero dates") && warnings.contains("zero_dates: reject"),
        "{warnings}"
    );

    let (outcomes, mut rejected) = run_all(&engine, &j, 10).await;
    assert_eq!(outcomes.iter().map(|o| o.rows_read).sum::<i64>(), 8);
    assert_eq!(
        outcomes.iter().map(|o| o.rows_written).sum::<i64>(),
        4,
        "{rejected:?}"
    );
    rejected.sort_by_key(|r| r.key.to_string());
    let named: Vec<(String, Option<&str>)> = rejected
        .iter()
        .map(|r| (r.key.to_string(), r.column.as_deref()))
        .collect();
    assert_eq!(
        named,
        vec![
            ("[\"b\"]".to_owned(), Some("d")),
            ("[2]".to_owned(), Some("d")),
            ("[3]".to_owned(), Some("dt")),
            ("[4]".to_owned(), Some("nn")),
        ]
    );
    for r in &rejected {
        let table = if r.key.to_string().contains('"') {
            "codes"
        } else {
            "dates"
        };
        assert!(
            r.message.starts_with(&format!("table {table}, column "))
                && r.message.contains("zero_dates: reject"),
            "{}",
            r.message
        );
    }
    assert_eq!(
        target_dates(&dbs).await,
        vec![
            (
                1,
                Some("2024-01-01".into()),
                Some("2024-01-01 10:00:00".into())
            ),
            (5, None, Some("2024-01-05 10:00:00".into())),
        ]
    );
    let pg = dbs.pg_pool().await;
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM codes ORDER BY code")
        .fetch_all(&pg)
        .await
        .expect("codes");
    assert_eq!(codes, ["a", "c"]);

    // Without a budget the batch fails, writes nothing and names the records.
    pg.execute("TRUNCATE dates").await.expect("truncate");
    let plan = engine.plan(&j, true).await.expect("plan");
    let first = plan
        .batches
        .iter()
        .find(|b| b.table_name == "dates" && b.key_start.is_none())
        .expect("first batch");
    let err = engine
        .run_batch(&j, &to_run(first, 0))
        .await
        .expect_err("over budget");
    let records = expect_rejected(err);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].key, serde_json::json!([2]));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM dates")
        .fetch_one(&pg)
        .await
        .expect("count");
    assert_eq!(left, 0, "nothing of the range was written");
    pg.close().await;
    dbs.cleanup().await;
}

/// `(id, d, dt)` of `dates` on a MySQL target, as text.
async fn mysql_dates(my: &sqlx::MySqlPool) -> Vec<(i32, Option<String>, Option<String>)> {
    sqlx::query_as(
        "SELECT id, CAST(d AS CHAR), DATE_FORMAT(dt, '%Y-%m-%d %H:%i:%s') FROM dates ORDER BY id",
    )
    .fetch_all(my)
    .await
    .expect("mysql target rows")
}

/// `(id, d, dt)` of `dates` on a SQLite target.
async fn sqlite_dates(lite: &sqlx::SqlitePool) -> Vec<(i64, Option<String>, Option<String>)> {
    sqlx::query_as("SELECT id, d, dt FROM dates ORDER BY id")
        .fetch_all(lite)
        .await
        .expect("sqlite target rows")
}

/// Into MariaDB (a second database: the target session is strict, so a
/// zero date written there would be refused) and SQLite (which would keep
/// the text `0000-00-00`): NULL, and the NOT NULL column rejects its row.
#[tokio::test]
async fn zero_dates_null_into_mariadb_and_sqlite() {
    let dbs = Dbs::new().await;
    source_with_zero_dates(&dbs).await;
    let (url, target) = dbs.second_mysql().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let expected = [
        (
            1,
            Some("2024-01-01".to_owned()),
            Some("2024-01-01 10:00:00".to_owned()),
        ),
        (2, None, Some("2024-01-02 10:00:00".to_owned())),
        (3, Some("2024-01-03".to_owned()), None),
        (5, None, Some("2024-01-05 10:00:00".to_owned())),
    ];

    let to_my = job(
        dbs.mysql(),
        support::config(freight_core::connection::DatabaseKind::Mysql, &url, None),
        &["dates"],
        2,
    );
    let (outcomes, rejected) = run_all(&engine, &to_my, 10).await;
    assert_eq!(outcomes.iter().map(|o| o.rows_written).sum::<i64>(), 4);
    let named: Vec<(serde_json::Value, Option<&str>)> = rejected
        .iter()
        .map(|r| (r.key.clone(), r.column.as_deref()))
        .collect();
    assert_eq!(named, [(serde_json::json!([4]), Some("nn"))]);
    assert_eq!(mysql_dates(&target).await, expected);

    let to_lite = job(dbs.mysql(), dbs.sqlite("t"), &["dates"], 2);
    let (_, rejected) = run_all(&engine, &to_lite, 10).await;
    let named: Vec<(serde_json::Value, Option<&str>)> = rejected
        .iter()
        .map(|r| (r.key.clone(), r.column.as_deref()))
        .collect();
    assert_eq!(named, [(serde_json::json!([4]), Some("nn"))]);
    let lite = dbs.sqlite_pool("t").await;
    let got: Vec<(i32, Option<String>, Option<String>)> = sqlite_dates(&lite)
        .await
        .into_iter()
        .map(|(id, d, dt)| (i32::try_from(id).expect("id"), d, dt))
        .collect();
    assert_eq!(got, expected);
    for j in [&to_my, &to_lite] {
        engine.release_job(j.job_id).await;
    }
    lite.close().await;
    target.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}

/// `zero_dates: reject` into MariaDB and SQLite: each such row a record
/// naming its column and key, the rest copied (text keys too).
#[tokio::test]
async fn zero_dates_reject_into_mariadb_and_sqlite() {
    let dbs = Dbs::new().await;
    source_with_zero_dates(&dbs).await;
    let (url, target) = dbs.second_mysql().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let mut to_my = job(
        dbs.mysql(),
        support::config(freight_core::connection::DatabaseKind::Mysql, &url, None),
        &["dates", "codes"],
        2,
    );
    to_my.zero_dates = ZeroDates::Reject;
    let mut to_lite = job(dbs.mysql(), dbs.sqlite("t"), &["dates", "codes"], 2);
    to_lite.zero_dates = ZeroDates::Reject;
    let expected_records = vec![
        ("[\"b\"]".to_owned(), Some("d")),
        ("[2]".to_owned(), Some("d")),
        ("[3]".to_owned(), Some("dt")),
        ("[4]".to_owned(), Some("nn")),
    ];
    for j in [&to_my, &to_lite] {
        let (_, mut rejected) = run_all(&engine, j, 10).await;
        rejected.sort_by_key(|r| r.key.to_string());
        let named: Vec<(String, Option<&str>)> = rejected
            .iter()
            .map(|r| (r.key.to_string(), r.column.as_deref()))
            .collect();
        assert_eq!(named, expected_records);
    }
    let kept = vec![
        (
            1,
            Some("2024-01-01".to_owned()),
            Some("2024-01-01 10:00:00".to_owned()),
        ),
        (5, None, Some("2024-01-05 10:00:00".to_owned())),
    ];
    assert_eq!(mysql_dates(&target).await, kept);
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM codes ORDER BY code")
        .fetch_all(&target)
        .await
        .expect("codes");
    assert_eq!(codes, ["a", "c"]);
    let lite = dbs.sqlite_pool("t").await;
    let got: Vec<(i32, Option<String>, Option<String>)> = sqlite_dates(&lite)
        .await
        .into_iter()
        .map(|(id, d, dt)| (i32::try_from(id).expect("id"), d, dt))
        .collect();
    assert_eq!(got, kept);
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM codes ORDER BY code")
        .fetch_all(&lite)
        .await
        .expect("codes");
    assert_eq!(codes, ["a", "c"]);
    for j in [&to_my, &to_lite] {
        engine.release_job(j.job_id).await;
    }
    lite.close().await;
    target.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}
