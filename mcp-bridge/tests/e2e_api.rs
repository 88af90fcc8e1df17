//! End to end: an rmcp client drives the built `freight-mcp` binary, over stdio
//! and over Streamable HTTP, against the real API (`freight_api::testing::spawn_app`:
//! the real router on port 0, a fresh Postgres database).

mod common;

use common::*;
use freight_api::testing::spawn_app;
use serde_json::{Value, json};

const TENANT_A: &str = "tenant-a";
const TENANT_B: &str = "tenant-b";
/// A password in the target URL's query string: no tool output may show it.
const QUERY_STRING_SECRET: &str = "mcp-qs-secret-31";
const UNKNOWN_JOB: &str = "00000000-0000-4000-8000-000000000000";

fn create_body() -> Value {
    json!({
        "source_config": {"type": "sqlite", "url": "sqlite::memory:"},
        "target_config": {"type": "postgresql", "url": format!("postgres://postgres@127.0.0.1:5432/x?password={QUERY_STRING_SECRET}")},
        "tables": ["t"],
        "started_by": "me"
    })
}

fn job_id_of(job: &Value) -> String {
    job.get("id")
        .or_else(|| job.get("job_id"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no job id in {job}"))
        .to_owned()
}

/// Success, or an API problem with one of `codes` (states the API may legitimately be in).
fn ok_or_api_error(result: &rmcp::model::CallToolResult, codes: &[&str]) {
    if result.is_error == Some(true) {
        let message = text(result);
        assert!(
            message.starts_with("Freight API error: HTTP")
                && codes.iter().any(|c| message.contains(c)),
            "unexpected error: {message}"
        );
    }
}

/// Calls every API tool once as one user: create → get → logs → export → retry/cancel.
/// Returns the id of the job it created.
async fn exercise_every_tool(client: &Client) -> String {
    let health = ok(&call(client, "health_check", json!({})).await);
    assert!(
        health["status"].is_string() && health["version"].is_string(),
        "{health}"
    );

    let plan = call(client, "plan_migration_job", create_body()).await;
    ok_or_api_error(&plan, &["VALIDATION_ERROR", "UNAVAILABLE"]);

    let created = call(client, "create_migration_job", create_body()).await;
    let job = ok(&created);
    let id = job_id_of(&job);

    let got_result = call(client, "get_migration_job", json!({"job_id": id})).await;
    let got = ok(&got_result);
    assert_eq!(job_id_of(&got), id);

    let listed_result = call(client, "list_migration_jobs", json!({})).await;
    let listed = ok(&listed_result);
    assert!(listed.to_string().contains(&id), "new job listed: {listed}");
    for output in [&plan, &created, &got_result, &listed_result] {
        let shown = format!("{} {:?}", text(output), output.structured_content);
        assert!(
            !shown.contains(QUERY_STRING_SECRET),
            "secret in MCP output: {shown}"
        );
    }
    assert!(
        got.to_string().contains("password=***"),
        "masked URL shown: {got}"
    );

    ok(&call(client, "list_job_batches", json!({"job_id": id})).await);
    ok(&call(client, "get_migration_logs", json!({"job_id": id})).await);

    for format in ["csv", "json"] {
        let export = call(
            client,
            "export_migration_logs",
            json!({"job_id": id, "format": format}),
        )
        .await;
        assert_ne!(
            export.is_error,
            Some(true),
            "export {format}: {}",
            text(&export)
        );
    }

    // A queued job cannot be retried; whatever its state, the answer is the API's.
    let retry = call(client, "retry_migration_job", json!({"job_id": id})).await;
    ok_or_api_error(&retry, &["CONFLICT"]);
    let cancel = call(client, "cancel_migration_job", json!({"job_id": id})).await;
    ok_or_api_error(&cancel, &["CONFLICT"]);
    // After one cancel the job is cancelled, cancelling or finished: a second is a conflict.
    let again = err(&call(client, "cancel_migration_job", json!({"job_id": id})).await);
    assert!(again.contains("HTTP 409 CONFLICT"), "{again}");
    assert!(again.contains("Hint:"), "{again}");

    let missing = err(&call(client, "get_migration_job", json!({"job_id": UNKNOWN_JOB})).await);
    assert!(missing.contains("HTTP 404 NOT_FOUND"), "{missing}");

    ok(&call(client, "get_job_statistics", json!({})).await);
    ok(&call(client, "get_worker_status", json!({})).await);
    ok(&call(client, "list_audit_events", json!({})).await);
    id
}

#[tokio::test]
async fn stdio_bridge_runs_every_tool_against_the_real_api() {
    let app = spawn_app().await;
    let admin = app.token(&[TENANT_A], "admin");
    let client = stdio_bridge(&[
        ("FREIGHT_API_URL", &app.base_url),
        ("FREIGHT_API_KEY", &admin),
        ("FREIGHT_TENANT_ID", TENANT_A),
    ])
    .await;

    let mut expected = spec_operation_ids();
    expected.insert("bridge_status".to_owned());
    assert_eq!(tool_names(&client).await, expected);

    let job_a = exercise_every_tool(&client).await;
    ok(&call(&client, "get_tenant_statistics", json!({})).await);

    let status = ok(&call(&client, "bridge_status", json!({})).await);
    assert_eq!(status["reachable"], true);
    assert_eq!(status["tenant_id"], TENANT_A);
    assert_eq!(status["token_present"], true);
    assert!(status["api_version"].is_string());
    assert!(!status.to_string().contains(&admin), "token never shown");
    client.cancel().await.expect("shutdown");

    // Tenant B's engineer cannot read tenant A's job through the bridge.
    let engineer_b = app.token(&[TENANT_B], "engineer");
    let b = stdio_bridge(&[
        ("FREIGHT_API_URL", &app.base_url),
        ("FREIGHT_API_KEY", &engineer_b),
        ("FREIGHT_TENANT_ID", TENANT_B),
    ])
    .await;
    let hidden = err(&call(&b, "get_migration_job", json!({"job_id": job_a})).await);
    assert!(hidden.contains("HTTP 404 NOT_FOUND"), "{hidden}");
    let denied = err(&call(
        &b,
        "get_migration_job",
        json!({"job_id": job_a, "tenant_id": TENANT_A}),
    )
    .await);
    assert!(
        denied.contains("FORBIDDEN") || denied.contains("NOT_FOUND"),
        "{denied}"
    );
    assert!(!denied.contains("sqlite"), "no data of tenant A leaks");
    let admin_only = err(&call(&b, "get_tenant_statistics", json!({})).await);
    assert!(admin_only.contains("HTTP 403 FORBIDDEN"), "{admin_only}");
    b.cancel().await.expect("shutdown");

    // A bad token is the API's 401, as a tool error.
    let bad = stdio_bridge(&[
        ("FREIGHT_API_URL", &app.base_url),
        ("FREIGHT_API_KEY", "not-a-jwt"),
        ("FREIGHT_TENANT_ID", TENANT_A),
    ])
    .await;
    let unauthorized = err(&call(&bad, "list_migration_jobs", json!({})).await);
    assert!(
        unauthorized.contains("HTTP 401 UNAUTHORIZED"),
        "{unauthorized}"
    );
    bad.cancel().await.expect("shutdown");
}

#[tokio::test]
async fn http_bridge_serves_two_users_of_two_tenants_with_their_own_credentials() {
    let app = spawn_app().await;
    let bridge = http_bridge(&app.base_url, &[]).await;
    let token_a = app.token(&[TENANT_A], "engineer");
    let token_b = app.token(&[TENANT_B], "engineer");
    let alice = http_client(&bridge.url, Some(&token_a), Some(TENANT_A)).await;
    let bob = http_client(&bridge.url, Some(&token_b), Some(TENANT_B)).await;

    let mut expected = spec_operation_ids();
    expected.insert("bridge_status".to_owned());
    assert_eq!(tool_names(&alice).await, expected);

    let (job_a, job_b) = tokio::join!(exercise_every_tool(&alice), exercise_every_tool(&bob));

    // Each sees only their own tenant's job.
    let listed_a = ok(&call(&alice, "list_migration_jobs", json!({})).await).to_string();
    assert!(listed_a.contains(&job_a) && !listed_a.contains(&job_b));
    let listed_b = ok(&call(&bob, "list_migration_jobs", json!({})).await).to_string();
    assert!(listed_b.contains(&job_b) && !listed_b.contains(&job_a));
    let cross = err(&call(&bob, "get_migration_job", json!({"job_id": job_a})).await);
    assert!(cross.contains("HTTP 404 NOT_FOUND"), "{cross}");
    let claimed = err(&call(
        &bob,
        "get_migration_job",
        json!({"job_id": job_a, "tenant_id": TENANT_A}),
    )
    .await);
    assert!(
        claimed.contains("FORBIDDEN") || claimed.contains("NOT_FOUND"),
        "{claimed}"
    );

    let status = ok(&call(&bob, "bridge_status", json!({})).await);
    assert_eq!(status["transport"], "http");
    assert_eq!(status["tenant_id"], TENANT_B);
    assert_eq!(status["token_present"], true);

    // No Authorization header: the API says 401, the bridge has no key of its own.
    let anonymous = http_client(&bridge.url, None, Some(TENANT_A)).await;
    let unauthorized = err(&call(&anonymous, "list_migration_jobs", json!({})).await);
    assert!(
        unauthorized.contains("HTTP 401 UNAUTHORIZED"),
        "{unauthorized}"
    );

    for client in [alice, bob, anonymous] {
        client.cancel().await.expect("shutdown");
    }
}
