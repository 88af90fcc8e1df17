//! Request limits shared by every API replica through Redis.
//!
//! A fixed one-minute window per (scope, caller), counted with one atomic
//! Lua script (INCR + EXPIRE), so replicas agree without coordination; the
//! embedded mode (`freight dev`, one process, no Redis) counts the same
//! windows in memory. The
//! caller is the verified identity: the tenant a valid token grants, or the
//! subject of a valid admin token sent without `X-Tenant-ID`. Everything
//! else (no token, a bad one, a tenant the token does not grant) is counted
//! per client address (the TCP peer; `X-Forwarded-For` is not trusted) in
//! its own `anonymous` scope, so bad tokens cannot buy unlimited requests
//! and cannot spend a tenant's budget either. Job creation has its own,
//! tighter scope. `/health` and `/ready` are not counted: orchestrators and
//! load balancers probe them from few addresses, a 429 there would take a
//! healthy replica out of rotation, and both are cheap (`/ready` answers
//! from a probe cached for a second).
//!
//! Keys are `{namespace}:ratelimit:{scope}:{window}:{caller}`, the namespace
//! being the installation's queue name, so installations sharing a Redis
//! count separately. When Redis cannot be reached the limiter fails open:
//! refusing every request because the dispatcher is down would turn a
//! Redis outage into an API outage.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::OnceCell;

use freight_core::TenantId;
use freight_core::tokens::Role;

use crate::auth::{TENANT_HEADER, bearer_token};
use crate::error::ApiError;
use crate::state::AppState;

const WINDOW_SECONDS: u64 = 60;
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

const COUNT_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n";

/// Defaults of [`RateLimits`], written once (the process settings use
/// them too).
pub mod defaults {
    pub const REQUESTS_PER_MINUTE: u32 = 600;
    pub const CREATES_PER_MINUTE: u32 = 60;
    pub const ANONYMOUS_PER_MINUTE: u32 = 120;
}

/// Requests per minute; 0 turns a limit off.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Per tenant (or admin subject), all requests.
    pub requests_per_minute: u32,
    /// Per tenant, job creations.
    pub creates_per_minute: u32,
    /// Per client address, requests without a verified identity.
    pub anonymous_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            requests_per_minute: defaults::REQUESTS_PER_MINUTE,
            creates_per_minute: defaults::CREATES_PER_MINUTE,
            anonymous_per_minute: defaults::ANONYMOUS_PER_MINUTE,
        }
    }
}

pub struct RateLimiter {
    limits: RateLimits,
    counter: WindowCounter,
}

/// Where the requests of a window are counted.
#[expect(
    clippy::large_enum_variant,
    reason = "one per process, held behind an Arc"
)]
pub enum WindowCounter {
    /// Shared by every replica of an installation.
    Redis {
        namespace: String,
        client: redis::Client,
        connection: OnceCell<redis::aio::ConnectionManager>,
        script: redis::Script,
    },
    /// One process is the whole installation: counts by key for the
    /// current window only (older windows are dropped as time moves on).
    InProcess(Mutex<InProcessWindow>),
}

#[derive(Default)]
pub struct InProcessWindow {
    window: u64,
    counts: HashMap<String, u64>,
}

impl WindowCounter {
    /// Counts in `client`'s Redis under `namespace` (the installation's
    /// queue name).
    pub fn redis(client: redis::Client, namespace: &str) -> Self {
        Self::Redis {
            namespace: namespace.to_owned(),
            client,
            connection: OnceCell::new(),
            script: redis::Script::new(COUNT_SCRIPT),
        }
    }

    pub fn in_process() -> Self {
        Self::InProcess(Mutex::new(InProcessWindow::default()))
    }

    fn key(&self, scope: &str, window: u64, caller: &Caller) -> String {
        match self {
            Self::Redis { namespace, .. } => {
                format!("{namespace}:ratelimit:{scope}:{window}:{caller}")
            }
            Self::InProcess(_) => format!("{scope}:{caller}"),
        }
    }

    /// Adds one request to `key` in `window` and returns the window's count.
    async fn count(&self, key: &str, window: u64) -> Result<u64, redis::RedisError> {
        match self {
            Self::Redis {
                client,
                connection,
                script,
                ..
            } => {
                let connection = connection
                    .get_or_try_init(|| redis::aio::ConnectionManager::new(client.clone()))
                    .await?;
                let mut connection = connection.clone();
                script
                    .key(key)
                    .arg(WINDOW_SECONDS * 2)
                    .invoke_async(&mut connection)
                    .await
            }
            Self::InProcess(state) => {
                // A poisoned lock only means another request panicked while
                // counting; the counts themselves are still usable.
                let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.window != window {
                    state.window = window;
                    state.counts.clear();
                }
                let count = state.counts.entry(key.to_owned()).or_default();
                *count += 1;
                Ok(*count)
            }
        }
    }
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
    pub fn new(limits: RateLimits, counter: WindowCounter) -> Self {
        Self { limits, counter }
    }

    /// Counts one request of `caller` in `scope`; `None` when Redis did not
    /// answer (fail open).
    async fn check(&self, caller: &Caller, scope: &str, limit: u32) -> Option<Decision> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let window = now / WINDOW_SECONDS;
        let key = self.counter.key(scope, window, caller);
        match tokio::time::timeout(REDIS_TIMEOUT, self.counter.count(&key, window)).await {
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

/// Who a request is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Caller {
    /// A valid token granting the `X-Tenant-ID` it is sent with.
    Tenant(TenantId),
    /// A valid admin token sent without `X-Tenant-ID` (admin routes).
    Admin(String),
    /// Anything else, by client address (IPv6 by its /64, which one host
    /// usually holds whole).
    Anonymous(IpAddr),
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The variable part comes last, so no caller's key is another's.
        match self {
            Self::Tenant(tenant) => write!(f, "tenant:{tenant}"),
            Self::Admin(subject) => write!(f, "admin:{subject}"),
            Self::Anonymous(ip) => write!(f, "ip:{ip}"),
        }
    }
}

impl Caller {
    fn of(state: &AppState, request: &Request) -> Option<Self> {
        if let Some(verified) = verified_caller(state, request.headers()) {
            return Some(verified);
        }
        let ConnectInfo(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>()?;
        Some(Self::Anonymous(address_bucket(peer.ip())))
    }
}

/// The identity a valid token proves, exactly as the extractors in
/// [`crate::auth`] would accept it.
fn verified_caller(state: &AppState, headers: &HeaderMap) -> Option<Caller> {
    let claims = state.tokens.verify(bearer_token(headers).ok()?).ok()?;
    match headers.get(TENANT_HEADER) {
        Some(tenant) => {
            let tenant = TenantId::parse(tenant.to_str().ok()?).ok()?;
            claims
                .grants(tenant.as_str())
                .then_some(Caller::Tenant(tenant))
        }
        None if claims.role == Role::Admin => Some(Caller::Admin(claims.sub)),
        None => None,
    }
}

fn address_bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

/// Paths never counted: probes (see the module documentation).
fn is_exempt(path: &str) -> bool {
    matches!(path, "/health" | "/ready")
}

/// Middleware: counts the request against its caller's limits (see the
/// module documentation).
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limiter) = state.rate_limiter.as_deref() else {
        return next.run(request).await;
    };
    if is_exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let Some(caller) = Caller::of(&state, &request) else {
        // Served without connection info: nothing to key on.
        return next.run(request).await;
    };
    let limits = limiter.limits;
    let checks = match caller {
        Caller::Anonymous(_) => vec![("anonymous", limits.anonymous_per_minute)],
        Caller::Admin(_) => vec![("requests", limits.requests_per_minute)],
        Caller::Tenant(_) => {
            let is_create =
                request.method() == Method::POST && request.uri().path() == "/api/v1/jobs";
            let mut checks = vec![("requests", limits.requests_per_minute)];
            if is_create {
                checks.push(("create_job", limits.creates_per_minute));
            }
            checks
        }
    };
    let mut tightest: Option<Decision> = None;
    for (scope, limit) in checks.into_iter().filter(|(_, limit)| *limit > 0) {
        let Some(decision) = limiter.check(&caller, scope, limit).await else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_callers_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("address");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("address");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("address");
        assert_eq!(address_bucket(a), address_bucket(b));
        assert_ne!(address_bucket(a), address_bucket(other));
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().expect("address");
        assert_eq!(address_bucket(mapped), IpAddr::from([10, 1, 2, 3]));
    }
}
