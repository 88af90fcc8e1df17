//! Schema features in the directions the other engine tests do not take:
//! `ON DELETE SET DEFAULT` into MariaDB, generated columns between SQLite
//! and the other engines, and column defaults from PostgreSQL and SQLite
//! sources. Each is checked on the target by what it does: the target
//! computes, refuses or fills in the value.

#[path = "engine_support/mod.rs"]
mod support;

use freight_worker::engine::{Engine, JobPlan};
use sqlx::Executor;
use support::{Dbs, job, migrate};

fn engine() -> Engine {
    Engine::new(freight_core::policy::ConnectionPolicy::for_local_user())
}

/// The plan warnings of one table, one a line.
fn table_warnings(plan: &JobPlan, table: &str) -> String {
    plan.report
        .tables
        .iter()
        .find(|t| t.table_name == table)
        .unwrap_or_else(|| panic!("{table} planned"))
        .warnings
        .join("\n")
}

#[tokio::test]
async fn on_delete_set_default_into_mariadb_warns_and_keeps_the_foreign_key() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.parent (id int PRIMARY KEY);
         CREATE TABLE src.child (id int PRIMARY KEY,
            parent_id int DEFAULT 0 CONSTRAINT child_parent
                REFERENCES src.parent (id) ON DELETE SET DEFAULT ON UPDATE CASCADE);
         INSERT INTO src.parent VALUES (0), (1);
         INSERT INTO src.child VALUES (1, 1), (2, 0);",
    )
    .await
    .expect("source");
    let engine = engine();
    let j = job(dbs.pg("src"), dbs.mysql(), &["parent", "child"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = table_warnings(&plan, "child");
    assert!(
        warnings.contains(
            "foreign key child_parent: ON DELETE SET DEFAULT is not supported by MySQL/MariaDB (InnoDB); created with NO ACTION"
        ),
        "{warnings}"
    );
    assert!(!warnings.contains("ON UPDATE CASCADE"), "{warnings}");

    let my = dbs.my_pool().await;
    let rules: (String, String) = sqlx::query_as(
        "SELECT CAST(delete_rule AS CHAR), CAST(update_rule AS CHAR)
         FROM information_schema.referential_constraints
         WHERE constraint_schema = DATABASE() AND table_name = 'child'
           AND constraint_name = 'child_parent'",
    )
    .fetch_one(&my)
    .await
    .expect("the foreign key exists");
    // MariaDB reports an unspecified action as RESTRICT (NO ACTION there).
    assert!(
        matches!(rules.0.as_str(), "NO ACTION" | "RESTRICT"),
        "{rules:?}"
    );
    assert_eq!(rules.1, "CASCADE");
    // It holds: a referenced parent cannot go, a missing one is refused,
    // an updated key follows.
    assert!(
        sqlx::query("DELETE FROM parent WHERE id = 1")
            .execute(&my)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("INSERT INTO child VALUES (3, 5)")
            .execute(&my)
            .await
            .is_err()
    );
    sqlx::query("UPDATE parent SET id = 7 WHERE id = 1")
        .execute(&my)
        .await
        .expect("update parent");
    let moved: i32 = sqlx::query_scalar("SELECT parent_id FROM child WHERE id = 1")
        .fetch_one(&my)
        .await
        .expect("child");
    assert_eq!(moved, 7);
    // The default itself arrives.
    let default: i32 = sqlx::query_scalar(
        "SELECT CAST(column_default AS SIGNED) FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'child' AND column_name = 'parent_id'",
    )
    .fetch_one(&my)
    .await
    .expect("default");
    assert_eq!(default, 0);
    engine.release_job(j.job_id).await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

/// `(name, hidden)` of the generated columns of a SQLite table (2:
/// VIRTUAL, 3: STORED).
async fn sqlite_generated(lite: &sqlx::SqlitePool, table: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM pragma_table_xinfo(?) WHERE hidden IN (2, 3) ORDER BY cid")
        .bind(table)
        .fetch_all(lite)
        .await
        .expect("generated columns")
}

#[tokio::test]
async fn postgres_generated_columns_arrive_in_sqlite_where_they_translate() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.sums (id int PRIMARY KEY, a int, b int,
             s int GENERATED ALWAYS AS (a + b) STORED,
             name varchar(20),
             n int GENERATED ALWAYS AS (char_length(name)) STORED,
             up varchar(20) GENERATED ALWAYS AS (upper(name)) STORED,
             h text GENERATED ALWAYS AS (md5(name)) STORED);
         INSERT INTO src.sums (id, a, b, name) VALUES (1, 2, 3, 'x'), (2, NULL, 1, 'Été');",
    )
    .await
    .expect("source");
    let engine = engine();
    let j = job(dbs.pg("src"), dbs.sqlite("t"), &["sums"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = table_warnings(&plan, "sums");
    assert!(!warnings.contains("column s:"), "{warnings}");
    assert!(!warnings.contains("column n:"), "{warnings}");
    // SQLite's upper() changes ASCII letters only: not the same value.
    for plain in ["column up: generated column", "column h: generated column"] {
        assert!(
            warnings.contains(plain) && warnings.contains("plain column"),
            "{plain}: {warnings}"
        );
    }

    let lite = dbs.sqlite_pool("t").await;
    assert_eq!(sqlite_generated(&lite, "sums").await, ["s", "n"]);
    type Sum = (
        i64,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Sum> = sqlx::query_as("SELECT id, s, n, up, h FROM sums ORDER BY id")
        .fetch_all(&lite)
        .await
        .expect("rows");
    let md5 = |s: &str| {
        use md5::Digest;
        hex::encode(md5::Md5::digest(s.as_bytes()))
    };
    assert_eq!(
        rows,
        vec![
            (1, Some(5), Some(1), Some("X".to_owned()), Some(md5("x"))),
            (2, None, Some(3), Some("ÉTÉ".to_owned()), Some(md5("Été"))),
        ]
    );
    // The target computes them for new rows too.
    let (s, n): (i64, i64) =
        sqlx::query_as("INSERT INTO sums (id, a, b, name) VALUES (3, 4, 5, 'ab') RETURNING s, n")
            .fetch_one(&lite)
            .await
            .expect("insert on the target");
    assert_eq!((s, n), (9, 2));
    engine.release_job(j.job_id).await;
    lite.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

const SQLITE_ITEMS: &str = "CREATE TABLE items (id INTEGER PRIMARY KEY, price REAL NOT NULL,
        qty INTEGER NOT NULL, name TEXT,
        total REAL GENERATED ALWAYS AS (price * qty) STORED,
        tag TEXT AS (name || '!') VIRTUAL,
        len INTEGER AS (length(name)) VIRTUAL,
        half REAL AS (price / 2) VIRTUAL,
        shout TEXT AS (upper(name)) VIRTUAL);
    INSERT INTO items (id, price, qty, name) VALUES (1, 2.5, 4, 'Ada'), (2, 1.25, 3, NULL),
        (3, 0.5, 1, 'Été');";

/// What both targets hold: `(id, total, tag, len, half, shout)`, the
/// last two as SQLite computed them.
type Item = (
    i64,
    Option<f64>,
    Option<String>,
    Option<i64>,
    Option<f64>,
    Option<String>,
);

fn expected_items() -> Vec<Item> {
    vec![
        (
            1,
            Some(10.0),
            Some("Ada!".into()),
            Some(3),
            Some(1.25),
            Some("ADA".into()),
        ),
        (2, Some(3.75), None, None, Some(0.625), None),
        (
            3,
            Some(0.5),
            Some("Été!".into()),
            Some(3),
            Some(0.25),
            // SQLite's upper() leaves non-ASCII letters alone.
            Some("ÉTé".into()),
        ),
    ]
}

fn assert_sqlite_items_plan(plan: &JobPlan) {
    let warnings = table_warnings(plan, "items");
    for generated in ["column total:", "column tag:", "column len:"] {
        assert!(!warnings.contains(generated), "{generated} {warnings}");
    }
    for plain in [
        "column half: generated column",
        "column shout: generated column",
    ] {
        assert!(
            warnings.contains(plain) && warnings.contains("plain column"),
            "{plain}: {warnings}"
        );
    }
}

#[tokio::test]
async fn sqlite_generated_columns_arrive_in_postgres_and_mariadb_where_they_translate() {
    let dbs = Dbs::new().await;
    let lite = dbs.sqlite_pool("src").await;
    lite.execute(SQLITE_ITEMS).await.expect("source");
    lite.close().await;
    let engine = engine();

    let to_pg = job(dbs.sqlite("src"), dbs.pg("public"), &["items"], 2);
    let (plan, _) = migrate(&engine, &to_pg).await;
    assert_sqlite_items_plan(&plan);
    let pg = dbs.pg_pool().await;
    let generated: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 'items'::regclass
         AND attgenerated = 's' ORDER BY attnum",
    )
    .fetch_all(&pg)
    .await
    .expect("generated columns");
    assert_eq!(generated, ["total", "tag", "len"]);
    let rows: Vec<Item> =
        sqlx::query_as("SELECT id, total, tag, len, half, shout FROM items ORDER BY id")
            .fetch_all(&pg)
            .await
            .expect("rows");
    assert_eq!(rows, expected_items());
    let computed: (f64, String, i64) = sqlx::query_as(
        "INSERT INTO items (id, price, qty, name) VALUES (4, 1.5, 2, 'Zoë') RETURNING total, tag, len",
    )
    .fetch_one(&pg)
    .await
    .expect("insert on postgres");
    assert_eq!(computed, (3.0, "Zoë!".to_owned(), 3));

    let to_my = job(dbs.sqlite("src"), dbs.mysql(), &["items"], 2);
    let (plan, _) = migrate(&engine, &to_my).await;
    assert_sqlite_items_plan(&plan);
    let my = dbs.my_pool().await;
    let generated: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(column_name AS CHAR) FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'items' AND extra LIKE '%GENERATED%'
         ORDER BY ordinal_position",
    )
    .fetch_all(&my)
    .await
    .expect("generated columns");
    assert_eq!(generated, ["total", "tag", "len"]);
    let rows: Vec<Item> =
        sqlx::query_as("SELECT id, total, tag, len, half, shout FROM items ORDER BY id")
            .fetch_all(&my)
            .await
            .expect("rows");
    assert_eq!(rows, expected_items());
    sqlx::query("INSERT INTO items (id, price, qty, name) VALUES (4, 1.5, 2, 'Zoë')")
        .execute(&my)
        .await
        .expect("insert on mariadb");
    let computed: (f64, String, i64) =
        sqlx::query_as("SELECT total, tag, len FROM items WHERE id = 4")
            .fetch_one(&my)
            .await
            .expect("computed");
    assert_eq!(computed, (3.0, "Zoë!".to_owned(), 3));
    for j in [&to_pg, &to_my] {
        engine.release_job(j.job_id).await;
    }
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

/// The defaults both sources declare, as each target prints them after
/// `INSERT … (id) VALUES (9)`: (column, text). The current-time columns
/// are checked apart.
const DEFAULTS: [(&str, &str); 9] = [
    ("note", "none"),
    ("label", "it's"),
    ("qty", "42"),
    ("neg", "-1"),
    ("price", "1.50"),
    ("ratio", "0.25"),
    ("flag", "1"),
    ("off", "0"),
    ("day", "2024-01-31"),
];

/// Inserts a row naming only its key into `defs` on MariaDB, and reads the
/// defaulted columns back as text.
async fn mysql_defaults(my: &sqlx::MySqlPool, now_columns: &[&str]) -> Vec<(String, String)> {
    sqlx::query("INSERT INTO defs (id) VALUES (9)")
        .execute(my)
        .await
        .expect("insert on mariadb");
    let mut got = Vec::new();
    for (col, _) in DEFAULTS {
        let value: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT CAST({col} AS CHAR) FROM defs WHERE id = 9"
        )))
        .fetch_one(my)
        .await
        .expect(col);
        got.push((col.to_owned(), value.unwrap_or_else(|| "NULL".into())));
    }
    for col in now_columns {
        let recent: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT ABS(TIMESTAMPDIFF(SECOND, {col}, NOW())) < 120 FROM defs WHERE id = 9"
        )))
        .fetch_one(my)
        .await
        .expect(col);
        assert_eq!(recent, Some(1), "{col} defaults to the current time");
    }
    got
}

fn expected_defaults() -> Vec<(String, String)> {
    DEFAULTS
        .iter()
        .map(|(c, v)| ((*c).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn postgres_defaults_arrive_on_mariadb_and_sqlite() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.defs (id int PRIMARY KEY,
             note text DEFAULT 'none', label varchar(20) DEFAULT 'it''s',
             qty int DEFAULT 42, neg int DEFAULT -1, price numeric(10,2) DEFAULT 1.50,
             ratio double precision DEFAULT 0.25, flag boolean DEFAULT true,
             off boolean DEFAULT false, day date DEFAULT '2024-01-31',
             at timestamp DEFAULT now(), atz timestamptz DEFAULT CURRENT_TIMESTAMP,
             u uuid DEFAULT gen_random_uuid());
         INSERT INTO src.defs (id) VALUES (1);",
    )
    .await
    .expect("source");
    let engine = engine();

    let to_my = job(dbs.pg("src"), dbs.mysql(), &["defs"], 10);
    let (plan, _) = migrate(&engine, &to_my).await;
    let warnings = table_warnings(&plan, "defs");
    assert!(
        warnings.contains("column u: default gen_random_uuid() is not portable"),
        "{warnings}"
    );
    let my = dbs.my_pool().await;
    assert_eq!(
        mysql_defaults(&my, &["at", "atz"]).await,
        expected_defaults()
    );

    let to_lite = job(dbs.pg("src"), dbs.sqlite("t"), &["defs"], 10);
    migrate(&engine, &to_lite).await;
    let lite = dbs.sqlite_pool("t").await;
    assert_eq!(sqlite_defaults(&lite).await, expected_defaults());
    for j in [&to_my, &to_lite] {
        engine.release_job(j.job_id).await;
    }
    lite.close().await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

/// As [`mysql_defaults`], on SQLite (`at` and `made` default to the time).
async fn sqlite_defaults(lite: &sqlx::SqlitePool) -> Vec<(String, String)> {
    sqlx::query("INSERT INTO defs (id) VALUES (9)")
        .execute(lite)
        .await
        .expect("insert on sqlite");
    let mut got = Vec::new();
    for (col, _) in DEFAULTS {
        let value: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT CAST({col} AS TEXT) FROM defs WHERE id = 9"
        )))
        .fetch_one(lite)
        .await
        .expect(col);
        got.push((col.to_owned(), value.unwrap_or_else(|| "NULL".into())));
    }
    let recent: bool = sqlx::query_scalar(
        "SELECT abs(unixepoch(at) - unixepoch('now')) < 120 FROM defs WHERE id = 9",
    )
    .fetch_one(lite)
    .await
    .expect("at");
    assert!(recent, "at defaults to the current time");
    got
}

#[tokio::test]
async fn sqlite_defaults_arrive_on_postgres_and_mariadb() {
    let dbs = Dbs::new().await;
    let lite = dbs.sqlite_pool("src").await;
    lite.execute(
        "CREATE TABLE defs (id INTEGER PRIMARY KEY,
             note TEXT DEFAULT 'none', label VARCHAR(20) DEFAULT 'it''s',
             qty INTEGER DEFAULT 42, neg INTEGER DEFAULT -1, price DECIMAL_TEXT(10,2) DEFAULT '1.50',
             ratio REAL DEFAULT 0.25, flag BOOLEAN DEFAULT TRUE, off BOOLEAN DEFAULT 0,
             day DATE DEFAULT '2024-01-31', at DATETIME DEFAULT CURRENT_TIMESTAMP,
             made DATETIME DEFAULT (datetime('now')), calc INTEGER DEFAULT (1 + 2));
         INSERT INTO defs (id) VALUES (1);",
    )
    .await
    .expect("source");
    lite.close().await;
    let engine = engine();

    let to_pg = job(dbs.sqlite("src"), dbs.pg("public"), &["defs"], 10);
    let (plan, _) = migrate(&engine, &to_pg).await;
    let warnings = table_warnings(&plan, "defs");
    assert!(
        warnings.contains("column calc: default 1 + 2 is not portable"),
        "{warnings}"
    );
    let pg = dbs.pg_pool().await;
    let row: Vec<String> = sqlx::query_scalar(
        "WITH new AS (INSERT INTO defs (id) VALUES (9) RETURNING *)
         SELECT unnest(ARRAY[note, label, qty::text, neg::text, price::text, ratio::text,
                flag::int::text, off::int::text, day::text,
                (abs(extract(epoch FROM at - LOCALTIMESTAMP)) < 120
                 AND abs(extract(epoch FROM made - LOCALTIMESTAMP)) < 120)::text,
                coalesce(calc::text, 'NULL')])
         FROM new",
    )
    .fetch_all(&pg)
    .await
    .expect("insert on postgres");
    let mut expected: Vec<String> = DEFAULTS.iter().map(|(_, v)| (*v).to_owned()).collect();
    expected.extend(["true".to_owned(), "NULL".to_owned()]);
    assert_eq!(row, expected);

    let to_my = job(dbs.sqlite("src"), dbs.mysql(), &["defs"], 10);
    migrate(&engine, &to_my).await;
    let my = dbs.my_pool().await;
    assert_eq!(
        mysql_defaults(&my, &["at", "made"]).await,
        expected_defaults()
    );
    for j in [&to_pg, &to_my] {
        engine.release_job(j.job_id).await;
    }
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}
