//! Addresses: Freight's Redis, link-local and metadata addresses, and the
//! operator's lists, checked on what a name resolves to, in the API and
//! again in the worker.

use serde_json::json;

use crate::common::assert_problem;
use crate::support::{body, secure_api};

fn mariadb(host: &str, port: u16) -> serde_json::Value {
    json!({"type": "mysql", "host": host, "port": port, "database": "freight_sec_egress", "user": "root"})
}

/// A small MariaDB database to plan from.
async fn mariadb_source() {
    use sqlx::Connection;
    let mut c = sqlx::MySqlConnection::connect("mysql://root@127.0.0.1:3306/mysql")
        .await
        .unwrap();
    for sql in [
        "CREATE DATABASE IF NOT EXISTS freight_sec_egress",
        "CREATE TABLE IF NOT EXISTS freight_sec_egress.items (id INT PRIMARY KEY)",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn redis_metadata_and_denied_names_are_refused_before_connecting() {
    mariadb_source().await;
    let api = secure_api(|p| p).await;
    let mallory = api.new_tenant();
    let target = json!({"type": "postgresql", "url": freight_api::testing::fresh_database("freight_sec_egress").await});
    for (source, what) in [
        (mariadb("localhost", 6379), "Freight's own"),
        (mariadb("127.0.0.1", 6379), "Freight's own"),
        (
            json!({"type": "postgresql", "url": "postgres://u@169.254.169.254/latest"}),
            "metadata",
        ),
        (
            json!({"type": "postgresql", "url": "postgres://u@[fd00:ec2::254]/x"}),
            "metadata",
        ),
        (
            json!({"type": "postgresql", "url": "postgres://u@h/db?host=/var/run/postgresql"}),
            "not allowed",
        ),
    ] {
        let problem = assert_problem(
            api.post(
                "/api/v1/jobs",
                &mallory,
                &body(source.clone(), target.clone()),
            )
            .await,
            422,
            "CONNECTION_NOT_ALLOWED",
        )
        .await;
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(what),
            "{source}: {problem}"
        );
    }
    // The same MariaDB by its real port is allowed here...
    let plan = api
        .post(
            "/api/v1/jobs/plan",
            &mallory,
            &body(mariadb("localhost", 3306), target.clone()),
        )
        .await;
    assert_eq!(plan.status(), 200, "{}", plan.text().await.unwrap());

    // ...and refused where the operator denies the address the name
    // resolves to: the rule applies to addresses, not to the text.
    let strict = secure_api(|p| {
        p.deny(freight_core::policy::EgressRule::parse_list("127.0.0.0/8,::1/128").unwrap())
    })
    .await;
    let tenant = strict.new_tenant();
    let problem = assert_problem(
        strict
            .post(
                "/api/v1/jobs/plan",
                &tenant,
                &body(mariadb("localhost", 3306), target.clone()),
            )
            .await,
        422,
        "CONNECTION_NOT_ALLOWED",
    )
    .await;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("denied"),
        "{problem}"
    );
}

#[tokio::test]
async fn the_worker_checks_the_resolved_address_right_before_it_connects() {
    // A job the API accepted earlier; the operator (or DNS) changed since.
    let policy = freight_core::policy::ConnectionPolicy::for_tenants()
        .allow_only(freight_core::policy::EgressRule::parse_list("10.0.0.0/8").unwrap());
    let engine = freight_worker::engine::Engine::new(policy);
    let config: freight_core::connection::ConnectionConfig =
        serde_json::from_value(mariadb("localhost", 3306)).unwrap();
    let job = crate::support::job_context("acme", config.clone(), config);
    let err = engine.plan(&job, true).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("not in the operator's egress allow list"),
        "{err}"
    );
}
