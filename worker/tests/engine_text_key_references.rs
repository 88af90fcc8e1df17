//! Foreign keys onto text (and bytes) keys arrive on every target. On MySQL
//! targets a referencing column gets the type class, character set and
//! collation of the key it references (InnoDB refuses a foreign key whose
//! columns differ in either: errno 150), whichever side of the pair Freight
//! gives its binary NO PAD key collation.

#[path = "engine_support/mod.rs"]
mod support;

use freight_core::connection::DatabaseKind;
use freight_worker::engine::Engine;
use sqlx::{Executor, MySqlPool};
use support::{Dbs, config, job, migrate};

fn engine() -> Engine {
    Engine::new(freight_core::policy::ConnectionPolicy::for_local_user())
}

/// The foreign keys of the current database: (table, constraint,
/// referenced table).
async fn my_foreign_keys(my: &MySqlPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(referenced_table_name AS CHAR)
         FROM information_schema.referential_constraints
         WHERE constraint_schema = DATABASE() ORDER BY table_name",
    )
    .fetch_all(my)
    .await
    .expect("foreign keys")
}

/// (character set, collation) of a column of the current database.
async fn my_collation(my: &MySqlPool, table: &str, column: &str) -> (String, String) {
    sqlx::query_as(
        "SELECT CAST(character_set_name AS CHAR), CAST(collation_name AS CHAR)
         FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?",
    )
    .bind(table)
    .bind(column)
    .fetch_one(my)
    .await
    .expect("column collation")
}

const MARIADB_SOURCE: &str = "
    CREATE TABLE countries (code CHAR(2) PRIMARY KEY, name varchar(50));
    CREATE TABLE cities (id int PRIMARY KEY, country_code CHAR(2), name varchar(50),
        FOREIGN KEY (country_code) REFERENCES countries (code));
    CREATE TABLE users (id int PRIMARY KEY, email varchar(100) NOT NULL, UNIQUE KEY uq_email (email));
    CREATE TABLE profiles (user_email varchar(100) PRIMARY KEY, bio varchar(50),
        FOREIGN KEY (user_email) REFERENCES users (email));
    CREATE TABLE codes (code varchar(3) PRIMARY KEY) CHARACTER SET latin1;
    CREATE TABLE coded (id int PRIMARY KEY, code varchar(3),
        FOREIGN KEY (code) REFERENCES codes (code)) CHARACTER SET latin1;
    INSERT INTO countries VALUES ('de', 'Germany'), ('fr', 'France');
    INSERT INTO cities VALUES (1, 'de', 'Berlin'), (2, 'fr', 'Paris'), (3, NULL, 'Atlantis');
    INSERT INTO users VALUES (1, 'a@x.org'), (2, 'B@x.org');
    INSERT INTO profiles VALUES ('a@x.org', 'hi');
    INSERT INTO codes VALUES ('abc'), ('é');
    INSERT INTO coded VALUES (1, 'abc'), (2, 'é');";

const TABLES: &[&str] = &["countries", "cities", "users", "profiles", "codes", "coded"];

#[tokio::test]
async fn mariadb_foreign_keys_onto_text_keys_are_created_on_mariadb() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(MARIADB_SOURCE).await.expect("source");
    my.close().await;
    let (url, target) = dbs.second_mysql().await;
    let engine = engine();
    let j = job(
        dbs.mysql(),
        config(DatabaseKind::Mysql, &url, None),
        TABLES,
        2,
    );
    // `migrate` fails on a foreign key "not created".
    let (plan, _) = migrate(&engine, &j).await;

    assert_eq!(
        my_foreign_keys(&target).await,
        [
            ("cities", "countries"),
            ("coded", "codes"),
            ("profiles", "users")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    for (child, column, parent, key) in [
        ("cities", "country_code", "countries", "code"),
        ("profiles", "user_email", "users", "email"),
        ("coded", "code", "codes", "code"),
    ] {
        let referenced = my_collation(&target, parent, key).await;
        assert_eq!(
            my_collation(&target, child, column).await,
            referenced,
            "{child}.{column}"
        );
        assert!(referenced.1.ends_with("_bin"), "{referenced:?}");
    }
    // A column no key column references keeps the source's collation.
    assert_eq!(
        my_collation(&target, "cities", "name").await.1,
        "utf8mb4_general_ci"
    );
    // The unique email a key column references compares byte-wise now:
    // the plan says so.
    let users = plan
        .report
        .tables
        .iter()
        .find(|t| t.table_name == "users")
        .map(|t| t.warnings.join("\n"))
        .unwrap_or_default();
    assert!(
        users.contains("column email") && users.contains("profiles.user_email"),
        "{users}"
    );
    // The keys hold on the target.
    let orphan = sqlx::query("INSERT INTO cities VALUES (4, 'xx', 'Nowhere')")
        .execute(&target)
        .await;
    assert!(orphan.is_err(), "an orphan city was accepted");
    sqlx::query("INSERT INTO cities VALUES (4, 'fr', 'Lyon')")
        .execute(&target)
        .await
        .expect("a city of a country");
    let names: Vec<String> = sqlx::query_scalar("SELECT code FROM coded ORDER BY id")
        .fetch_all(&target)
        .await
        .expect("latin1 values");
    assert_eq!(names, ["abc", "é"]);
    // Running the job again changes nothing and fails nothing.
    migrate(&engine, &j).await;
    engine.release_job(j.job_id).await;
    target.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_and_sqlite_text_and_bytes_keys_are_referenced_on_mariadb() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.countries (code text PRIMARY KEY, name text);
         CREATE TABLE src.cities (id int PRIMARY KEY, country_code text REFERENCES src.countries,
             name text);
         CREATE TABLE src.blobs (k bytea PRIMARY KEY);
         CREATE TABLE src.blob_refs (id int PRIMARY KEY, k bytea REFERENCES src.blobs);
         INSERT INTO src.countries VALUES ('de', 'Germany'), ('fr', 'France');
         INSERT INTO src.cities VALUES (1, 'de', 'Berlin'), (2, NULL, 'Atlantis');
         INSERT INTO src.blobs VALUES ('\\x0102'), ('\\xff');
         INSERT INTO src.blob_refs VALUES (1, '\\xff'), (2, '\\x0102');",
    )
    .await
    .expect("postgres source");
    pg.close().await;
    let lite = dbs.sqlite_pool("src").await;
    lite.execute(
        "CREATE TABLE countries (code TEXT PRIMARY KEY, name TEXT);
         CREATE TABLE cities (id INTEGER PRIMARY KEY, country_code TEXT REFERENCES countries (code),
             name TEXT);
         INSERT INTO countries VALUES ('de', 'Germany'), ('fr', 'France');
         INSERT INTO cities VALUES (1, 'de', 'Berlin'), (2, NULL, 'Atlantis');",
    )
    .await
    .expect("sqlite source");
    lite.close().await;
    let engine = engine();

    let (url, target) = dbs.second_mysql().await;
    let j = job(
        dbs.pg("src"),
        config(DatabaseKind::Mysql, &url, None),
        &["countries", "cities", "blobs", "blob_refs"],
        10,
    );
    migrate(&engine, &j).await;
    assert_eq!(
        my_foreign_keys(&target).await,
        [("blob_refs", "blobs"), ("cities", "countries")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    engine.release_job(j.job_id).await;

    let j = job(dbs.sqlite("src"), dbs.mysql(), &["countries", "cities"], 10);
    migrate(&engine, &j).await;
    let my = dbs.my_pool().await;
    assert_eq!(
        my_foreign_keys(&my).await,
        [("cities".to_owned(), "countries".to_owned())]
    );
    let orphan = sqlx::query("INSERT INTO cities VALUES (3, 'xx', 'Nowhere')")
        .execute(&my)
        .await;
    assert!(orphan.is_err(), "an orphan city was accepted");
    engine.release_job(j.job_id).await;
    my.close().await;
    target.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}

/// PostgreSQL and SQLite targets: column collations are not carried (a
/// PostgreSQL source's `COLLATE "C"` key included), so a foreign key pair
/// never differs in collation there; the keys are created and enforced.
#[tokio::test]
async fn text_key_references_arrive_on_postgres_and_sqlite() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(MARIADB_SOURCE).await.expect("source");
    my.close().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.countries (code text COLLATE \"C\" PRIMARY KEY);
         CREATE TABLE src.cities (id int PRIMARY KEY,
             country_code text COLLATE \"POSIX\" REFERENCES src.countries);
         INSERT INTO src.countries VALUES ('de'), ('fr');
         INSERT INTO src.cities VALUES (1, 'de'), (2, NULL);",
    )
    .await
    .expect("postgres source");
    let engine = engine();
    let j = job(dbs.mysql(), dbs.pg("from_my"), TABLES, 2);
    migrate(&engine, &j).await;
    engine.release_job(j.job_id).await;
    let j = job(
        dbs.pg("src"),
        dbs.pg("from_pg"),
        &["countries", "cities"],
        2,
    );
    migrate(&engine, &j).await;
    engine.release_job(j.job_id).await;
    for schema in ["from_my", "from_pg"] {
        let orphan = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {schema}.cities (id, country_code) VALUES (9, 'xx')"
        )))
        .execute(&pg)
        .await;
        assert!(orphan.is_err(), "{schema}: an orphan city was accepted");
    }
    let keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE c.contype = 'f' AND n.nspname = 'from_my'",
    )
    .fetch_one(&pg)
    .await
    .expect("foreign keys");
    assert_eq!(keys, 3);
    let j = job(dbs.mysql(), dbs.sqlite("dst"), TABLES, 2);
    migrate(&engine, &j).await;
    engine.release_job(j.job_id).await;
    let lite = dbs.sqlite_pool("dst").await;
    let keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master m, pragma_foreign_key_list(m.name) WHERE m.type = 'table'",
    )
    .fetch_one(&lite)
    .await
    .expect("foreign keys");
    assert_eq!(keys, 3);
    lite.close().await;
    pg.close().await;
    dbs.cleanup().await;
}
