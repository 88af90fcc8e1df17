//! Every connector pair moves a table with rich types and NULLs; the target
//! is read back with plain sqlx and compared row by row with the source data.

#[path = "engine_support/rich.rs"]
mod rich;
#[path = "engine_support/mod.rs"]
mod support;

use freight_core::connection::{ConnectionConfig, DatabaseKind, Secret};
use freight_worker::engine::Engine;
use sqlx::Executor;
use support::{Dbs, job, migrate, total_read};

const ROWS: i64 = 230;
const BATCH: u32 = 40;

fn expected() -> Vec<rich::Rich> {
    rich::normalized(rich::rows(ROWS))
}

#[tokio::test]
async fn postgres_to_postgres() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    rich::create_pg(&pg, "src", &rich::rows(ROWS)).await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.pg("src"), dbs.pg("dst"), &["rich"], BATCH);
    let (plan, outcomes) = migrate(&engine, &job).await;
    assert_eq!(plan.report.total_rows_estimate, ROWS);
    assert_eq!(total_read(&outcomes), ROWS);
    assert_eq!(
        rich::normalized(rich::read_pg(&pg, "dst").await),
        expected()
    );
    engine.release_job(job.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn mysql_to_postgres() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    rich::create_mysql(&my, &rich::rows(ROWS)).await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.mysql(), dbs.pg("public"), &["rich"], BATCH);
    let (_, outcomes) = migrate(&engine, &job).await;
    assert_eq!(total_read(&outcomes), ROWS);
    let pg = dbs.pg_pool().await;
    assert_eq!(
        rich::normalized(rich::read_pg(&pg, "public").await),
        expected()
    );
    engine.release_job(job.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_to_mysql() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    rich::create_pg(&pg, "public", &rich::rows(ROWS)).await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.pg("public"), dbs.mysql(), &["rich"], BATCH);
    let (_, outcomes) = migrate(&engine, &job).await;
    assert_eq!(total_read(&outcomes), ROWS);
    let my = dbs.my_pool().await;
    assert_eq!(rich::normalized(rich::read_mysql(&my).await), expected());
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn sqlite_to_postgres() {
    let dbs = Dbs::new().await;
    let lite = dbs.sqlite_pool("src").await;
    rich::create_sqlite(&lite, &rich::rows(ROWS)).await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.sqlite("src"), dbs.pg("public"), &["rich"], BATCH);
    let (_, outcomes) = migrate(&engine, &job).await;
    assert_eq!(total_read(&outcomes), ROWS);
    let pg = dbs.pg_pool().await;
    assert_eq!(
        rich::normalized(rich::read_pg(&pg, "public").await),
        expected()
    );
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_to_sqlite() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    rich::create_pg(&pg, "public", &rich::rows(ROWS)).await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.pg("public"), dbs.sqlite("dst"), &["rich"], BATCH);
    let (_, outcomes) = migrate(&engine, &job).await;
    assert_eq!(total_read(&outcomes), ROWS);
    engine.release_job(job.job_id).await;
    let lite = dbs.sqlite_pool("dst").await;
    assert_eq!(rich::normalized(rich::read_sqlite(&lite).await), expected());
    dbs.cleanup().await;
}

#[tokio::test]
async fn mysql_to_sqlite() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    rich::create_mysql(&my, &rich::rows(ROWS)).await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.mysql(), dbs.sqlite("dst"), &["rich"], BATCH);
    let (_, outcomes) = migrate(&engine, &job).await;
    assert_eq!(total_read(&outcomes), ROWS);
    engine.release_job(job.job_id).await;
    let lite = dbs.sqlite_pool("dst").await;
    assert_eq!(rich::normalized(rich::read_sqlite(&lite).await), expected());
    dbs.cleanup().await;
}

#[tokio::test]
async fn sqlite_to_mysql() {
    let dbs = Dbs::new().await;
    let lite = dbs.sqlite_pool("src").await;
    rich::create_sqlite(&lite, &rich::rows(ROWS)).await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(dbs.sqlite("src"), dbs.mysql(), &["rich"], BATCH);
    let (_, outcomes) = migrate(&engine, &job).await;
    assert_eq!(total_read(&outcomes), ROWS);
    let my = dbs.my_pool().await;
    assert_eq!(rich::normalized(rich::read_mysql(&my).await), expected());
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}

/// `"password": ""` is no password, as leaving the field out is: a login
/// without one connects (MariaDB and PostgreSQL alike).
#[tokio::test]
async fn an_empty_password_is_no_password() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute("CREATE TABLE t (id int PRIMARY KEY, v varchar(5)); INSERT INTO t VALUES (1, 'a')")
        .await
        .expect("source");
    my.close().await;
    let fields = |kind, port, user: &str, schema: Option<&str>| ConnectionConfig {
        kind,
        url: None,
        host: Some("127.0.0.1".into()),
        port: Some(port),
        database: Some(dbs.name.clone()),
        user: Some(user.into()),
        password: Some(Secret::new("")),
        schema: schema.map(str::to_owned),
    };
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let job = job(
        fields(DatabaseKind::Mysql, 3306, "root", None),
        fields(DatabaseKind::Postgresql, 5432, "postgres", Some("public")),
        &["t"],
        BATCH,
    );
    let (_, outcomes) = migrate(&engine, &job).await;
    assert_eq!(total_read(&outcomes), 1);
    engine.release_job(job.job_id).await;
    dbs.cleanup().await;
}
