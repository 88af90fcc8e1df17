//! The built binary against a small in-process stand-in of the Freight API that
//! echoes what it receives: checks the bridge's own plumbing (argument mapping,
//! credentials, tenant, results, transports) without Postgres. The flows
//! against the real API are in `e2e_api.rs`.

mod common;

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::*;
use serde_json::{Value, json};

const CSV_LINES: usize = 2_000;

/// Echoes the request as JSON, except for a few paths that answer like the API does.
async fn fake_api(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let problem = |status: StatusCode, code: &str, detail: &str| {
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            json!({"type": "about:blank", "title": status.canonical_reason(), "status": status.as_u16(), "detail": detail, "code": code})
                .to_string(),
        )
            .into_response()
    };
    if path == "/health" {
        return axum::Json(json!({"status": "ok", "version": "9.9.9", "uptime_seconds": 1}))
            .into_response();
    }
    if path.contains("/missing") {
        return problem(StatusCode::NOT_FOUND, "NOT_FOUND", "job not found");
    }
    if path.ends_with("/done/cancel") {
        return problem(StatusCode::CONFLICT, "CONFLICT", "job already completed");
    }
    if path.ends_with("/logs/export") {
        let csv: String = std::iter::once("timestamp,level,message\n".to_owned())
            .chain((0..CSV_LINES).map(|i| format!("2026-11-21T00:00:00Z,info,line {i}\n")))
            .collect();
        return ([(header::CONTENT_TYPE, "text/csv")], csv).into_response();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    axum::Json(json!({
        "method": method.as_str(),
        "path": path,
        "query": uri.query(),
        "authorization": header("authorization"),
        "tenant": header("x-tenant-id"),
        "body": body,
    }))
    .into_response()
}

async fn start_fake_api() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().fallback(fake_api)).await;
    });
    format!("http://{addr}")
}

/// A URL nothing listens on.
async fn closed_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// The echo, unwrapping `{result: …}` for tools whose spec output is not an object.
fn echo(result: &rmcp::model::CallToolResult) -> Value {
    let value = ok(result);
    if value.get("path").is_some() {
        value
    } else {
        value["result"].clone()
    }
}

#[tokio::test]
async fn stdio_lists_exactly_the_spec_operations_plus_bridge_status() {
    let api = start_fake_api().await;
    let client = stdio_bridge(&[("FREIGHT_API_URL", &api)]).await;
    let mut expected = spec_operation_ids();
    expected.insert("bridge_status".to_owned());
    assert_eq!(tool_names(&client).await, expected);

    let tools = client.list_all_tools().await.expect("list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "stable order");
    for tool in &tools {
        let a = tool.annotations.as_ref().expect("annotations set");
        assert!(
            a.read_only_hint.is_some()
                && a.destructive_hint.is_some()
                && a.idempotent_hint.is_some()
                && a.open_world_hint.is_some(),
            "all four hints set on {}",
            tool.name
        );
    }
    let get = tools
        .iter()
        .find(|t| t.name == "get_migration_job")
        .expect("get_migration_job");
    assert_eq!(
        get.annotations.as_ref().and_then(|a| a.read_only_hint),
        Some(true)
    );
    let cancel = tools
        .iter()
        .find(|t| t.name == "cancel_migration_job")
        .expect("cancel_migration_job");
    assert_eq!(
        cancel.annotations.as_ref().and_then(|a| a.destructive_hint),
        Some(true)
    );
    client.cancel().await.expect("shutdown");
}

#[tokio::test]
async fn stdio_maps_arguments_credentials_and_tenant_onto_the_request() {
    let api = start_fake_api().await;
    let client = stdio_bridge(&[
        ("FREIGHT_API_URL", &api),
        ("FREIGHT_API_KEY", "secret-1"),
        ("FREIGHT_TENANT_ID", "acme"),
    ])
    .await;

    let got = echo(&call(&client, "get_migration_job", json!({"job_id": "j 1/x"})).await);
    assert_eq!(got["method"], "GET");
    assert_eq!(got["path"], "/api/v1/jobs/j%201%2Fx");
    assert_eq!(got["authorization"], "Bearer secret-1");
    assert_eq!(got["tenant"], "acme");

    let got = echo(
        &call(
            &client,
            "get_migration_job",
            json!({"job_id": "j1", "tenant_id": "globex"}),
        )
        .await,
    );
    assert_eq!(got["tenant"], "globex", "the tenant_id argument wins");

    let got = echo(&call(&client, "list_migration_jobs", json!({"limit": 2})).await);
    assert_eq!(got["query"], "limit=2");

    // Objects and arrays sent as JSON strings (a client quirk) are parsed.
    let got = echo(
        &call(
            &client,
            "create_migration_job",
            json!({
                "source_config": r#"{"type":"sqlite","url":"sqlite::memory:"}"#,
                "target_config": {"type": "postgresql", "host": "127.0.0.1", "port": 5432, "database": "x", "user": "postgres", "password": "secret"},
                "tables": r#"["t"]"#,
                "started_by": "me",
            }),
        )
        .await,
    );
    assert_eq!(got["method"], "POST");
    assert_eq!(got["path"], "/api/v1/jobs");
    assert_eq!(got["body"]["source_config"]["type"], "sqlite");
    assert_eq!(got["body"]["tables"], json!(["t"]));
    assert_eq!(got["body"]["started_by"], "me");

    let missing = err(&call(&client, "get_migration_job", json!({})).await);
    assert!(
        missing.contains("missing required argument(s) `job_id`"),
        "{missing}"
    );
    client.cancel().await.expect("shutdown");
}

#[tokio::test]
async fn api_problems_and_csv_come_back_as_tool_results() {
    let api = start_fake_api().await;
    let client = stdio_bridge(&[
        ("FREIGHT_API_URL", &api),
        ("FREIGHT_API_KEY", "k"),
        ("FREIGHT_MCP_TEXT_BUDGET", "2000"),
    ])
    .await;

    let not_found = err(&call(&client, "get_migration_job", json!({"job_id": "missing"})).await);
    assert!(not_found.contains("HTTP 404 NOT_FOUND"), "{not_found}");
    assert!(not_found.contains("job not found") && not_found.contains("Hint:"));

    let conflict = err(&call(&client, "cancel_migration_job", json!({"job_id": "done"})).await);
    assert!(conflict.contains("HTTP 409 CONFLICT"), "{conflict}");

    let export = call(
        &client,
        "export_migration_logs",
        json!({"job_id": "j1", "format": "csv"}),
    )
    .await;
    assert_ne!(export.is_error, Some(true));
    let csv = text(&export);
    assert!(csv.starts_with("timestamp,level,message\n"));
    assert!(
        csv.len() < 2_500,
        "cut near the 2000-byte budget: {}",
        csv.len()
    );
    assert!(
        csv.contains(&format!("of {} lines", CSV_LINES + 1)),
        "paging note: {csv}"
    );

    let status = ok(&call(&client, "bridge_status", json!({})).await);
    assert!(
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cancel_migration_job") && e.contains("409")),
        "{status}"
    );
    client.cancel().await.expect("shutdown");
}

#[tokio::test]
async fn bridge_status_reports_the_api_without_revealing_the_token() {
    let api = start_fake_api().await;
    let client = stdio_bridge(&[
        ("FREIGHT_API_URL", &api),
        ("FREIGHT_API_KEY", "very-secret-token"),
        ("FREIGHT_TENANT_ID", "acme"),
    ])
    .await;
    let result = call(&client, "bridge_status", json!({})).await;
    let status = ok(&result);
    assert_eq!(status["api_url"], format!("{api}/"));
    assert_eq!(status["reachable"], true);
    assert_eq!(status["api_version"], "9.9.9");
    assert_eq!(status["tenant_id"], "acme");
    assert_eq!(status["token_present"], true);
    assert_eq!(status["transport"], "stdio");
    assert_eq!(status["last_error"], Value::Null);
    assert!(!text(&result).contains("very-secret-token"));
    client.cancel().await.expect("shutdown");
}

#[tokio::test]
async fn an_unreachable_api_is_an_error_result_naming_the_url() {
    let api = closed_url().await;
    let client = stdio_bridge(&[("FREIGHT_API_URL", &api)]).await;
    let message = err(&call(&client, "get_migration_job", json!({"job_id": "j1"})).await);
    assert!(
        message.contains(&format!("The Freight API at {api}/ is unreachable")),
        "{message}"
    );
    let status = ok(&call(&client, "bridge_status", json!({})).await);
    assert_eq!(status["reachable"], false);
    assert_eq!(status["token_present"], false);
    assert!(
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("unreachable"))
    );
    // The session survives: another call still answers.
    assert_eq!(
        tool_names(&client).await.len(),
        spec_operation_ids().len() + 1
    );
    client.cancel().await.expect("shutdown");
}

#[tokio::test]
async fn http_forwards_each_users_authorization_and_tenant_per_request() {
    let api = start_fake_api().await;
    // The env key must not be used for HTTP clients.
    let bridge = http_bridge(&api, &[("FREIGHT_API_KEY", "server-key")]).await;
    let alice = http_client(&bridge.url, Some("alice-token"), Some("tenant-a")).await;
    let bob = http_client(&bridge.url, Some("bob-token"), Some("tenant-b")).await;
    let anonymous = http_client(&bridge.url, None, None).await;

    let mut expected = spec_operation_ids();
    expected.insert("bridge_status".to_owned());
    assert_eq!(tool_names(&alice).await, expected);

    let (a, b, n) = tokio::join!(
        call(&alice, "get_migration_job", json!({"job_id": "a1"})),
        call(&bob, "get_migration_job", json!({"job_id": "b1"})),
        call(&anonymous, "get_migration_job", json!({"job_id": "n1"})),
    );
    let (a, b, n) = (echo(&a), echo(&b), echo(&n));
    assert_eq!(a["authorization"], "Bearer alice-token");
    assert_eq!(a["tenant"], "tenant-a");
    assert_eq!(b["authorization"], "Bearer bob-token");
    assert_eq!(b["tenant"], "tenant-b");
    assert_eq!(n["authorization"], Value::Null, "no server key over http");

    let status = ok(&call(&bob, "bridge_status", json!({})).await);
    assert_eq!(status["transport"], "http");
    assert_eq!(status["token_present"], true);
    assert_eq!(status["tenant_id"], "tenant-b");
    let status = ok(&call(&anonymous, "bridge_status", json!({})).await);
    assert_eq!(status["token_present"], false);

    let seen: BTreeSet<String> = [a, b]
        .iter()
        .filter_map(|e| e["path"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        seen,
        BTreeSet::from(["/api/v1/jobs/a1".to_owned(), "/api/v1/jobs/b1".to_owned()])
    );
    for client in [alice, bob, anonymous] {
        client.cancel().await.expect("shutdown");
    }
}
