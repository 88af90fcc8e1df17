//! 5xx bodies say nothing about the failing dependency: a generic sentence
//! and the request id; the cause goes to the log only.

use std::sync::Arc;
use std::time::Duration;

use freight_api::AppState;
use freight_api::testing::{TEST_JWT_SECRET, redis_url, serve_state};
use freight_core::secrets::SecretBox;
use freight_core::store::postgres::PgStore;
use freight_core::tokens::{Role, TokenKeys};
use serde_json::Value;

use crate::common::{NoPlanner, assert_problem};

/// A port on which nothing listens: the PostgreSQL server is "stopped".
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_503_names_no_dependency_and_carries_the_request_id() {
    let port = closed_port();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy(&format!("postgres://postgres@127.0.0.1:{port}/freight"))
        .unwrap();
    let store = Arc::new(PgStore::from_pool(
        pool,
        SecretBox::from_key_material(TEST_JWT_SECRET),
    ));
    let tokens = TokenKeys::new(TEST_JWT_SECRET);
    let redis = redis::Client::open(redis_url().as_str()).unwrap();
    let state = AppState::new(store, Arc::new(NoPlanner), tokens.clone(), redis);
    let base_url = serve_state(state).await;
    let token = tokens
        .mint(
            "alice",
            &["acme".into()],
            Role::Engineer,
            chrono::Duration::hours(1),
        )
        .unwrap();

    let response = reqwest::Client::new()
        .get(format!("{base_url}/api/v1/jobs"))
        .bearer_auth(&token)
        .header("X-Tenant-ID", "acme")
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = assert_problem(response, 503, "UNAVAILABLE").await;
    assert_eq!(body["detail"], "a dependency is unavailable; retry later");
    assert_eq!(body["request_id"], request_id.as_str());
    let text = body.to_string().to_lowercase();
    for driver_text in [
        "database",
        "pool",
        "timed out",
        "refused",
        "postgres",
        "127.0.0.1",
    ] {
        assert!(!text.contains(driver_text), "{driver_text:?} in {text}");
    }
    assert!(!text.contains(&port.to_string()), "port in {text}");

    // Client errors carry the request id too, to quote in a report.
    let response = reqwest::Client::new()
        .get(format!("{base_url}/api/v1/jobs"))
        .header("X-Tenant-ID", "acme")
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = assert_problem(response, 401, "UNAUTHORIZED").await;
    assert_eq!(body["request_id"], request_id.as_str());
}

#[tokio::test]
async fn a_5xx_of_the_real_binary_is_opaque_and_its_cause_is_logged_with_the_request_id() {
    use sqlx::Connection;

    let control = freight_api::testing::fresh_database("freight_sec_opaque").await;
    let name = crate::support::database_name(&control);
    let mut api = crate::ops_support::FreightSpec::new("api", &control).spawn();
    let http = reqwest::Client::new();
    api.wait_ready(&http).await;
    // Freight's database stops accepting connections, and drops the ones
    // it had.
    let admin_url = control.replace(&format!("/{name}"), "/postgres");
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
    )))
    .execute(&mut admin)
    .await
    .unwrap();

    let response = http
        .get(format!("{}/api/v1/jobs", api.base_url()))
        .bearer_auth(crate::ops_support::token("acme"))
        .header("X-Tenant-ID", "acme")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();

    assert!(matches!(status, 500 | 503), "{status} {body}");
    assert_eq!(body["request_id"], request_id.as_str());
    let text = body.to_string().to_lowercase();
    for driver_text in [
        "accepting",
        "terminat",
        "pool",
        "postgres",
        "127.0.0.1",
        name.as_str(),
    ] {
        assert!(!text.contains(driver_text), "{driver_text:?} in {text}");
    }
    // The log line with the same request id names the cause.
    api.wait_for_log_line(|line| line.contains(&request_id) && line.contains("cause"))
        .await;
    let logs = api.logs();
    let line = logs
        .lines()
        .find(|l| l.contains(&request_id) && l.contains("cause"))
        .unwrap();
    assert!(
        line.contains("accepting connections")
            || line.contains("terminat")
            || line.contains("closed"),
        "{line}"
    );
}
