//! Liveness and readiness.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use freight_core::store::Store;
use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::state::AppState;

const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(2);

/// A probe result younger than this is reused: however often `/ready` is
/// called, a process checks its dependencies at most once per second.
const PROBE_MAX_AGE: Duration = Duration::from_secs(1);

/// Liveness of the process.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: String,
    /// Freight version.
    pub version: String,
    /// Seconds since the process started.
    pub uptime_seconds: u64,
}

/// Whether this replica can serve traffic.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    /// Whether PostgreSQL answered.
    pub postgres: bool,
    /// Whether Redis answered.
    pub redis: bool,
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
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: state.started_at.elapsed().as_secs(),
    })
}

/// Whether each dependency answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependencies {
    pub postgres: bool,
    pub redis: bool,
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
    pub async fn check(&self, store: &dyn Store, redis: &redis::Client) -> Dependencies {
        let mut last = self.last.lock().await;
        if let Some((at, dependencies)) = *last
            && at.elapsed() < PROBE_MAX_AGE
        {
            return dependencies;
        }
        self.runs.fetch_add(1, Ordering::Relaxed);
        let (postgres, redis) = tokio::join!(
            async {
                matches!(
                    tokio::time::timeout(DEPENDENCY_TIMEOUT, store.ping()).await,
                    Ok(Ok(()))
                )
            },
            redis_answers(redis),
        );
        let dependencies = Dependencies { postgres, redis };
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
/// 200 only when PostgreSQL and Redis answer and the process is not
/// shutting down; 503 otherwise, with which dependency failed. Needs no
/// token and is not rate-limited. The dependency check is cached for one
/// second per process (concurrent calls share one check); the shutdown
/// state is always current.
#[utoipa::path(
    get, path = "/ready", operation_id = "readiness_check", tag = "health",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready", body = Readiness),
    )
)]
pub async fn readiness_check(State(state): State<AppState>) -> (StatusCode, axum::Json<Readiness>) {
    let Dependencies { postgres, redis } = state.dependencies().await;
    let shutting_down = state.is_shutting_down();
    let ready = postgres && redis && !shutting_down;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(Readiness {
            status: if ready { "ready" } else { "not_ready" }.into(),
            postgres,
            redis,
            shutting_down,
        }),
    )
}
