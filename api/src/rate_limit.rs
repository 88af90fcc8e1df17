//! Per-tenant request limits shared by every API replica through Redis.
//!
//! A fixed one-minute window per (tenant, scope), counted with one atomic
//! Lua script (INCR + EXPIRE), so replicas agree without coordination. Job
//! creation has its own, tighter scope. When Redis cannot be reached the
//! limiter fails open: refusing every request because the dispatcher is
//! down would turn a Redis outage into an API outage.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::OnceCell;

use crate::auth::TENANT_HEADER;
use crate::error::ApiError;
use crate::state::AppState;

const WINDOW_SECONDS: u64 = 60;
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

const COUNT_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n";

/// Requests per minute per tenant; 0 turns a limit off.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub requests_per_minute: u32,
    pub creates_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            requests_per_minute: 600,
            creates_per_minute: 60,
        }
    }
}

pub struct RateLimiter {
    limits: RateLimits,
    client: redis::Client,
    connection: OnceCell<redis::aio::ConnectionManager>,
    script: redis::Script,
}

/// What one check decided.
#[derive(Debug, Clone, Copy)]
struct Decision {
    limit: u32,
    remaining: u32,
    reset_seconds: u64,
    allowed: bool,
}

impl RateLimiter {
    pub fn new(limits: RateLimits, client: redis::Client) -> Self {
        Self {
            limits,
            client,
            connection: OnceCell::new(),
            script: redis::Script::new(COUNT_SCRIPT),
        }
    }

    async fn count(&self, key: &str) -> Result<u64, redis::RedisError> {
        let connection = self
            .connection
            .get_or_try_init(|| redis::aio::ConnectionManager::new(self.client.clone()))
            .await?;
        let mut connection = connection.clone();
        self.script
            .key(key)
            .arg(WINDOW_SECONDS * 2)
            .invoke_async(&mut connection)
            .await
    }

    async fn check(&self, tenant: &str, scope: &str, limit: u32) -> Option<Decision> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let window = now / WINDOW_SECONDS;
        let key = format!("freight:ratelimit:{scope}:{tenant}:{window}");
        match tokio::time::timeout(REDIS_TIMEOUT, self.count(&key)).await {
            Ok(Ok(count)) => Some(Decision {
                limit,
                remaining: u32::try_from(u64::from(limit).saturating_sub(count)).unwrap_or(0),
                reset_seconds: WINDOW_SECONDS - now % WINDOW_SECONDS,
                allowed: count <= u64::from(limit),
            }),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "rate limiter: Redis error, allowing request");
                None
            }
            Err(_) => {
                tracing::warn!("rate limiter: Redis timed out, allowing request");
                None
            }
        }
    }
}

fn set_headers(headers: &mut HeaderMap, decision: &Decision) {
    let pairs = [
        ("ratelimit-limit", decision.limit.to_string()),
        ("ratelimit-remaining", decision.remaining.to_string()),
        ("ratelimit-reset", decision.reset_seconds.to_string()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// Middleware: counts the request against its tenant's limits. Only
/// requests whose token grants the tenant they name are counted, so nobody
/// can spend another tenant's budget; the rest are left to the handler's
/// 400/401/403.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limiter) = state.rate_limiter.as_deref() else {
        return next.run(request).await;
    };
    let Some(tenant) = authenticated_tenant(&state, request.headers()) else {
        return next.run(request).await;
    };
    let is_create = request.method() == Method::POST && request.uri().path() == "/api/v1/jobs";
    let mut checks = vec![("requests", limiter.limits.requests_per_minute)];
    if is_create {
        checks.push(("create_job", limiter.limits.creates_per_minute));
    }
    let mut tightest: Option<Decision> = None;
    for (scope, limit) in checks.into_iter().filter(|(_, limit)| *limit > 0) {
        let Some(decision) = limiter.check(&tenant, scope, limit).await else {
            continue;
        };
        if !decision.allowed {
            metrics::counter!("freight_rate_limited_requests_total", "scope" => scope).increment(1);
            let mut response = ApiError::RateLimited {
                retry_after_seconds: decision.reset_seconds,
            }
            .into_response();
            set_headers(response.headers_mut(), &decision);
            if let Ok(value) = HeaderValue::from_str(&decision.reset_seconds.to_string()) {
                response.headers_mut().insert("retry-after", value);
            }
            return response;
        }
        if tightest.is_none_or(|t| decision.remaining < t.remaining) {
            tightest = Some(decision);
        }
    }
    let mut response = next.run(request).await;
    if let Some(decision) = tightest {
        set_headers(response.headers_mut(), &decision);
    }
    response
}

fn authenticated_tenant(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let tenant = headers.get(TENANT_HEADER)?.to_str().ok()?;
    let tenant = freight_core::TenantId::parse(tenant).ok()?;
    let claims = state.tokens.verify(token.trim()).ok()?;
    claims.grants(tenant.as_str()).then(|| tenant.to_string())
}
