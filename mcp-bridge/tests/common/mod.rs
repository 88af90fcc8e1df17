//! Helpers shared by the integration tests: start the built `freight-mcp`
//! binary over stdio or Streamable HTTP and talk to it with an rmcp client.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::collections::{BTreeSet, HashMap};
use std::process::Stdio;

use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub type Client = RunningService<RoleClient, ()>;

pub const BIN: &str = env!("CARGO_BIN_EXE_freight-mcp");

/// The operationIds of the spec the binary was built from (minus `x-mcp.hidden`).
pub fn spec_operation_ids() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/freight.json");
    let text = std::fs::read_to_string(path).expect("spec readable");
    let spec: Value = serde_json::from_str(&text).expect("spec is JSON");
    let mut ids = BTreeSet::new();
    for item in spec["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("path item").values() {
            if op["x-mcp"]["hidden"] == Value::Bool(true) {
                continue;
            }
            if let Some(id) = op
                .get("x-mcp")
                .and_then(|x| x.get("name"))
                .or_else(|| op.get("operationId"))
                .and_then(Value::as_str)
            {
                ids.insert(id.to_owned());
            }
        }
    }
    ids
}

/// Start the bridge over stdio with exactly these environment variables (plus PATH).
pub async fn stdio_bridge(env: &[(&str, &str)]) -> Client {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let command = Command::new(BIN).configure(|cmd| {
        cmd.env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.env("RUST_LOG", "warn");
        for (k, v) in &env {
            cmd.env(k, v);
        }
    });
    let (transport, _stderr) = TokioChildProcess::builder(command)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("bridge starts");
    ().serve(transport).await.expect("MCP handshake over stdio")
}

/// A bridge serving Streamable HTTP on a free port; killed on drop.
pub struct HttpBridge {
    pub url: String,
    _child: Child,
}

/// Start the bridge with `--transport http --port 0`; waits for its "listening" line.
pub async fn http_bridge(api_url: &str, extra_env: &[(&str, &str)]) -> HttpBridge {
    let mut cmd = Command::new(BIN);
    cmd.args(["--transport", "http", "--host", "127.0.0.1", "--port", "0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("FREIGHT_API_URL", api_url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("bridge starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines
            .next_line()
            .await
            .expect("read bridge stderr")
            .expect("bridge exited before listening");
        eprintln!("[bridge] {line}");
        if let Some(url) = line.strip_prefix("freight-mcp listening on ") {
            break url.trim().to_owned();
        }
    };
    // Keep draining stderr so the bridge never blocks on a full pipe.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[bridge] {line}");
        }
    });
    HttpBridge { url, _child: child }
}

/// An MCP client over Streamable HTTP, sending these credentials on every request.
pub async fn http_client(url: &str, token: Option<&str>, tenant: Option<&str>) -> Client {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    if let Some(tenant) = tenant {
        let mut headers = HashMap::new();
        headers.insert(
            http::HeaderName::from_static("x-tenant-id"),
            http::HeaderValue::from_str(tenant).expect("header value"),
        );
        config = config.custom_headers(headers);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    ().serve(transport).await.expect("MCP handshake over HTTP")
}

pub async fn tool_names(client: &Client) -> BTreeSet<String> {
    client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.into_owned())
        .collect()
}

pub fn args(value: Value) -> JsonObject {
    value.as_object().cloned().expect("arguments are an object")
}

/// Call a tool; protocol errors fail the test, tool errors are returned.
pub async fn call(client: &Client, name: &str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args(arguments)))
        .await
        .unwrap_or_else(|e| panic!("tools/call {name} failed at the protocol level: {e}"))
}

pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Structured content of a successful call (fails the test on an error result).
pub fn ok(result: &CallToolResult) -> Value {
    assert_ne!(
        result.is_error,
        Some(true),
        "tool call failed: {}",
        text(result)
    );
    result
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("no structured content: {}", text(result)))
}

/// Text of an error result (fails the test on success).
pub fn err(result: &CallToolResult) -> String {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected an error, got {}",
        text(result)
    );
    text(result)
}
