//! The MCP side: an rmcp `ServerHandler` over the tool table, and its transports.

use std::sync::{Arc, Mutex};

use std::time::Duration;

use anyhow::Context as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
    RequestParamsMeta, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::client::{ApiClient, Caller};
use crate::config::{Config, Secret, Transport};
use crate::generator::BRIDGE_STATUS_TOOL;
use crate::tools::ToolTable;

/// State shared by every session of one bridge process.
pub struct Shared {
    pub table: ToolTable,
    pub api: ApiClient,
    pub transport: Transport,
    /// `FREIGHT_API_KEY`, used over stdio only.
    pub api_key: Option<Secret>,
    /// `FREIGHT_TENANT_ID`.
    pub default_tenant: Option<String>,
}

impl Shared {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let table = ToolTable::embedded().context("the embedded tool table is corrupt")?;
        let api = ApiClient::new(config.api_url.clone(), config.timeout(), config.text_budget)
            .context("cannot build the HTTP client")?;
        Ok(Shared {
            table,
            api,
            transport: config.transport,
            api_key: config.api_key.clone(),
            default_tenant: config.tenant_id.clone(),
        })
    }
}

/// One MCP session. Over http each session has its own `last_error`, so one
/// user never sees another's errors.
#[derive(Clone)]
pub struct Bridge {
    shared: Arc<Shared>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl Bridge {
    pub fn new(shared: Arc<Shared>) -> Self {
        Bridge {
            shared,
            last_error: Arc::new(Mutex::new(None)),
        }
    }

    /// Credentials and tenant for a request: env over stdio, the incoming
    /// HTTP request's headers over http (the env key is never used there).
    fn caller(&self, context: &RequestContext<RoleServer>) -> Caller {
        let header = |name: &str| {
            context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.headers.get(name))
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        match self.shared.transport {
            Transport::Stdio => Caller {
                authorization: self.shared.api_key.as_ref().map(|key| bearer(key.expose())),
                tenant: self.shared.default_tenant.clone(),
            },
            Transport::Http => Caller {
                authorization: header("authorization").map(Secret::new),
                tenant: header("x-tenant-id").or_else(|| self.shared.default_tenant.clone()),
            },
        }
    }

    fn remember(&self, result: &CallToolResult, tool: &str) {
        if result.is_error != Some(true) {
            return;
        }
        let first_line = result
            .content
            .first()
            .and_then(ContentBlock::as_text)
            .and_then(|t| t.text.lines().next())
            .unwrap_or("error")
            .to_owned();
        tracing::warn!(tool, error = %first_line, "tool call failed");
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(format!("{tool}: {first_line}"));
        }
    }

    async fn bridge_status(&self, caller: &Caller) -> CallToolResult {
        let health = self.shared.api.health().await;
        let last_error = self
            .last_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .or_else(|| health.error.clone().map(|e| format!("health check: {e}")));
        CallToolResult::structured(json!({
            "api_url": self.shared.api.base().as_str(),
            "reachable": health.reachable,
            "api_status": health.status,
            "api_version": health.version,
            "bridge_version": env!("CARGO_PKG_VERSION"),
            "transport": self.shared.transport.as_str(),
            "tenant_id": caller.tenant,
            "token_present": caller.authorization.is_some(),
            "tool_count": self.shared.table.tools().len(),
            "last_error": last_error,
        }))
    }
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("freight-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("Freight migration control"),
            )
            .with_instructions(
                "Tools for Freight, a database migration service: create, plan, list, inspect, \
                 cancel, retry and validate migration jobs, watch them until they finish \
                 (watch_migration_job, with progress notifications), read and export their logs, \
                 manage webhooks, and see statistics and workers. Every tool takes an optional \
                 tenant_id. Call bridge_status when calls fail.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(
            self.shared.table.tools().to_vec(),
        ))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.shared.table.tool(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = self.caller(&context);
        let name = request.name.as_ref();
        if name == BRIDGE_STATUS_TOOL {
            return Ok(self.bridge_status(&caller).await.into());
        }
        let Some(def) = self.shared.table.def(name) else {
            return Err(McpError::invalid_params(
                format!("unknown tool `{name}`"),
                None,
            ));
        };
        // rmcp moves a request's `_meta` into the context.
        let progress_token = request
            .progress_token()
            .or_else(|| context.meta.get_progress_token());
        let args: Map<String, Value> = request.arguments.unwrap_or_default();
        let call = async {
            match &def.stream {
                Some(stream) => {
                    let (progress, sent) = progress_forwarder(progress_token, context.peer.clone());
                    let result = self
                        .shared
                        .api
                        .watch(def, stream, &args, &caller, progress)
                        .await;
                    // Progress first, then the result it led to.
                    if let Some(sent) = sent {
                        let _ = tokio::time::timeout(Duration::from_secs(2), sent).await;
                    }
                    result
                }
                None => self.shared.api.call(def, &args, &caller).await,
            }
        };
        let result = tokio::select! {
            result = call => result,
            () = context.ct.cancelled() => {
                CallToolResult::error(vec![ContentBlock::text("cancelled by the client")])
            }
        };
        self.remember(&result, name);
        Ok(result.into())
    }
}

/// `Authorization` value for an API key given with or without the scheme.
fn bearer(key: &str) -> Secret {
    let key = key.trim();
    if key.len() > 7 && key[..7].eq_ignore_ascii_case("bearer ") {
        Secret::new(key)
    } else {
        Secret::new(format!("Bearer {key}"))
    }
}

/// Serve one client over stdin/stdout until it disconnects.
pub async fn serve_stdio(shared: Arc<Shared>) -> anyhow::Result<()> {
    let running = Bridge::new(shared)
        .serve(rmcp::transport::stdio())
        .await
        .context("MCP handshake over stdio failed")?;
    running.waiting().await.context("stdio session crashed")?;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serve Streamable HTTP at `/mcp` until Ctrl-C or SIGTERM.
pub async fn serve_http(shared: Arc<Shared>, config: &Config) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let mut http_config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(config.allowed_hosts.clone())
        .with_cancellation_token(shutdown.child_token());
    if !config.allowed_origins.is_empty() {
        http_config = http_config.with_allowed_origins(config.allowed_origins.clone());
    }
    let service = StreamableHttpService::new(
        move || Ok(Bridge::new(shared.clone())),
        Arc::new(LocalSessionManager::default()),
        http_config,
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "Streamable HTTP MCP endpoint ready");
    // A fixed line for scripts and tests (port 0 picks a free port).
    eprintln!("freight-mcp listening on http://{addr}/mcp");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            // Ends open MCP sessions (and their SSE streams) so the server can stop.
            shutdown.cancel();
        })
        .await
        .context("HTTP server failed")?;
    Ok(())
}

/// Sends a stream tool's progress as MCP `notifications/progress` when the
/// client gave a progress token (and ignores it otherwise). Notifications
/// go out in order from one task, so the tool never waits for the client;
/// the task ends once the callback is dropped and all are sent.
fn progress_forwarder(
    token: Option<ProgressToken>,
    peer: Peer<RoleServer>,
) -> (
    impl FnMut(f64, String) + Send,
    Option<tokio::task::JoinHandle<()>>,
) {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(f64, String)>();
    let task = token.map(|token| {
        tokio::spawn(async move {
            while let Some((percent, line)) = receiver.recv().await {
                let note = ProgressNotificationParam::new(token.clone(), percent)
                    .with_total(100.0)
                    .with_message(line);
                if peer.notify_progress(note).await.is_err() {
                    break;
                }
            }
        })
    });
    let progress = move |percent, line| {
        let _ = sender.send((percent, line));
    };
    (progress, task)
}
