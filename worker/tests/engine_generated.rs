//! Generated columns arrive as generated columns where their expression
//! translates (and the copy leaves them to the target), else as plain
//! columns holding the source's values, named in a plan warning.

#[path = "engine_support/mod.rs"]
mod support;

use freight_worker::engine::Engine;
use sqlx::Executor;
use support::{Dbs, job, migrate};

fn md5_hex(text: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(text.as_bytes()))
}

#[tokio::test]
async fn mysql_generated_columns_become_postgres_generated_columns_where_they_translate() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE items (id int PRIMARY KEY, price decimal(10,2) NOT NULL, qty int NOT NULL,
             total decimal(12,2) AS (price * qty) STORED,
             first varchar(20), last varchar(20),
             full_name varchar(41) AS (concat(lower(first), ' ', last)) VIRTUAL,
             fancy char(32) AS (md5(first)) STORED);
         INSERT INTO items (id, price, qty, first, last) VALUES
             (1, 2.50, 4, 'Ada', 'Lovelace'), (2, 1.25, 3, 'Alan', NULL);",
    )
    .await
    .expect("source");
    my.close().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.pg("public"), &["items"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let table = &plan.report.tables[0];
    let ddl = table.target_ddl.join("\n");
    assert!(
        ddl.contains("\"total\" numeric(12,2) GENERATED ALWAYS AS ((\"price\" * \"qty\")) STORED"),
        "{ddl}"
    );
    assert!(
        ddl.contains("GENERATED ALWAYS AS ((lower(\"first\") || ' ' || \"last\")) STORED"),
        "{ddl}"
    );
    let warnings = table.warnings.join("\n");
    assert!(
        warnings.contains("column fancy: generated column (md5(`first`))")
            && warnings.contains("plain column"),
        "{warnings}"
    );
    assert!(!warnings.contains("column total"), "{warnings}");

    let pg = dbs.pg_pool().await;
    let generated: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 'items'::regclass
         AND attgenerated = 's' ORDER BY attnum",
    )
    .fetch_all(&pg)
    .await
    .expect("generated columns");
    assert_eq!(generated, ["total", "full_name"]);
    type Item = (i32, String, Option<String>, Option<String>);
    let rows: Vec<Item> =
        sqlx::query_as("SELECT id, total::text, full_name, fancy FROM items ORDER BY id")
            .fetch_all(&pg)
            .await
            .expect("rows");
    assert_eq!(
        rows,
        vec![
            (
                1,
                "10.00".to_owned(),
                Some("ada Lovelace".to_owned()),
                Some(md5_hex("Ada"))
            ),
            (2, "3.75".to_owned(), None, Some(md5_hex("Alan"))),
        ]
    );
    // The target computes them for new rows too.
    let total: String = sqlx::query_scalar(
        "INSERT INTO items (id, price, qty) VALUES (3, 1.10, 3) RETURNING total::text",
    )
    .fetch_one(&pg)
    .await
    .expect("insert on the target");
    assert_eq!(total, "3.30");
    // Running a batch again leaves the target as running it once.
    migrate(&engine, &j).await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_generated_columns_become_mysql_generated_columns_or_plain_ones() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.sums (id int PRIMARY KEY, a int, b int,
             s int GENERATED ALWAYS AS (a + b) STORED,
             name varchar(20),
             up varchar(20) GENERATED ALWAYS AS (upper(name)) STORED,
             h text GENERATED ALWAYS AS (md5(name)) STORED);
         INSERT INTO src.sums (id, a, b, name) VALUES (1, 2, 3, 'x'), (2, NULL, 1, 'Yz');",
    )
    .await
    .expect("source");
    pg.close().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.pg("src"), dbs.mysql(), &["sums"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    assert!(
        warnings.contains("column h: generated column (md5((name)::text))")
            || warnings.contains("column h: generated column (md5(name"),
        "{warnings}"
    );
    assert!(!warnings.contains("column s:"), "{warnings}");

    let my = dbs.my_pool().await;
    let generated: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(column_name AS CHAR) FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'sums' AND extra LIKE '%GENERATED%'
         ORDER BY ordinal_position",
    )
    .fetch_all(&my)
    .await
    .expect("generated columns");
    assert_eq!(generated, ["s", "up"]);
    type Sum = (i32, Option<i32>, Option<String>, Option<String>);
    let rows: Vec<Sum> = sqlx::query_as("SELECT id, s, up, h FROM sums ORDER BY id")
        .fetch_all(&my)
        .await
        .expect("rows");
    assert_eq!(
        rows,
        vec![
            (1, Some(5), Some("X".to_owned()), Some(md5_hex("x"))),
            (2, None, Some("YZ".to_owned()), Some(md5_hex("Yz"))),
        ]
    );
    my.close().await;
    dbs.cleanup().await;
}

/// SQLite holds decimals as exact text and would compute a generated
/// column over them in floating point (`big * q` as 1.23456789012346e+16):
/// such a column arrives as a plain column holding the source's values,
/// named in a plan warning, and is copied and validated like any other.
#[tokio::test]
async fn generated_decimals_arrive_in_sqlite_as_the_values_the_source_computed() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE prices2 (id INT PRIMARY KEY, big DECIMAL(20,2), q INT,
             g DECIMAL(22,2) AS (big * q) STORED,
             half DECIMAL(22,4) AS (q / 2) VIRTUAL,
             dq INT AS (q * 2) STORED);
         INSERT INTO prices2 (id, big, q) VALUES (1, 12345678901234567.89, 1), (2, 0.10, 3), (3, NULL, 7);",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.sqlite("t"), &["prices2"], 2);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    for plain in [
        "column g: generated column",
        "column half: generated column",
    ] {
        assert!(
            warnings.contains(plain) && warnings.contains("floating point"),
            "{plain}: {warnings}"
        );
    }
    assert!(!warnings.contains("column dq:"), "{warnings}");
    let lite = dbs.sqlite_pool("t").await;
    let generated: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, hidden FROM pragma_table_xinfo('prices2') WHERE hidden <> 0 ORDER BY cid",
    )
    .fetch_all(&lite)
    .await
    .expect("columns");
    assert_eq!(generated, [("dq".to_owned(), 3)]);
    let rows: Vec<(i64, Option<String>, Option<String>, i64)> =
        sqlx::query_as("SELECT id, g, half, dq FROM prices2 ORDER BY id")
            .fetch_all(&lite)
            .await
            .expect("rows");
    assert_eq!(
        rows,
        vec![
            (
                1,
                Some("12345678901234567.89".to_owned()),
                Some("0.5000".to_owned()),
                2
            ),
            (2, Some("0.30".to_owned()), Some("1.5000".to_owned()), 6),
            (3, None, Some("3.5000".to_owned()), 14),
        ]
    );
    // Validated like any column: a changed value is found.
    let validate = |plan: &freight_worker::engine::JobPlan| {
        let batches = plan.batches.clone();
        let engine = &engine;
        let j = &j;
        async move {
            let mut out = Vec::new();
            for b in &batches {
                let range = freight_worker::engine::RangeToValidate {
                    batch_id: freight_core::ids::BatchId::new(),
                    table_name: b.table_name.clone(),
                    key_start: b.key_start.clone(),
                    key_end: b.key_end.clone(),
                };
                out.push(engine.validate_range(j, &range).await.expect("validate"));
            }
            out
        }
    };
    for check in validate(&plan).await {
        assert!(check.matched, "{}", check.detail);
        assert!(!check.detail.contains("count only"), "{}", check.detail);
    }
    lite.execute("UPDATE prices2 SET g = '0.31' WHERE id = 2")
        .await
        .expect("tamper");
    let matched: Vec<bool> = validate(&plan).await.iter().map(|c| c.matched).collect();
    assert_eq!(matched.iter().filter(|m| !**m).count(), 1, "{matched:?}");
    engine.release_job(j.job_id).await;
    lite.close().await;
    my.close().await;
    dbs.cleanup().await;
}

/// MariaDB → MariaDB: a VIRTUAL generated column reading the
/// AUTO_INCREMENT column stays VIRTUAL (MariaDB refuses a STORED one
/// there), so the table arrives whole: both CHECKs, the STORED `total`.
#[tokio::test]
async fn a_virtual_column_over_the_auto_increment_key_stays_virtual_on_mariadb() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE orders (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, qty INT,
             amount DECIMAL(10,2) CHECK (amount >= 0),
             total DECIMAL(12,2) AS (amount * qty) STORED,
             note VARCHAR(200) AS (CONCAT('order ', id)) VIRTUAL,
             CONSTRAINT chk_qty CHECK (qty > 0));
         INSERT INTO orders (qty, amount) VALUES (3, 7.00), (1, 0.50);",
    )
    .await
    .expect("source");
    let (url, target) = dbs.second_mysql().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(
        dbs.mysql(),
        support::config(freight_core::connection::DatabaseKind::Mysql, &url, None),
        &["orders"],
        10,
    );
    // The preview shows what will be created.
    let preview = engine.plan(&j, false).await.expect("preview");
    let ddl = preview.report.tables[0].target_ddl.join("\n");
    assert!(ddl.contains("VIRTUAL") && ddl.contains("STORED"), "{ddl}");
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    assert!(!warnings.contains("CHECK"), "{warnings}");
    assert!(!warnings.contains("generated"), "{warnings}");
    let kinds: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(column_name AS CHAR), CAST(extra AS CHAR) FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'orders' AND extra LIKE '%GENERATED%'
         ORDER BY ordinal_position",
    )
    .fetch_all(&target)
    .await
    .expect("generated columns");
    assert_eq!(
        kinds,
        [
            ("total".to_owned(), "STORED GENERATED".to_owned()),
            ("note".to_owned(), "VIRTUAL GENERATED".to_owned())
        ]
    );
    let checks: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.check_constraints
         WHERE constraint_schema = DATABASE() AND table_name = 'orders'",
    )
    .fetch_one(&target)
    .await
    .expect("checks");
    assert_eq!(checks, 2);
    let rows: Vec<(u64, String, String)> =
        sqlx::query_as("SELECT id, CAST(total AS CHAR), note FROM orders ORDER BY id")
            .fetch_all(&target)
            .await
            .expect("rows");
    assert_eq!(
        rows,
        [
            (1, "21.00".to_owned(), "order 1".to_owned()),
            (2, "0.50".to_owned(), "order 2".to_owned())
        ]
    );
    assert!(
        target
            .execute("INSERT INTO orders (qty, amount) VALUES (0, 1)")
            .await
            .is_err(),
        "chk_qty holds"
    );
    let (id, note): (u64, String) = {
        target
            .execute("INSERT INTO orders (qty, amount) VALUES (2, 1)")
            .await
            .expect("insert");
        sqlx::query_as("SELECT id, note FROM orders ORDER BY id DESC LIMIT 1")
            .fetch_one(&target)
            .await
            .expect("new row")
    };
    assert_eq!((id, note.as_str()), (3, "order 3"));
    engine.release_job(j.job_id).await;
    // PostgreSQL has STORED only: `total` and `note` (`CONCAT` of text and
    // a number: `||` with the number cast to text) are STORED there.
    let to_pg = job(dbs.mysql(), dbs.pg("public"), &["orders"], 10);
    let (plan, _) = migrate(&engine, &to_pg).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    assert!(!warnings.contains("CHECK"), "{warnings}");
    assert!(!warnings.contains("column total"), "{warnings}");
    let pg = dbs.pg_pool().await;
    let generated: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 'orders'::regclass
         AND attgenerated = 's' ORDER BY attnum",
    )
    .fetch_all(&pg)
    .await
    .expect("generated columns");
    assert_eq!(generated, ["total", "note"]);
    let notes: Vec<String> = sqlx::query_scalar("SELECT note FROM orders ORDER BY id")
        .fetch_all(&pg)
        .await
        .expect("notes");
    assert_eq!(notes, ["order 1", "order 2"]);
    let checks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'c'",
    )
    .fetch_one(&pg)
    .await
    .expect("checks");
    assert_eq!(checks, 2);
    engine.release_job(to_pg.job_id).await;
    pg.close().await;
    my.close().await;
    target.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}

/// PostgreSQL → MariaDB: a STORED column reading the identity becomes
/// VIRTUAL on MariaDB (which refuses a STORED one over AUTO_INCREMENT),
/// with a warning naming it.
#[tokio::test]
async fn a_stored_column_over_an_identity_becomes_virtual_on_mariadb() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.o (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, qty int CHECK (qty > 0),
             twice bigint GENERATED ALWAYS AS (id * 2) STORED);
         INSERT INTO src.o (qty) VALUES (1), (5);",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.pg("src"), dbs.mysql(), &["o"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    assert!(
        warnings.contains("column twice: generated column is created VIRTUAL")
            && warnings.contains("AUTO_INCREMENT column id"),
        "{warnings}"
    );
    assert!(!warnings.contains("not recreated"), "{warnings}");
    let my = dbs.my_pool().await;
    let extra: String = sqlx::query_scalar(
        "SELECT CAST(extra AS CHAR) FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'o' AND column_name = 'twice'",
    )
    .fetch_one(&my)
    .await
    .expect("twice");
    assert_eq!(extra, "VIRTUAL GENERATED");
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT id, twice FROM o ORDER BY id")
        .fetch_all(&my)
        .await
        .expect("rows");
    assert_eq!(rows, [(1, 2), (2, 4)]);
    engine.release_job(j.job_id).await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

/// A target that refuses one expression (a function of the source's own)
/// loses that one only: the other CHECK and generated column arrive, and a
/// warning names each one left out.
#[tokio::test]
async fn only_the_expression_the_target_refuses_is_left_out() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA util;
         CREATE FUNCTION util.is_pos(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 > 0';
         CREATE FUNCTION util.dbl(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
         CREATE TABLE t (id int PRIMARY KEY,
             a int CONSTRAINT a_pos CHECK (util.is_pos(a)),
             b int CONSTRAINT b_small CHECK (b < 10),
             g int GENERATED ALWAYS AS (util.dbl(b)) STORED,
             h int GENERATED ALWAYS AS (b * 2) STORED);
         INSERT INTO t (id, a, b) VALUES (1, 1, 2), (2, 5, 9);",
    )
    .await
    .expect("source");
    let (url, target) = dbs.second_pg().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(
        dbs.pg("public"),
        support::config(
            freight_core::connection::DatabaseKind::Postgresql,
            &url,
            Some("public"),
        ),
        &["t"],
        10,
    );
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    assert!(
        warnings.contains("CHECK constraint a_pos") && warnings.contains("the target refused it"),
        "{warnings}"
    );
    assert!(
        warnings.contains("column g: generated column")
            && warnings.contains("refused its expression"),
        "{warnings}"
    );
    assert!(!warnings.contains("b_small"), "{warnings}");
    assert!(!warnings.contains("column h:"), "{warnings}");
    let checks: Vec<String> = sqlx::query_scalar(
        "SELECT conname::text FROM pg_constraint WHERE conrelid = 't'::regclass AND contype = 'c'",
    )
    .fetch_all(&target)
    .await
    .expect("checks");
    assert_eq!(checks, ["b_small"]);
    let generated: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 't'::regclass AND attgenerated = 's'",
    )
    .fetch_all(&target)
    .await
    .expect("generated");
    assert_eq!(generated, ["h"]);
    let rows: Vec<(i32, Option<i32>, Option<i32>)> =
        sqlx::query_as("SELECT id, g, h FROM t ORDER BY id")
            .fetch_all(&target)
            .await
            .expect("rows");
    assert_eq!(rows, [(1, Some(4), Some(4)), (2, Some(18), Some(18))]);
    engine.release_job(j.job_id).await;
    pg.close().await;
    target.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}

/// MySQL `CONCAT` of text with numbers: on PostgreSQL `||` with the numbers
/// cast to text (`concat()` skips NULLs and is not IMMUTABLE; `text ||
/// integer` is not IMMUTABLE either), on SQLite `||`; NULL when any part is,
/// as in MySQL. Doubles print differently and stay plain columns.
#[tokio::test]
async fn mysql_concat_of_text_and_numbers_is_generated_on_postgres_and_sqlite() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, n int, label varchar(10), ratio double,
             price decimal(6,2),
             tag varchar(40) AS (CONCAT('order ', id, '/', n, '-', label)) STORED,
             vtag varchar(40) AS (CONCAT(label, n + 1)) VIRTUAL,
             ptag varchar(40) AS (CONCAT(label, ':', price)) STORED,
             rtag varchar(40) AS (CONCAT('r', ratio)) STORED);
         INSERT INTO orders (id, n, label, ratio, price) VALUES
             (1, 5, 'a', 0.5, 2.50), (2, NULL, 'b', 1.5, NULL), (3, 7, NULL, NULL, 1.00);",
    )
    .await
    .expect("source");
    my.close().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    type Tags = (i32, Option<String>, Option<String>, Option<String>);
    let expected: Vec<Tags> = vec![
        (
            1,
            Some("order 1/5-a".into()),
            Some("a6".into()),
            Some("a:2.50".into()),
        ),
        (2, None, None, None),
        (3, None, None, None),
    ];

    let j = job(dbs.mysql(), dbs.pg("public"), &["orders"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    assert!(
        warnings.contains("column rtag: generated column"),
        "{warnings}"
    );
    for kept in ["column tag:", "column vtag:", "column ptag:"] {
        assert!(!warnings.contains(kept), "{warnings}");
    }
    engine.release_job(j.job_id).await;
    let pg = dbs.pg_pool().await;
    let generated: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 'orders'::regclass
         AND attgenerated = 's' ORDER BY attnum",
    )
    .fetch_all(&pg)
    .await
    .expect("generated columns");
    assert_eq!(generated, ["tag", "vtag", "ptag"]);
    let rows: Vec<Tags> = sqlx::query_as("SELECT id, tag, vtag, ptag FROM orders ORDER BY id")
        .fetch_all(&pg)
        .await
        .expect("rows");
    assert_eq!(rows, expected);
    let tag: Option<String> =
        sqlx::query_scalar("INSERT INTO orders (id, n, label) VALUES (4, 9, 'z') RETURNING tag")
            .fetch_one(&pg)
            .await
            .expect("insert on postgres");
    assert_eq!(tag.as_deref(), Some("order 4/9-z"));
    pg.close().await;

    let j = job(dbs.mysql(), dbs.sqlite("dst"), &["orders"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    // SQLite holds decimals as exact text and would compute in floating point.
    for plain in [
        "column rtag: generated column",
        "column ptag: generated column",
    ] {
        assert!(warnings.contains(plain), "{warnings}");
    }
    for kept in ["column tag:", "column vtag:"] {
        assert!(!warnings.contains(kept), "{warnings}");
    }
    engine.release_job(j.job_id).await;
    let lite = dbs.sqlite_pool("dst").await;
    let hidden: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, hidden FROM pragma_table_xinfo('orders') WHERE name LIKE '%tag' ORDER BY cid",
    )
    .fetch_all(&lite)
    .await
    .expect("columns");
    let hidden: Vec<(&str, i64)> = hidden.iter().map(|(n, h)| (n.as_str(), *h)).collect();
    assert_eq!(hidden, [("tag", 3), ("vtag", 2), ("ptag", 0), ("rtag", 0)]);
    let rows: Vec<Tags> = sqlx::query_as("SELECT id, tag, vtag, ptag FROM orders ORDER BY id")
        .fetch_all(&lite)
        .await
        .expect("rows");
    assert_eq!(rows, expected);
    sqlx::query("INSERT INTO orders (id, n, label) VALUES (4, 9, 'z'), (5, NULL, 'y')")
        .execute(&lite)
        .await
        .expect("insert on sqlite");
    let new: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT tag, vtag FROM orders WHERE id > 3 ORDER BY id")
            .fetch_all(&lite)
            .await
            .expect("new rows");
    assert_eq!(
        new,
        [
            (Some("order 4/9-z".into()), Some("z10".into())),
            (None, None)
        ]
    );
    lite.close().await;
    dbs.cleanup().await;
}
