//! A source's view definitions and expressions are SQL text Freight reads
//! from its catalogs, at times rewrites, and runs on the target. None of
//! it may become a second statement there: not through a rewrite that
//! reaches inside a string literal (a domain whose base type's name holds
//! a quote), not through a target that reads backslashes differently, not
//! through MariaDB's escaping. And a privileged login on Freight's own
//! server gets no view at all (it would run with that login's rights
//! whenever read). A default `freight all`, through the public API only.

use serde_json::{Value, json};
use sqlx::{Connection, MySqlConnection, PgConnection};

use crate::ops_support::{Freight, FreightSpec, token};
use crate::support::{database_name, final_job};

/// The probe's view: a literal naming a domain whose base type is called
/// `x'--`. A plain text rewrite of `::mydom` into `::"x'--"` ended the
/// literal, and the rest of it ran on the target.
const PROBE: &str = "CREATE TYPE \"x'--\" AS (a int);
CREATE DOMAIN mydom AS \"x'--\";
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a');
CREATE VIEW pwn AS SELECT 'AAA::mydom
; CREATE TABLE public.loot AS SELECT current_user AS who; --'::text AS c;";

async fn exec_pg(url: &str, sql: &str) {
    let mut c = PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
}

/// `to_regclass(name)` on `url`: whether the relation exists.
async fn pg_relation_exists(url: &str, name: &str) -> bool {
    let mut c = PgConnection::connect(url).await.unwrap();
    let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(name)
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    found.is_some()
}

async fn pg_text(url: &str, sql: &str) -> String {
    let mut c = PgConnection::connect(url).await.unwrap();
    let text: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    text
}

/// Creates the job and waits until it is final; returns it and its logs.
async fn run(http: &reqwest::Client, freight: &Freight, body: &Value) -> (Value, String) {
    let created = http
        .post(format!("{}/api/v1/jobs", freight.base_url()))
        .bearer_auth(token("acme"))
        .header("X-Tenant-ID", "acme")
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = final_job(http, &freight.base_url(), &id).await;
    let logs = http
        .get(format!(
            "{}/api/v1/jobs/{id}/logs?limit=1000",
            freight.base_url()
        ))
        .bearer_auth(token("acme"))
        .header("X-Tenant-ID", "acme")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (job, logs)
}

fn pg_job(source: &str, target: &str) -> Value {
    json!({
        "source_config": {"type": "postgresql", "url": source},
        "target_config": {"type": "postgresql", "url": target},
        "batch_size": 1000,
        "started_by": "mallory"
    })
}

/// A login role owning `databases` (an ordinary login on Freight's server).
async fn ordinary_owner(server: &str, databases: &[&str]) -> String {
    let role = format!(
        "freight_sqlinj_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut sql = format!("CREATE ROLE {role} LOGIN;");
    for database in databases {
        sql.push_str(&format!("ALTER DATABASE \"{database}\" OWNER TO {role};"));
    }
    exec_pg(&format!("{server}/postgres"), &sql).await;
    role
}

async fn drop_owner(server: &str, databases: &[&str], role: &str) {
    let admin = format!("{server}/postgres");
    for database in databases {
        exec_pg(
            &admin,
            &format!("DROP DATABASE \"{database}\" WITH (FORCE)"),
        )
        .await;
    }
    exec_pg(&admin, &format!("DROP ROLE {role}")).await;
}

#[tokio::test]
async fn a_view_literal_naming_a_domain_runs_nothing_on_the_target() {
    let control = freight_api::testing::fresh_database("freight_sec_view_ctl").await;
    let source = freight_api::testing::fresh_database("freight_sec_view_src").await;
    let ordinary_target = freight_api::testing::fresh_database("freight_sec_view_ord").await;
    let super_target = freight_api::testing::fresh_database("freight_sec_view_su").await;
    let server = source.rsplit_once('/').unwrap().0.to_owned();
    let (source_db, ordinary_db) = (database_name(&source), database_name(&ordinary_target));
    // The probe's own login owns the source (and the ordinary target): the
    // domain is named as it sees it, unqualified.
    let role = ordinary_owner(&server, &[&source_db, &ordinary_db]).await;
    let source = format!("postgres://{role}@127.0.0.1:5432/{source_db}");
    exec_pg(&source, PROBE).await;

    let mut freight = FreightSpec::new("all", &control).spawn();
    let http = reqwest::Client::new();
    freight.wait_ready(&http).await;

    // An ordinary login: the view arrives as the source wrote it, its
    // literal whole, and nothing else runs.
    let ordinary = format!("postgres://{role}@127.0.0.1:5432/{ordinary_db}");
    let (done, logs) = run(&http, &freight, &pg_job(&source, &ordinary)).await;
    assert!(
        !pg_relation_exists(&ordinary_target, "public.loot").await,
        "the view's literal ran on the target: {done}\n{logs}"
    );
    assert_eq!(done["status"], "completed", "{done}\n{logs}");
    assert!(
        done["plan_warnings"]
            .to_string()
            .contains("view pwn is recreated on the target after the copy"),
        "{done}"
    );
    assert_eq!(
        pg_text(&ordinary_target, "SELECT c FROM pwn").await,
        "AAA::mydom\n; CREATE TABLE public.loot AS SELECT current_user AS who; --"
    );

    // A superuser on Freight's own server: no view at all, named in the
    // plan's warnings.
    let (done, logs) = run(&http, &freight, &pg_job(&source, &super_target)).await;
    assert!(
        !pg_relation_exists(&super_target, "public.loot").await,
        "the view's literal ran as a superuser: {done}\n{logs}"
    );
    assert_eq!(done["status"], "completed", "{done}\n{logs}");
    assert!(
        done["plan_warnings"].to_string().contains(
            "view pwn is not recreated: the target login is a superuser (or may read the \
             server's files) on Freight's own PostgreSQL server"
        ),
        "{done}"
    );
    assert!(!pg_relation_exists(&super_target, "public.pwn").await);
    assert!(pg_relation_exists(&super_target, "public.t").await);

    drop(freight);
    drop_owner(&server, &[&source_db, &ordinary_db], &role).await;
}

#[tokio::test]
async fn a_target_reading_backslashes_as_escapes_runs_no_second_statement() {
    // The source writes standard strings (`'x\'` is `x\`); a target
    // database set to read `\'` as an escaped quote would take the view's
    // next literal as code.
    let control = freight_api::testing::fresh_database("freight_sec_scs_ctl").await;
    let source = freight_api::testing::fresh_database("freight_sec_scs_src").await;
    let target = freight_api::testing::fresh_database("freight_sec_scs_tgt").await;
    exec_pg(
        &source,
        "CREATE TABLE t (id int PRIMARY KEY);
         CREATE VIEW pwn AS SELECT 'x\\'::text AS a,
           '; CREATE TABLE public.loot AS SELECT current_user AS who; --'::text AS b;",
    )
    .await;
    let server = source.rsplit_once('/').unwrap().0.to_owned();
    let target_db = database_name(&target);
    let role = ordinary_owner(&server, &[&target_db]).await;
    exec_pg(
        &format!("{server}/postgres"),
        &format!("ALTER DATABASE \"{target_db}\" SET standard_conforming_strings = off"),
    )
    .await;

    let mut freight = FreightSpec::new("all", &control).spawn();
    let http = reqwest::Client::new();
    freight.wait_ready(&http).await;
    let ordinary = format!("postgres://{role}@127.0.0.1:5432/{target_db}");
    let (done, logs) = run(&http, &freight, &pg_job(&source, &ordinary)).await;
    assert!(
        !pg_relation_exists(&target, "public.loot").await,
        "the view's second literal ran on the target: {done}\n{logs}"
    );
    assert_eq!(done["status"], "completed", "{done}\n{logs}");
    assert_eq!(
        pg_text(&target, "SELECT a || '|' || b FROM pwn").await,
        "x\\|; CREATE TABLE public.loot AS SELECT current_user AS who; --"
    );

    drop(freight);
    drop_owner(&server, &[&target_db], &role).await;
}

async fn exec_mysql(sql: &str) {
    let mut c = MySqlConnection::connect("mysql://root@127.0.0.1:3306/mysql")
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
}

async fn mysql_count(sql: &str) -> i64 {
    let mut c = MySqlConnection::connect("mysql://root@127.0.0.1:3306/mysql")
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    n
}

#[tokio::test]
async fn mariadb_expressions_and_views_stay_one_statement() {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let (source, target) = (
        format!("freight_sec_myinj_src_{suffix}"),
        format!("freight_sec_myinj_tgt_{suffix}"),
    );
    // MariaDB shows a generated expression as written (`'p\''` is `p'`);
    // unescaping `\'` as MySQL 8 needs made it end the column definition.
    // A view's literal holds the database's qualifier, which only its
    // code may lose.
    exec_mysql(&format!(
        "CREATE DATABASE `{source}`; CREATE DATABASE `{target}`;
         CREATE TABLE `{source}`.t (id INT PRIMARY KEY, a TEXT,
           g TEXT AS (concat(a, 'p\\'', ' ) VIRTUAL); CREATE TABLE `{target}`.loot (x INT); -- ')) STORED);
         INSERT INTO `{source}`.t (id, a) VALUES (1, 'a');
         CREATE VIEW `{source}`.v AS SELECT id, '`{source}`.kept' AS s FROM `{source}`.t;"
    ))
    .await;

    let control = freight_api::testing::fresh_database("freight_sec_myinj_ctl").await;
    let mut freight = FreightSpec::new("all", &control).spawn();
    let http = reqwest::Client::new();
    freight.wait_ready(&http).await;
    let body = json!({
        "source_config": {"type": "mysql", "url": format!("mysql://root@127.0.0.1:3306/{source}")},
        "target_config": {"type": "mysql", "url": format!("mysql://root@127.0.0.1:3306/{target}")},
        "batch_size": 1000,
        "started_by": "mallory"
    });
    let (done, logs) = run(&http, &freight, &body).await;
    let loot = mysql_count(&format!(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{target}' AND table_name = 'loot'"
    ))
    .await;
    assert_eq!(
        loot, 0,
        "the expression's literal ran on the target: {done}\n{logs}"
    );
    assert_eq!(done["status"], "completed", "{done}\n{logs}");
    let generated = mysql_count(&format!(
        "SELECT count(*) FROM `{target}`.t
         WHERE g = concat(a, 'p\\'', ' ) VIRTUAL); CREATE TABLE `{target}`.loot (x INT); -- ')"
    ))
    .await;
    assert_eq!(
        generated, 1,
        "the generated column arrives as written: {done}"
    );
    let generated_columns = mysql_count(&format!(
        "SELECT count(*) FROM information_schema.columns
         WHERE table_schema = '{target}' AND table_name = 't' AND column_name = 'g'
           AND extra LIKE '%GENERATED%'"
    ))
    .await;
    assert_eq!(generated_columns, 1, "{done}");
    let kept = mysql_count(&format!(
        "SELECT count(*) FROM `{target}`.v WHERE s = '`{source}`.kept'"
    ))
    .await;
    assert_eq!(kept, 1, "the view's literal keeps the qualifier: {done}");

    drop(freight);
    exec_mysql(&format!(
        "DROP DATABASE `{source}`; DROP DATABASE `{target}`"
    ))
    .await;
}
