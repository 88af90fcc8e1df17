//! Batch boundaries (gaps, negative, text, composite and uuid keys), running
//! a batch twice, multi-table jobs with indexes and foreign keys.

#[path = "engine_support/mod.rs"]
mod support;

use std::collections::BTreeSet;

use freight_worker::engine::{BatchOutcome, Engine, JobContext, JobPlan};
use sqlx::{Executor, Row};
use support::{Dbs, job, migrate, to_run};

/// Every batch but the last holds exactly `batch` rows and they add up.
fn assert_exact_ranges(plan: &JobPlan, outcomes: &[BatchOutcome], total: i64, batch: i64) {
    assert_eq!(
        plan.batches.len() as i64,
        (total + batch - 1) / batch,
        "batch count"
    );
    let (last, full) = outcomes.split_last().expect("batches");
    assert!(
        full.iter().all(|o| o.rows_read == batch),
        "full ranges: {outcomes:?}"
    );
    assert_eq!(last.rows_read, total - batch * full.len() as i64);
    assert_eq!(outcomes.iter().map(|o| o.rows_written).sum::<i64>(), total);
    assert!(plan.batches.first().expect("first").key_start.is_none());
    assert!(plan.batches.last().expect("last").key_end.is_none());
}

#[tokio::test]
async fn integer_keys_with_gaps_and_extremes_split_exactly() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute("CREATE SCHEMA src; CREATE TABLE src.t (id bigint PRIMARY KEY, v text)")
        .await
        .expect("create");
    let mut ids: Vec<i64> = vec![i64::MIN + 1, -1000, -5, 0, 1, 2, 10, 11, 100, i64::MAX - 1];
    ids.extend(5000..5023);
    ids.sort_unstable();
    for id in &ids {
        sqlx::query("INSERT INTO src.t VALUES ($1, $2)")
            .bind(id)
            .bind(format!("v{id}"))
            .execute(&pg)
            .await
            .expect("insert");
    }
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.pg("src"), dbs.pg("dst"), &["t"], 4);
    let (plan, outcomes) = migrate(&engine, &job).await;
    assert_exact_ranges(&plan, &outcomes, ids.len() as i64, 4);
    let got: Vec<i64> = sqlx::query_scalar("SELECT id FROM dst.t ORDER BY id")
        .fetch_all(&pg)
        .await
        .expect("read");
    assert_eq!(got, ids);
    engine.release_job(job.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn analyzed_dense_integer_keys_are_cut_by_arithmetic_and_sparse_ones_walked() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    // `dense` has ids 1..=2000 but 50..=59, `sparse` 2,000 rows on every
    // tenth id, and statistics exist for both (ANALYZE), as on any table in
    // use. The ten missing ids tell arithmetic ranges from walked ones.
    my.execute(
        "CREATE TABLE dense (id int PRIMARY KEY, v varchar(20));
         INSERT INTO dense SELECT seq, CONCAT('v', seq) FROM seq_1_to_2000 WHERE seq NOT BETWEEN 50 AND 59;
         CREATE TABLE sparse (id bigint PRIMARY KEY, v varchar(20));
         INSERT INTO sparse SELECT seq * 10, CONCAT('v', seq) FROM seq_1_to_2000;
         ANALYZE TABLE dense, sparse;",
    )
    .await
    .expect("data");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.mysql(), dbs.pg("public"), &["dense", "sparse"], 100);
    let (plan, outcomes) = migrate(&engine, &job).await;
    let of = |table: &str| -> (
        Vec<&freight_worker::engine::PlannedBatch>,
        Vec<&BatchOutcome>,
    ) {
        plan.batches
            .iter()
            .zip(&outcomes)
            .filter(|(b, _)| b.table_name == table)
            .unzip()
    };

    // Arithmetic: boundaries at min + i * batch_size (a walk would put the
    // first at 111), every range full but the one with the gap.
    let (batches, done) = of("dense");
    let ends: Vec<serde_json::Value> = batches.iter().filter_map(|b| b.key_end.clone()).collect();
    let want: Vec<serde_json::Value> = (1..20).map(|i| serde_json::json!([1 + i * 100])).collect();
    assert_eq!(ends, want);
    let rows: Vec<i64> = done.iter().map(|o| o.rows_read).collect();
    assert_eq!(rows[0], 90);
    assert!(rows[1..].iter().all(|n| *n == 100), "{rows:?}");
    let estimate = |table: &str| {
        plan.report
            .tables
            .iter()
            .find(|t| t.table_name == table)
            .map(|t| t.rows_estimate)
    };
    assert_eq!(
        estimate("dense"),
        Some(2000),
        "a 99.5 % dense key is estimated at its span"
    );
    assert_eq!(estimate("sparse"), Some(2000), "a walk counts exactly");

    // Arithmetic would make 200 ranges of 10 rows: the key is walked, and
    // every range holds exactly batch_size rows.
    let (batches, done) = of("sparse");
    assert_eq!(batches.len(), 20);
    assert_eq!(batches[0].key_end, Some(serde_json::json!([1010])));
    assert!(done.iter().all(|o| o.rows_read == 100), "{done:?}");

    let pg = dbs.pg_pool().await;
    for table in ["dense", "sparse"] {
        let (n, sum): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*), SUM(id)::bigint FROM {table}"
        )))
        .fetch_one(&pg)
        .await
        .expect("count");
        let (mn, msum): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*), CAST(SUM(id) AS SIGNED) FROM {table}"
        )))
        .fetch_one(&my)
        .await
        .expect("source count");
        assert_eq!((n, sum), (mn, msum), "{table}");
    }
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn rows_beyond_the_planned_key_span_land_in_the_open_end_ranges() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.t (id int PRIMARY KEY, v text);
         INSERT INTO src.t SELECT i, 'v' || i FROM generate_series(1, 1600) i;
         ANALYZE src.t;",
    )
    .await
    .expect("data");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.pg("src"), dbs.pg("dst"), &["t"], 100);
    let plan = engine.plan(&job, true).await.expect("plan");
    assert_eq!(plan.batches.len(), 16);
    assert_eq!(plan.batches[0].key_end, Some(serde_json::json!([101])));
    assert_eq!(plan.report.total_rows_estimate, 1600);
    // Written after planning, below the first and above the last key.
    pg.execute("INSERT INTO src.t VALUES (-7, 'low'), (99999, 'high')")
        .await
        .expect("late rows");
    let mut read = 0;
    for b in &plan.batches {
        read += engine
            .run_batch(&job, &to_run(b, 0))
            .await
            .expect("batch")
            .rows_read;
    }
    assert_eq!(read, 1602);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dst.t")
        .fetch_one(&pg)
        .await
        .expect("count");
    assert_eq!(n, 1602);
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn one_sided_ranges_on_an_unanalyzed_postgres_table_use_the_key_index() {
    // What the last batch of a table meets on a target this job filled:
    // no statistics yet, so PostgreSQL would scan the whole table.
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE TABLE filled (id bigint PRIMARY KEY, u char(36), email varchar(255),
             name varchar(100), amount numeric(12,2), active boolean, score float8,
             created_at timestamp, updated_at timestamptz, body text)
             WITH (autovacuum_enabled = false);
         INSERT INTO filled SELECT i, md5(i::text), 'user' || i || '@example.com', 'Name ' || i,
             i / 100.0, i % 2 = 0, i / 3.0, '2020-01-01', '2020-01-01Z', repeat('x', 60)
         FROM generate_series(1, 100000) i;",
    )
    .await
    .expect("data");
    let plan_of = |prefer_index: bool| {
        let pg = pg.clone();
        async move {
            let mut tx = pg.begin().await.expect("begin");
            if prefer_index {
                sqlx::query(freight_worker::engine::PG_PREFER_INDEX)
                    .execute(&mut *tx)
                    .await
                    .expect("set");
            }
            let rows: Vec<String> =
                sqlx::query_scalar("EXPLAIN DELETE FROM filled WHERE id >= 99001")
                    .fetch_all(&mut *tx)
                    .await
                    .expect("explain");
            rows.join("\n")
        }
    };
    let default_plan = plan_of(false).await;
    assert!(default_plan.contains("Seq Scan"), "{default_plan}");
    let chosen = plan_of(true).await;
    assert!(
        chosen.contains("filled_pkey") && !chosen.contains("Seq Scan"),
        "{chosen}"
    );

    // The engine copies into such a table (created by the job, never
    // analyzed) without a single sequential scan of it: its clears and
    // counts of the first and last ranges go through the key index.
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let target_url = format!("{}?application_name=freight_target", dbs.pg_url());
    let target = support::config(
        freight_core::connection::DatabaseKind::Postgresql,
        &target_url,
        Some("dst"),
    );
    let job = job(dbs.pg("public"), target, &["filled"], 25_000);
    let (plan, outcomes) = migrate(&engine, &job).await;
    assert_exact_ranges(&plan, &outcomes, 100_000, 25_000);
    engine.release_job(job.job_id).await;
    // A backend's table statistics reach pg_stat_user_tables when it exits.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (seq_read, inserted) = loop {
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'freight_target'",
        )
        .fetch_one(&pg)
        .await
        .expect("activity");
        let (seq_read, inserted): (i64, i64) = sqlx::query_as(
            "SELECT seq_tup_read, n_tup_ins FROM pg_stat_user_tables
             WHERE schemaname = 'dst' AND relname = 'filled'",
        )
        .fetch_one(&pg)
        .await
        .expect("table statistics");
        if live == 0 && inserted == 100_000 {
            break (seq_read, inserted);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "target connections still open ({live}) or statistics not flushed ({inserted})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(inserted, 100_000);
    // (Building the key index of the new, empty table is itself a
    // sequential scan, of no rows.)
    assert_eq!(seq_read, 0, "rows read by sequential scans of the target");
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn text_keys_follow_the_source_collation_without_loss() {
    // MariaDB's case-insensitive collation orders 'b' < 'C' while
    // PostgreSQL's C order does not: batches address the target by key set.
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute("CREATE TABLE words (w varchar(40) PRIMARY KEY, n int) CHARSET utf8mb4 COLLATE utf8mb4_general_ci")
        .await
        .expect("create");
    let words = [
        "a",
        "B",
        "c",
        "D",
        "e",
        "Zebra",
        "zz",
        "with space",
        "tab\tin",
        "quote'",
        "émile",
        "Ω",
        "1",
        "10",
        "9",
        "_",
        "-",
        "~",
    ];
    for (i, w) in words.iter().enumerate() {
        sqlx::query("INSERT INTO words VALUES (?, ?)")
            .bind(w)
            .bind(i as i32)
            .execute(&my)
            .await
            .expect("insert");
    }
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.mysql(), dbs.pg("public"), &["words"], 3);
    let (plan, outcomes) = migrate(&engine, &job).await;
    assert_exact_ranges(&plan, &outcomes, words.len() as i64, 3);
    let pg = dbs.pg_pool().await;
    let got: BTreeSet<String> = sqlx::query_scalar("SELECT w FROM words")
        .fetch_all(&pg)
        .await
        .expect("read")
        .into_iter()
        .collect();
    let want: BTreeSet<String> = words.iter().map(|w| (*w).to_owned()).collect();
    assert_eq!(got, want);
    // Re-running a middle batch after the others leaves every row in place.
    engine
        .run_batch(&job, &to_run(&plan.batches[2], 0))
        .await
        .expect("rerun");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM words")
        .fetch_one(&pg)
        .await
        .expect("count");
    assert_eq!(n, words.len() as i64);
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn composite_keys_split_exactly_sqlite_to_mysql_and_pg_to_sqlite() {
    let dbs = Dbs::new().await;
    let lite = dbs.sqlite_pool("src").await;
    lite.execute(
        "CREATE TABLE pairs (a INTEGER NOT NULL, b TEXT NOT NULL, v REAL, PRIMARY KEY (a, b))",
    )
    .await
    .expect("create");
    let mut expected = Vec::new();
    for a in [-3i64, 0, 1, 7] {
        for b in ["x", "Y", "a b", "z"] {
            sqlx::query("INSERT INTO pairs VALUES (?, ?, ?)")
                .bind(a)
                .bind(b)
                .bind(a as f64 / 3.0)
                .execute(&lite)
                .await
                .expect("insert");
            expected.push((a, b.to_owned()));
        }
    }
    expected.sort();
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job1 = job(dbs.sqlite("src"), dbs.mysql(), &["pairs"], 5);
    let (plan, outcomes) = migrate(&engine, &job1).await;
    assert_exact_ranges(&plan, &outcomes, expected.len() as i64, 5);
    let my = dbs.my_pool().await;
    let mut got: Vec<(i64, String)> = sqlx::query("SELECT a, b FROM pairs")
        .fetch_all(&my)
        .await
        .expect("read")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    got.sort();
    assert_eq!(got, expected);

    // And composite (text, integer) from PostgreSQL into SQLite.
    let pg = dbs.pg_pool().await;
    pg.execute("CREATE TABLE comp (k text, n int, PRIMARY KEY (k, n)); INSERT INTO comp SELECT 'k' || (i % 4), i FROM generate_series(1, 23) i")
        .await
        .expect("pg data");
    let job2 = job(dbs.pg("public"), dbs.sqlite("dst"), &["comp"], 6);
    let (plan, outcomes) = migrate(&engine, &job2).await;
    assert_exact_ranges(&plan, &outcomes, 23, 6);
    engine.release_job(job2.job_id).await;
    let dst = dbs.sqlite_pool("dst").await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT k || '/' || n) FROM comp")
        .fetch_one(&dst)
        .await
        .expect("count");
    assert_eq!(n, 23);
    engine.release_job(job1.job_id).await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn uuid_and_decimal_keys_split_exactly() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.u (id uuid PRIMARY KEY, v int);
         INSERT INTO src.u SELECT md5(i::text)::uuid, i FROM generate_series(1, 31) i;
         CREATE TABLE src.d (id numeric(20,5) PRIMARY KEY, v int);
         INSERT INTO src.d SELECT i / 7.0, i FROM generate_series(-10, 20) i;",
    )
    .await
    .expect("data");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.pg("src"), dbs.pg("dst"), &["u", "d"], 7);
    let (plan, outcomes) = migrate(&engine, &job).await;
    let per_table = |t: &str| -> Vec<BatchOutcome> {
        plan.batches
            .iter()
            .zip(&outcomes)
            .filter(|(b, _)| b.table_name == t)
            .map(|(_, o)| o.clone())
            .collect()
    };
    for (t, n) in [("u", 31), ("d", 31)] {
        let outs = per_table(t);
        assert_eq!(outs.iter().map(|o| o.rows_read).sum::<i64>(), n, "{t}");
        assert!(
            outs.iter().rev().skip(1).all(|o| o.rows_read == 7),
            "{t}: {outs:?}"
        );
    }
    let same: bool = sqlx::query_scalar(
        "SELECT (SELECT array_agg(id ORDER BY id) FROM src.u) = (SELECT array_agg(id ORDER BY id) FROM dst.u)
            AND (SELECT array_agg(id ORDER BY id) FROM src.d) = (SELECT array_agg(id ORDER BY id) FROM dst.d)",
    )
    .fetch_one(&pg)
    .await
    .expect("compare");
    assert!(same);
    engine.release_job(job.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

async fn mysql_snapshot(pool: &sqlx::MySqlPool) -> Vec<(i64, Option<String>)> {
    sqlx::query("SELECT id, v FROM t ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("snapshot")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn running_a_batch_twice_equals_running_it_once() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute("CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t SELECT i * 2, 'v' || i FROM generate_series(1, 50) i")
        .await
        .expect("data");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.pg("public"), dbs.mysql(), &["t"], 10);
    let (plan, _) = migrate(&engine, &job).await;
    let my = dbs.my_pool().await;
    let once = mysql_snapshot(&my).await;
    assert_eq!(once.len(), 50);

    for _ in 0..2 {
        let o = engine
            .run_batch(&job, &to_run(&plan.batches[2], 0))
            .await
            .expect("again");
        assert_eq!(
            (o.rows_read, o.rows_written, o.verified),
            (10, 10, Some(true))
        );
    }
    assert_eq!(mysql_snapshot(&my).await, once);

    // Drift inside the range (a stray row, a changed value, a lost row) is
    // repaired by re-running the range; rows outside it are untouched.
    let (start, end) = (22i64, 42i64);
    assert_eq!(plan.batches[1].key_start, Some(serde_json::json!([start])));
    assert_eq!(plan.batches[1].key_end, Some(serde_json::json!([end])));
    my.execute("INSERT INTO t VALUES (23, 'stray'); UPDATE t SET v = 'changed' WHERE id = 30; DELETE FROM t WHERE id = 40")
        .await
        .expect("drift");
    engine
        .run_batch(&job, &to_run(&plan.batches[1], 0))
        .await
        .expect("repair");
    assert_eq!(mysql_snapshot(&my).await, once);
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}

fn whole_db_job(dbs: &Dbs) -> JobContext {
    let mut j = job(dbs.mysql(), dbs.pg("public"), &[], 3);
    j.exclude_tables = vec!["skipme".into(), "nokey".into()];
    j
}

#[tokio::test]
async fn whole_database_with_excludes_indexes_and_foreign_keys() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE parent (id int PRIMARY KEY AUTO_INCREMENT, name varchar(50) NOT NULL, UNIQUE KEY uq_name (name));
         CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL, note varchar(20) DEFAULT 'none',
            KEY idx_parent (parent_id), CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parent (id));
         CREATE TABLE skipme (id int PRIMARY KEY);
         CREATE TABLE nokey (v int);
         INSERT INTO parent (name) VALUES ('a'), ('b'), ('c'), ('d');
         INSERT INTO child VALUES (1, 1, 'x'), (2, 1, 'y'), (3, 2, NULL), (4, 3, 'z'), (5, 4, 'w');
         INSERT INTO skipme VALUES (1);",
    )
    .await
    .expect("schema");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());

    // Without excluding it, the keyless table is planned as one batch.
    let mut all = whole_db_job(&dbs);
    all.exclude_tables.clear();
    let plan = engine.plan(&all, false).await.expect("keyless table");
    let nokey = plan
        .report
        .tables
        .iter()
        .find(|t| t.table_name == "nokey")
        .expect("nokey planned");
    assert_eq!(nokey.copy_mode, freight_core::plan::CopyMode::WholeTable);
    assert_eq!(nokey.batch_count, 1);

    let job = whole_db_job(&dbs);
    let (plan, outcomes) = migrate(&engine, &job).await;
    let names: Vec<&str> = plan
        .report
        .tables
        .iter()
        .map(|t| t.table_name.as_str())
        .collect();
    assert_eq!(names, ["child", "parent"]);
    assert_eq!(outcomes.iter().map(|o| o.rows_written).sum::<i64>(), 9);

    let pg = dbs.pg_pool().await;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
            .fetch_all(&pg)
            .await
            .expect("tables");
    assert_eq!(tables, ["child", "parent"]);
    let indexes: Vec<String> =
        sqlx::query_scalar("SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%pkey' ORDER BY 1")
            .fetch_all(&pg)
            .await
            .expect("indexes");
    assert_eq!(indexes, ["child_idx_parent", "parent_uq_name"]);
    let fks: Vec<String> =
        sqlx::query_scalar("SELECT conname::text FROM pg_constraint WHERE contype = 'f'")
            .fetch_all(&pg)
            .await
            .expect("fks");
    assert_eq!(fks, ["fk_parent"]);
    // The default and the identity survive: a new parent continues after 4.
    let id: i32 = sqlx::query_scalar("INSERT INTO parent (name) VALUES ('e') RETURNING id")
        .fetch_one(&pg)
        .await
        .expect("identity");
    assert_eq!(id, 5);
    let note: Option<String> =
        sqlx::query_scalar("INSERT INTO child (id, parent_id) VALUES (9, 5) RETURNING note")
            .fetch_one(&pg)
            .await
            .expect("default");
    assert_eq!(note.as_deref(), Some("none"));
    // finish_job is idempotent.
    assert!(
        engine
            .finish_job(&job)
            .await
            .expect("finish again")
            .is_empty()
    );
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}
