//! Test harness: the real router on port 0 against a fresh PostgreSQL
//! database per test, so tests run in parallel without sharing state.

use std::sync::Arc;

use freight_core::plan::Planner;
use freight_core::secrets::SecretBox;
use freight_core::store::postgres::PgStore;
use freight_core::tokens::{Role, TokenKeys};

use crate::state::AppState;

pub const TEST_JWT_SECRET: &str = "freight-test-secret-0123456789";

/// Base URL of the test PostgreSQL server (`FREIGHT_TEST_PG`, default local).
pub fn postgres_server_url() -> String {
    std::env::var("FREIGHT_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn redis_url() -> String {
    std::env::var("FREIGHT_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Creates an empty database with a unique name and returns its URL.
pub async fn fresh_database(prefix: &str) -> String {
    use sqlx::Connection;
    let server = postgres_server_url();
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("test PostgreSQL reachable");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    format!("{server}/{name}")
}

pub struct TestApp {
    pub base_url: String,
    pub database_url: String,
    pub redis_url: String,
    pub store: Arc<PgStore>,
    pub state: AppState,
    /// Namespace of this app's rate-limit counters, unique per test, so
    /// tests sharing the local Redis (and the client address 127.0.0.1)
    /// never share counters.
    pub rate_limit_namespace: String,
    tokens: TokenKeys,
}

impl TestApp {
    /// A token granting `tenants` with `role` (`engineer` or `admin`).
    pub fn token(&self, tenants: &[&str], role: &str) -> String {
        let role: Role = role.parse().expect("engineer or admin");
        let tenants: Vec<String> = tenants.iter().map(|t| (*t).to_owned()).collect();
        self.tokens
            .mint("test-user", &tenants, role, chrono::Duration::hours(1))
            .expect("mint token")
    }

    pub fn tokens(&self) -> &TokenKeys {
        &self.tokens
    }
}

/// Starts the API with the engine's real planner.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Arc::new(freight_worker::engine::EnginePlanner::new(
        freight_worker::engine::Engine::new(
            freight_core::policy::ConnectionPolicy::for_local_user(),
        ),
    )))
    .await
}

/// Starts the API with the given planner.
pub async fn spawn_app_with(planner: Arc<dyn Planner>) -> TestApp {
    spawn_app_with_limits(planner, None).await
}

/// Starts the API with the given planner and, optionally, rate limits.
pub async fn spawn_app_with_limits(
    planner: Arc<dyn Planner>,
    limits: Option<crate::rate_limit::RateLimits>,
) -> TestApp {
    spawn_app_built(limits, None, async |_store: &Arc<PgStore>| planner).await
}

/// Starts the API with a planner made once its own database exists (a
/// connection policy that refuses that database needs its identity).
pub async fn spawn_app_built(
    limits: Option<crate::rate_limit::RateLimits>,
    plan_limits: Option<crate::plan_slots::PlanLimits>,
    make_planner: impl AsyncFnOnce(&Arc<PgStore>) -> Arc<dyn Planner>,
) -> TestApp {
    let database_url = fresh_database("freight_test").await;
    let secrets = SecretBox::from_key_material(TEST_JWT_SECRET);
    let store = Arc::new(
        PgStore::connect(&database_url, 5, secrets)
            .await
            .expect("connect"),
    );
    store.migrate().await.expect("migrate");
    let planner = make_planner(&store).await;
    let tokens = TokenKeys::new(TEST_JWT_SECRET);
    let redis_url = redis_url();
    let redis = redis::Client::open(redis_url.as_str()).expect("redis url");
    let rate_limit_namespace = format!("freight-test:{}", uuid::Uuid::new_v4().simple());
    // Like `freight api`: webhook URLs may not reach the installation's Redis.
    let redis_addresses: Vec<std::net::SocketAddr> = match url::Url::parse(&redis_url) {
        Ok(url) => tokio::net::lookup_host((
            url.host_str().unwrap_or("127.0.0.1").to_owned(),
            url.port().unwrap_or(6379),
        ))
        .await
        .map(Iterator::collect)
        .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let mut state = AppState::new(store.clone(), planner, tokens.clone(), redis)
        .with_connection_policy(
            freight_core::policy::ConnectionPolicy::for_tenants().protect_endpoint(redis_addresses),
        );
    if let Some(limits) = limits {
        state = state.with_rate_limits(limits, &rate_limit_namespace);
    }
    if let Some(plan_limits) = plan_limits {
        state = state.with_plan_limits(plan_limits);
    }
    let base_url = serve_state(state.clone()).await;
    TestApp {
        base_url,
        database_url,
        redis_url,
        store,
        state,
        rate_limit_namespace,
        tokens,
    }
}

/// Serves the complete application over `state` on a free local port, with
/// connection info (client addresses), until the test's runtime ends;
/// returns its base URL.
pub async fn serve_state(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = crate::serve(
            listener,
            state,
            std::future::pending(),
            std::time::Duration::from_secs(1),
        )
        .await;
    });
    format!("http://{addr}")
}
