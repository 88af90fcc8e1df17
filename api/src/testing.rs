//! Test harness: the real router on port 0 against a fresh database per
//! test (a PostgreSQL database, or a SQLite file of its own: see
//! [`Backend`]), so tests run in parallel without sharing state.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use freight_core::plan::Planner;
use freight_core::secrets::SecretBox;
use freight_core::store::Store;
use freight_core::store::postgres::PgStore;
use freight_core::store::sqlite::SqliteStore;
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

/// Which implementation of the store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    /// `freight dev`'s store: a SQLite file in a directory of the test's own.
    Sqlite,
}

/// The store of a test app; derefs to the [`Store`] trait.
#[derive(Clone)]
pub enum TestStore {
    Postgres(Arc<PgStore>),
    Sqlite(Arc<SqliteStore>),
}

impl TestStore {
    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub fn secrets(&self) -> &SecretBox {
        match self {
            Self::Postgres(store) => store.secrets(),
            Self::Sqlite(store) => store.secrets(),
        }
    }

    pub async fn migrate(&self) -> Result<(), freight_core::StoreError> {
        match self {
            Self::Postgres(store) => store.migrate().await,
            Self::Sqlite(store) => store.migrate().await,
        }
    }

    /// The PostgreSQL store, for tests of what only PostgreSQL has.
    pub fn postgres(&self) -> &Arc<PgStore> {
        match self {
            Self::Postgres(store) => store,
            Self::Sqlite(_) => panic!("this test runs on PostgreSQL only"),
        }
    }

    /// The SQLite store, for fixtures written through its writer.
    pub fn sqlite(&self) -> &Arc<SqliteStore> {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(_) => panic!("this test runs on SQLite only"),
        }
    }

    /// The worker's view of the same store.
    pub fn dispatch(&self) -> Arc<dyn freight_core::store::dispatch::DispatchStore> {
        match self {
            Self::Postgres(store) => store.clone(),
            Self::Sqlite(store) => store.clone(),
        }
    }

    pub fn as_dyn(&self) -> Arc<dyn Store> {
        match self {
            Self::Postgres(store) => store.clone(),
            Self::Sqlite(store) => store.clone(),
        }
    }
}

impl std::ops::Deref for TestStore {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        match self {
            Self::Postgres(store) => store.as_ref(),
            Self::Sqlite(store) => store.as_ref(),
        }
    }
}

/// A directory removed when the last handle to it is dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new SQLite store in a fresh directory; the directory goes when the
/// returned guard does.
async fn fresh_sqlite(secrets: SecretBox) -> (Arc<SqliteStore>, String, Arc<TempDir>) {
    let dir = std::env::temp_dir().join(format!("freight-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create test directory");
    let path = dir.join("freight.db");
    let store = SqliteStore::open(&path, 4, secrets)
        .await
        .expect("open SQLite store");
    (
        Arc::new(store),
        format!("sqlite://{}", path.display()),
        Arc::new(TempDir(dir)),
    )
}

/// A migrated Freight database of its own on `backend`: a PostgreSQL
/// database named `<prefix>_<random>`, or a SQLite file in a directory of
/// its own (removed with the last handle to it).
pub struct TestDatabase {
    pub store: TestStore,
    /// `postgres://…/<db>`, or `sqlite://<path>`.
    pub url: String,
    dir: Option<Arc<TempDir>>,
}

impl TestDatabase {
    /// A fresh database on `backend`; PostgreSQL pools get `connections`.
    pub async fn fresh(backend: Backend, prefix: &str, connections: u32) -> Self {
        let secrets = SecretBox::from_key_material(TEST_JWT_SECRET);
        let database = match backend {
            Backend::Postgres => {
                let url = fresh_database(prefix).await;
                let store = PgStore::connect(&url, connections, secrets)
                    .await
                    .expect("connect");
                Self {
                    store: TestStore::Postgres(Arc::new(store)),
                    url,
                    dir: None,
                }
            }
            Backend::Sqlite => {
                let (store, url, dir) = fresh_sqlite(secrets).await;
                Self {
                    store: TestStore::Sqlite(store),
                    url,
                    dir: Some(dir),
                }
            }
        };
        database.store.migrate().await.expect("migrate");
        database
    }

    /// The directory of the SQLite file (`freight dev`'s data directory,
    /// where its queue file goes too); `None` on PostgreSQL.
    pub fn data_dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|dir| dir.0.as_path())
    }
}

pub struct TestApp {
    pub base_url: String,
    /// `postgres://…/<db>`, or `sqlite://<path>` on SQLite.
    pub database_url: String,
    pub redis_url: String,
    pub store: TestStore,
    pub state: AppState,
    /// Namespace of this app's rate-limit counters, unique per test, so
    /// tests sharing the local Redis (and the client address 127.0.0.1)
    /// never share counters.
    pub rate_limit_namespace: String,
    tokens: TokenKeys,
    _dir: Option<Arc<TempDir>>,
}

impl TestApp {
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

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

/// Starts the API on `backend` with the given planner.
pub async fn spawn_app_on(backend: Backend, planner: Arc<dyn Planner>) -> TestApp {
    spawn_app_on_with_limits(backend, planner, None).await
}

/// Starts the API with the given planner and, optionally, rate limits.
pub async fn spawn_app_with_limits(
    planner: Arc<dyn Planner>,
    limits: Option<crate::rate_limit::RateLimits>,
) -> TestApp {
    spawn_app_on_with_limits(Backend::Postgres, planner, limits).await
}

/// Starts the API on `backend` with the given planner and, optionally,
/// rate limits.
pub async fn spawn_app_on_with_limits(
    backend: Backend,
    planner: Arc<dyn Planner>,
    limits: Option<crate::rate_limit::RateLimits>,
) -> TestApp {
    spawn_app_on_built(backend, limits, None, async |_store: &TestStore| planner).await
}

/// Starts the API on PostgreSQL with a planner made once its own database
/// exists (a connection policy that refuses that database needs its
/// identity).
pub async fn spawn_app_built(
    limits: Option<crate::rate_limit::RateLimits>,
    plan_limits: Option<crate::plan_slots::PlanLimits>,
    make_planner: impl AsyncFnOnce(&Arc<PgStore>) -> Arc<dyn Planner>,
) -> TestApp {
    spawn_app_on_built(
        Backend::Postgres,
        limits,
        plan_limits,
        async |store: &TestStore| make_planner(store.postgres()).await,
    )
    .await
}

/// Starts the API on `backend` with a planner made once its own database
/// exists.
pub async fn spawn_app_on_built(
    backend: Backend,
    limits: Option<crate::rate_limit::RateLimits>,
    plan_limits: Option<crate::plan_slots::PlanLimits>,
    make_planner: impl AsyncFnOnce(&TestStore) -> Arc<dyn Planner>,
) -> TestApp {
    let TestDatabase {
        store,
        url: database_url,
        dir,
    } = TestDatabase::fresh(backend, "freight_test", 5).await;
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
    // Like `freight api` on PostgreSQL; like `freight dev` on SQLite (no
    // Redis: rate limits counted in process).
    let state = match backend {
        Backend::Postgres => AppState::new(store.as_dyn(), planner, tokens.clone(), redis),
        Backend::Sqlite => AppState::embedded(store.as_dyn(), planner, tokens.clone()),
    };
    let mut state = state.with_connection_policy(
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
        _dir: dir,
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

/// Runs each named `async fn(Backend)` once per store backend: adds a
/// module of the same name holding the tests `postgres` and `sqlite` (so
/// `-E 'test(sqlite)'` selects one backend). One matrix for every test
/// binary: `freight_api::on_both_backends!(a, b)` runs on tokio's
/// current-thread runtime, `on_both_backends!(multi_thread; a, b)` on four
/// worker threads (for tests that run workers in process).
#[macro_export]
macro_rules! on_both_backends {
    (multi_thread; $($name:ident),+ $(,)?) => {
        $(
            $crate::on_both_backends!(
                @each tokio::test(flavor = "multi_thread", worker_threads = 4), $name
            );
        )+
    };
    (@each $runtime:meta, $name:ident) => {
        mod $name {
            #[$runtime]
            async fn postgres() {
                super::$name($crate::testing::Backend::Postgres).await
            }

            #[$runtime]
            async fn sqlite() {
                super::$name($crate::testing::Backend::Sqlite).await
            }
        }
    };
    ($($name:ident),+ $(,)?) => {
        $(
            $crate::on_both_backends!(@each tokio::test, $name);
        )+
    };
}
