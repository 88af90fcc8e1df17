//! Liveness and readiness.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(2);

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
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn health_check(State(state): State<AppState>) -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: state.started_at.elapsed().as_secs(),
    })
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
/// token.
#[utoipa::path(
    get, path = "/ready", operation_id = "readiness_check", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready", body = Readiness),
    )
)]
pub async fn readiness_check(State(state): State<AppState>) -> (StatusCode, axum::Json<Readiness>) {
    let (postgres, redis) = tokio::join!(
        async {
            matches!(
                tokio::time::timeout(DEPENDENCY_TIMEOUT, state.store.ping()).await,
                Ok(Ok(()))
            )
        },
        redis_answers(&state.redis),
    );
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
