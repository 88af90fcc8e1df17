//! `watch_migration_job`: generated from the event stream's `x-mcp.stream`,
//! it follows a job until it finishes or the timeout passes, and sends MCP
//! progress notifications when the client asks for them.

mod common;

use std::sync::{Arc, Mutex};

use common::{BIN, ok};
use freight_api::testing::spawn_app;
use rmcp::model::{
    CallToolRequestParams, ProgressNotificationParam, ProgressToken, RequestParamsMeta,
};
use rmcp::service::NotificationContext;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::process::Command;

const TENANT: &str = "watcher";

/// A client that keeps the progress notifications it receives.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<ProgressNotificationParam>>>);

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push(params);
        }
    }
}

#[tokio::test]
async fn watch_follows_a_job_reports_progress_and_returns_the_final_job() {
    let app = spawn_app().await;
    let token = app.token(&[TENANT], "engineer");
    let recorder = Recorder::default();
    let command = Command::new(BIN).configure(|cmd| {
        cmd.env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.env("RUST_LOG", "warn");
        cmd.env("FREIGHT_API_URL", &app.base_url);
        cmd.env("FREIGHT_API_KEY", &token);
        cmd.env("FREIGHT_TENANT_ID", TENANT);
    });
    let (transport, _stderr) = TokioChildProcess::builder(command)
        .spawn()
        .expect("bridge starts");
    let client = recorder
        .clone()
        .serve(transport)
        .await
        .expect("MCP handshake");

    let tools = client.list_all_tools().await.expect("tools");
    let watch = tools
        .iter()
        .find(|t| t.name == "watch_migration_job")
        .expect("generated from x-mcp");
    let schema = Value::Object((*watch.input_schema).clone());
    assert_eq!(schema["properties"]["timeout_seconds"]["maximum"], 3600);
    // The Last-Event-ID header, as an argument with an identifier's name.
    assert!(
        schema["properties"]["last_event_id"].is_object(),
        "{schema}"
    );
    assert!(
        schema["properties"].get("Last-Event-ID").is_none(),
        "{schema}"
    );
    assert!(watch.output_schema.is_some());

    let call = |name: &str, args: Value| {
        let mut params = CallToolRequestParams::new(name.to_owned());
        params = params.with_arguments(args.as_object().cloned().unwrap_or_default());
        params
    };
    let created = client
        .call_tool(call(
            "create_migration_job",
            json!({
                "source_config": {"type": "mysql", "url": "mysql://root@127.0.0.1:3306/watch_src"},
                "target_config": {"type": "postgresql", "url": "postgres://postgres@127.0.0.1:5432/watch_dst"},
                "started_by": "claude"
            }),
        ))
        .await
        .expect("call");
    let job_id = ok(&created)["id"].as_str().expect("id").to_owned();

    // A worker has started it and copied half.
    let pg = sqlx::PgPool::connect(&app.database_url).await.expect("db");
    let job = uuid::Uuid::parse_str(&job_id).expect("uuid");
    sqlx::query("UPDATE jobs SET status = 'running', started_at = now() - interval '5 seconds', rows_estimated = 100 WHERE id = $1")
        .bind(job)
        .execute(&pg)
        .await
        .expect("running");
    sqlx::query(
        "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, rows_read, rows_written)
         VALUES ($1, $2, $3, 0, 't', 'completed', 50, 50)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(job)
    .bind(TENANT)
    .execute(&pg)
    .await
    .expect("batch");

    // Still running when the timeout passes: the latest progress, and
    // notifications on the way, since the client gave a progress token.
    let mut params = call(
        "watch_migration_job",
        json!({"job_id": job_id, "timeout_seconds": 3}),
    );
    params.set_progress_token(ProgressToken(rmcp::model::NumberOrString::String(
        "watch-1".into(),
    )));
    let unfinished = client.call_tool(params).await.expect("call");
    let body = ok(&unfinished);
    assert_eq!(body["finished"], false, "{body}");
    assert_eq!(body["last_progress"]["percent"], 50.0, "{body}");
    let seen = recorder.0.lock().expect("lock").clone();
    assert!(!seen.is_empty(), "no progress notification");
    assert!(
        seen.iter()
            .all(|p| p.progress == 50.0 && p.total == Some(100.0)),
        "{seen:?}"
    );
    assert!(
        seen[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("50.0 %") && m.contains("rows written")),
        "{seen:?}"
    );

    // Finished while a watch is open: it returns the final job at once.
    let finish = {
        let pg = pg.clone();
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(800)).await;
            sqlx::query("UPDATE jobs SET status = 'completed', finished_at = now() WHERE id = $1")
                .bind(job)
                .execute(&pg)
                .await
                .expect("completed");
        }
    };
    recorder.0.lock().expect("lock").clear();
    let mut params = call(
        "watch_migration_job",
        json!({"job_id": job_id, "timeout_seconds": 60}),
    );
    params.set_progress_token(ProgressToken(rmcp::model::NumberOrString::String(
        "watch-2".into(),
    )));
    let (finished, ()) = tokio::join!(client.call_tool(params), finish);
    let body = ok(&finished.expect("call"));
    assert_eq!(body["finished"], true, "{body}");
    assert_eq!(body["result"]["id"], job_id);
    assert_eq!(body["result"]["status"], "completed");
    // The last progress seen while it ran comes with the result.
    assert_eq!(body["last_progress"]["percent"], 50.0, "{body}");
    // The last notification says it is done: progress == total.
    let seen = recorder.0.lock().expect("lock").clone();
    let last = seen.last().expect("progress notifications");
    assert_eq!(
        (last.progress, last.total),
        (100.0, Some(100.0)),
        "{seen:?}"
    );
    assert_eq!(
        last.message.as_deref(),
        Some("finished: completed"),
        "{seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0].progress <= w[1].progress),
        "progress never goes back: {seen:?}"
    );

    // A bad timeout is the caller's error; another tenant's job the API's 404.
    let bad = client
        .call_tool(call(
            "watch_migration_job",
            json!({"job_id": job_id, "timeout_seconds": 0}),
        ))
        .await
        .expect("call");
    assert_eq!(bad.is_error, Some(true));
    let foreign = client
        .call_tool(call(
            "watch_migration_job",
            json!({"job_id": "00000000-0000-4000-8000-000000000000", "timeout_seconds": 2}),
        ))
        .await
        .expect("call");
    assert_eq!(foreign.is_error, Some(true));
    // `last_event_id` goes out as the Last-Event-ID header: one beyond the
    // job's last change is the API's 400.
    let beyond = client
        .call_tool(call(
            "watch_migration_job",
            json!({"job_id": job_id, "last_event_id": "99999999", "timeout_seconds": 2}),
        ))
        .await
        .expect("call");
    assert_eq!(beyond.is_error, Some(true));
    let text = serde_json::to_string(&beyond.content).expect("content");
    assert!(text.contains("not an event of this job"), "{text}");
    client.cancel().await.expect("shutdown");
}
