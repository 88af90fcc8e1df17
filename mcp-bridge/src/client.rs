//! The Freight API as seen by the bridge: one tool call → one HTTP request.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};
use rmcp::model::CallToolResult;
use serde_json::{Map, Value};

use crate::config::Secret;
use crate::generator::{StreamDef, ToolDef};
use crate::request::plan;
use crate::response::{ApiResponse, argument_error, to_result, unreachable_result};

const ACCEPTED: &str =
    "application/json, application/problem+json, text/csv, application/x-ndjson;q=0.9, */*;q=0.5";

/// Who a call acts as: resolved per call from the transport.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// Full `Authorization` header value (e.g. `Bearer eyJ…`).
    pub authorization: Option<Secret>,
    /// Tenant when the call has no tenant argument.
    pub tenant: Option<String>,
}

/// What `/health` said.
#[derive(Debug, Clone)]
pub struct Health {
    pub reachable: bool,
    pub status: Option<String>,
    pub version: Option<String>,
    pub error: Option<String>,
}

pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    text_budget: usize,
}

impl ApiClient {
    pub fn new(base: Url, timeout: Duration, text_budget: usize) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("freight-mcp/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ApiClient {
            http,
            base,
            text_budget,
        })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Run one generated tool. Failures are `isError` results, never protocol errors.
    pub async fn call(
        &self,
        def: &ToolDef,
        args: &Map<String, Value>,
        caller: &Caller,
    ) -> CallToolResult {
        let planned = match plan(def, &self.base, args) {
            Ok(planned) => planned,
            Err(message) => return argument_error(&message),
        };
        let request = match self.request(&planned, caller, ACCEPTED) {
            Ok(request) => request,
            Err(result) => return result,
        };
        tracing::debug!(tool = %def.name, method = %planned.method, url = %planned.url, "calling the API");
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return unreachable_result(self.base.as_str(), &describe(&e)),
        };
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE);
        let retry_after = header(RETRY_AFTER);
        let body = match response.text().await {
            Ok(body) => body,
            Err(e) => return unreachable_result(self.base.as_str(), &describe(&e)),
        };
        tracing::debug!(tool = %def.name, status, "API answered");
        to_result(
            def,
            &ApiResponse {
                status,
                content_type: content_type.as_deref(),
                retry_after: retry_after.as_deref(),
                body: &body,
                url: planned.url.as_str(),
            },
            self.text_budget,
        )
    }

    /// The HTTP request of a planned call, with the caller's credentials.
    fn request(
        &self,
        planned: &crate::request::PlannedRequest,
        caller: &Caller,
        accept: &'static str,
    ) -> Result<reqwest::RequestBuilder, CallToolResult> {
        let method = Method::from_bytes(planned.method.as_bytes()).unwrap_or(Method::GET);
        let mut request = self
            .http
            .request(method, planned.url.clone())
            .header(ACCEPT, accept);
        if let Some(auth) = &caller.authorization {
            match HeaderValue::from_str(auth.expose()) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    request = request.header(AUTHORIZATION, value);
                }
                Err(_) => {
                    return Err(argument_error(
                        "the Authorization value is not a valid HTTP header",
                    ));
                }
            }
        }
        if let Some(tenant) = planned.tenant.as_ref().or(caller.tenant.as_ref()) {
            match HeaderValue::from_str(tenant) {
                Ok(value) => request = request.header("x-tenant-id", value),
                Err(_) => return Err(argument_error("tenant_id is not a valid HTTP header value")),
            }
        }
        for (name, value) in &planned.headers {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => request = request.header(name, value),
                _ => {
                    return Err(argument_error(&format!(
                        "header argument `{name}` is not a valid HTTP header"
                    )));
                }
            }
        }
        if let Some(body) = &planned.body {
            request = request.json(body);
        }

        Ok(request)
    }

    /// Runs a stream-following tool (`def.stream`): opens the event stream,
    /// reports each progress event through `progress` (a 0-100 share and a
    /// line of text), and returns when the result event arrives or the
    /// tool's timeout argument passes.
    pub async fn watch(
        &self,
        def: &ToolDef,
        stream: &StreamDef,
        args: &Map<String, Value>,
        caller: &Caller,
        mut progress: impl FnMut(f64, String) + Send,
    ) -> CallToolResult {
        let seconds = match args.get(&stream.timeout_argument) {
            None | Some(Value::Null) => stream.default_timeout_seconds,
            Some(value) => match value.as_u64() {
                Some(n) if (1..=stream.max_timeout_seconds).contains(&n) => n,
                _ => {
                    return argument_error(&format!(
                        "`{}` must be a whole number of seconds, 1-{}",
                        stream.timeout_argument, stream.max_timeout_seconds
                    ));
                }
            },
        };
        let mut http_args = args.clone();
        http_args.remove(&stream.timeout_argument);
        let planned = match plan(def, &self.base, &http_args) {
            Ok(planned) => planned,
            Err(message) => return argument_error(&message),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        let request = match self.request(&planned, caller, "text/event-stream") {
            // The stream outlives the bridge's per-request timeout.
            Ok(request) => request.timeout(Duration::from_secs(seconds + 30)),
            Err(result) => return result,
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return unreachable_result(self.base.as_str(), &describe(&e)),
        };
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response.text().await.unwrap_or_default();
            return to_result(
                def,
                &ApiResponse {
                    status,
                    content_type: content_type.as_deref(),
                    retry_after: None,
                    body: &body,
                    url: planned.url.as_str(),
                },
                self.text_budget,
            );
        }
        let mut events = crate::sse::Reader::new(response.bytes_stream());
        let mut last_progress = Value::Null;
        loop {
            let next = tokio::time::timeout_at(deadline, events.next()).await;
            match next {
                Err(_) | Ok(None) => {
                    return CallToolResult::structured(serde_json::json!({
                        "finished": false,
                        "last_progress": last_progress,
                    }));
                }
                Ok(Some(Err(e))) => return unreachable_result(self.base.as_str(), &e),
                Ok(Some(Ok(event))) => {
                    if event.name == stream.result_event {
                        // Done: progress reaches its total, whatever the last
                        // progress event said (a job ends between two).
                        progress(100.0, finished_line(&event.data));
                        return CallToolResult::structured(serde_json::json!({
                            "finished": true,
                            "result": event.data,
                            "last_progress": last_progress,
                        }));
                    }
                    if stream.progress_event.as_deref() == Some(event.name.as_str()) {
                        let percent = stream
                            .percent_field
                            .as_deref()
                            .and_then(|f| event.data.get(f))
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0);
                        progress(percent, progress_line(&event.data, percent));
                        last_progress = event.data;
                    }
                }
            }
        }
    }

    /// `GET /health` (no credentials needed).
    pub async fn health(&self) -> Health {
        let joined = format!("{}/health", self.base.as_str().trim_end_matches('/'));
        let url = match Url::parse(&joined) {
            Ok(url) => url,
            Err(e) => return Health::down(e.to_string()),
        };
        let response = match self
            .http
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Health::down(describe(&e)),
        };
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        Health {
            reachable: true,
            status: field("status"),
            version: field("version"),
            error: (!status.is_success())
                .then(|| format!("GET /health answered HTTP {}", status.as_u16())),
        }
    }
}

impl Health {
    fn down(error: String) -> Self {
        Health {
            reachable: false,
            status: None,
            version: None,
            error: Some(error),
        }
    }
}

/// A short reason for a transport failure.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "request timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut root = None;
    while let Some(s) = source {
        root = Some(s.to_string());
        source = s.source();
    }
    match root {
        Some(root) => format!("{kind} ({root})"),
        None => kind.to_owned(),
    }
}

/// The line of the last progress notification: finished, and in what state.
fn finished_line(data: &Value) -> String {
    match data.get("status").and_then(Value::as_str) {
        Some(status) => format!("finished: {status}"),
        None => "finished".to_owned(),
    }
}

/// One line about a progress event: the share done and what else it says.
fn progress_line(data: &Value, percent: f64) -> String {
    let mut line = format!("{percent:.1} %");
    for (key, label) in [
        ("rows_written", "rows written"),
        ("rows_per_second", "rows/s"),
    ] {
        if let Some(n) = data.get(key).and_then(Value::as_f64) {
            line.push_str(&format!(", {} {label}", n.round()));
        }
    }
    line
}
