//! Liveness and readiness.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use freight_core::store::{Store, StoreBackend};
use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::state::AppState;

const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(2);

/// A probe result younger than this is reused: however often `/ready` is
/// called, a process checks its dependencies at most once per second.
const PROBE_MAX_AGE: Duration = Duration::from_secs(1);

/// `status` of `health_check`: the process answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
}

/// Liveness of the process.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: HealthStatus,
    /// Freight version.
    pub version: String,
    /// Seconds since the process started.
    pub uptime_seconds: u64,
}

/// `status` of `readiness_check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStatus {
    /// Every dependency answered and the process is not shutting down (200).
    Ready,
    /// A dependency failed or the process is shutting down (503).
    NotReady,
}

/// Whether this replica can serve traffic.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` (200) or `not_ready` (503).
    pub status: ReadinessStatus,
    /// Whether PostgreSQL (the system of record) answered; `null` when the
    /// installation keeps its records in SQLite (`freight dev`).
    pub postgres: Option<bool>,
    /// Whether the SQLite system of record answered (`freight dev`); `null`
    /// when the installation uses PostgreSQL.
    pub sqlite: Option<bool>,
    /// Whether Redis answered; `null` when batches are dispatched in process
    /// (`freight dev`).
    pub redis: Option<bool>,
    /// Whether the process is shutting down.
    pub shutting_down: bool,
}

/// Check liveness
///
/// Answers whenever the process is up, with its version and uptime; needs
/// no token. Use `/ready` to know whether its databases answer.
#[utoipa::path(
    get, path = "/health", operation_id = "health_check", tag = "health",
    security(()),
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn health_check(State(state): State<AppState>) -> axum::Json<Health> {
    axum::Json(Health {
        status: HealthStatus::Ok,
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: state.started_at.elapsed().as_secs(),
    })
}

/// Whether each dependency answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependencies {
    pub store: StoreBackend,
    /// Whether the store answered.
    pub store_ok: bool,
    /// Whether Redis answered; `None` when there is none.
    pub redis: Option<bool>,
}

impl Dependencies {
    pub fn all_ok(&self) -> bool {
        self.store_ok && self.redis.unwrap_or(true)
    }
}

/// The last dependency probe and when it finished. The lock is held while
/// a probe runs, so callers arriving meanwhile wait for it and share its
/// result instead of starting their own.
#[derive(Debug, Default)]
pub struct DependencyProbe {
    last: Mutex<Option<(Instant, Dependencies)>>,
    runs: AtomicU64,
}

impl DependencyProbe {
    pub async fn check(&self, store: &dyn Store, redis: Option<&redis::Client>) -> Dependencies {
        let mut last = self.last.lock().await;
        if let Some((at, dependencies)) = *last
            && at.elapsed() < PROBE_MAX_AGE
        {
            return dependencies;
        }
        self.runs.fetch_add(1, Ordering::Relaxed);
        let (store_ok, redis) = tokio::join!(
            async {
                matches!(
                    tokio::time::timeout(DEPENDENCY_TIMEOUT, store.ping()).await,
                    Ok(Ok(()))
                )
            },
            async {
                match redis {
                    Some(client) => Some(redis_answers(client).await),
                    None => None,
                }
            },
        );
        let dependencies = Dependencies {
            store: store.backend(),
            store_ok,
            redis,
        };
        *last = Some((Instant::now(), dependencies));
        dependencies
    }

    /// Probes run so far.
    pub fn probes_run(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }
}

async fn redis_answers(client: &redis::Client) -> bool {
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    matches!(
        tokio::time::timeout(DEPENDENCY_TIMEOUT, ping).await,
        Ok(Ok(_))
    )
}

/// Check readiness
///
/// 200 only when the system of record (PostgreSQL, or SQLite in
/// `freight dev`) and Redis (when used) answer and the process is not
/// shutting down; 503 otherwise, with which dependency failed. Needs no
/// token and is not rate-limited. The dependency check is cached for one
/// second per process (concurrent calls share one check); the shutdown
/// state is always current.
#[utoipa::path(
    get, path = "/ready", operation_id = "readiness_check", tag = "health",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready. Unlike other 5xx answers this one is not a Problem: load balancers and operators need to see which dependency failed, so it says which (true/false per dependency, never driver text or addresses)", body = Readiness),
    )
)]
pub async fn readiness_check(State(state): State<AppState>) -> (StatusCode, axum::Json<Readiness>) {
    let dependencies = state.dependencies().await;
    let shutting_down = state.is_shutting_down();
    let ready = dependencies.all_ok() && !shutting_down;
    let store_ok = Some(dependencies.store_ok);
    let (postgres, sqlite) = match dependencies.store {
        StoreBackend::Postgres => (store_ok, None),
        StoreBackend::Sqlite => (None, store_ok),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(Readiness {
            status: if ready {
                ReadinessStatus::Ready
            } else {
                ReadinessStatus::NotReady
            },
            postgres,
            sqlite,
            redis: dependencies.redis,
            shutting_down,
        }),
    )
}
