//! Shared helpers of the end-to-end tests: the real API on port 0 against
//! a fresh database (see `freight_api::testing`), and a small client.

#![allow(dead_code)]

use std::sync::Arc;

pub use freight_api::testing::Backend;
use freight_api::testing::{TestApp, spawn_app_on};
use freight_core::plan::{PlanError, PlanReport, Planner};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

pub struct Api {
    pub app: TestApp,
    pub http: reqwest::Client,
}

/// A caller: a token and the tenant it sends.
#[derive(Clone)]
pub struct Caller {
    pub token: String,
    pub tenant: String,
}

impl Api {
    pub async fn spawn() -> Self {
        Self::spawn_with(Arc::new(NoPlanner)).await
    }

    pub async fn spawn_with(planner: Arc<dyn Planner>) -> Self {
        Self::spawn_on_with(Backend::Postgres, planner).await
    }

    /// The API over `backend`'s store, planning nothing.
    pub async fn spawn_on(backend: Backend) -> Self {
        Self::spawn_on_with(backend, Arc::new(NoPlanner)).await
    }

    pub async fn spawn_on_with(backend: Backend, planner: Arc<dyn Planner>) -> Self {
        Self {
            app: spawn_app_on(backend, planner).await,
            http: reqwest::Client::new(),
        }
    }

    pub async fn spawn_limited(
        planner: Arc<dyn Planner>,
        limits: freight_api::rate_limit::RateLimits,
    ) -> Self {
        Self::spawn_limited_on(Backend::Postgres, planner, limits).await
    }

    /// The API over `backend`'s store enforcing `limits` (counted in Redis
    /// on PostgreSQL, in process on SQLite, as `freight dev` does).
    pub async fn spawn_limited_on(
        backend: Backend,
        planner: Arc<dyn Planner>,
        limits: freight_api::rate_limit::RateLimits,
    ) -> Self {
        Self {
            app: freight_api::testing::spawn_app_on_with_limits(backend, planner, Some(limits))
                .await,
            http: reqwest::Client::new(),
        }
    }

    /// A caller for a new tenant, unique to this test.
    pub fn new_tenant(&self) -> Caller {
        let tenant = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        Caller {
            token: self.app.token(&[&tenant], "engineer"),
            tenant,
        }
    }

    pub fn request(&self, method: Method, path: &str, caller: &Caller) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.app.base_url))
            .bearer_auth(&caller.token)
            .header("X-Tenant-ID", &caller.tenant)
            .header("User-Agent", "freight-tests/1.0")
    }

    pub async fn get(&self, path: &str, caller: &Caller) -> Response {
        self.request(Method::GET, path, caller)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, caller: &Caller, body: &Value) -> Response {
        self.request(Method::POST, path, caller)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn create_job(&self, caller: &Caller, body: &Value) -> Value {
        let response = self.post("/api/v1/jobs", caller, body).await;
        assert_eq!(response.status(), 201, "create failed");
        response.json().await.expect("json")
    }

    /// Runs one fixture statement: `pg` on PostgreSQL, `sqlite` on SQLite
    /// (through the store's writer, so the job events its triggers write
    /// are announced as after the store's own commits). Returns the rows
    /// changed.
    pub async fn exec(&self, pg: &str, sqlite: &str, args: &[Arg]) -> u64 {
        match self.app.backend() {
            Backend::Postgres => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(pg.to_owned()));
                for arg in args {
                    query = match arg {
                        Arg::Text(v) => query.bind(v.clone()),
                        Arg::Int(v) => query.bind(*v),
                        Arg::Uuid(v) => query.bind(*v),
                        Arg::Json(v) => query.bind(v.clone()),
                        Arg::Bytes(v) => query.bind(v.clone()),
                    };
                }
                query
                    .execute(&self.pg().await)
                    .await
                    .expect("fixture")
                    .rows_affected()
            }
            Backend::Sqlite => {
                let store = self.app.store.sqlite();
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sqlite.to_owned()));
                for arg in args {
                    query = match arg {
                        Arg::Text(v) => query.bind(v.clone()),
                        Arg::Int(v) => query.bind(*v),
                        Arg::Uuid(v) => query.bind(v.hyphenated().to_string()),
                        Arg::Json(v) => query.bind(v.to_string()),
                        Arg::Bytes(v) => query.bind(v.clone()),
                    };
                }
                let mut tx = store.begin_write().await.expect("begin");
                let changed = query
                    .execute(&mut *tx)
                    .await
                    .expect("fixture")
                    .rows_affected();
                store.commit(tx).await.expect("commit");
                changed
            }
        }
    }

    /// The same statement on both backends.
    pub async fn exec_both(&self, sql: &str, args: &[Arg]) -> u64 {
        self.exec(sql, sql, args).await
    }

    pub async fn pg(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.app.database_url)
            .await
            .expect("connect")
    }
}

/// A value bound into a fixture statement, stored the way each backend
/// stores it (a uuid is text on SQLite, JSON is text there too).
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Int(i64),
    Uuid(uuid::Uuid),
    Json(Value),
    Bytes(Vec<u8>),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<uuid::Uuid> for Arg {
    fn from(v: uuid::Uuid) -> Self {
        Self::Uuid(v)
    }
}

impl From<Value> for Arg {
    fn from(v: Value) -> Self {
        Self::Json(v)
    }
}

/// A job id from an API response, as a uuid.
pub fn uuid_of(value: &Value) -> uuid::Uuid {
    uuid::Uuid::parse_str(value.as_str().expect("an id string")).expect("a uuid")
}

/// SQLite's `now()` as Freight stores timestamps there.
pub const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')";

/// A valid job body; the target password is `hunter2-secret`.
pub fn job_body() -> Value {
    json!({
        "name": "orders to warehouse",
        "source_config": {"type": "mysql", "url": "mysql://app:src-pass-42@127.0.0.1:3306/shop"},
        "target_config": {
            "type": "postgresql", "host": "127.0.0.1", "port": 5432,
            "database": "warehouse", "user": "loader", "password": "hunter2-secret"
        },
        "tables": ["orders", "customers"],
        "batch_size": 500,
        "started_by": "alice"
    })
}

/// Asserts a problem+json response with `status` and `code`; returns the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["code"], code, "body: {body}");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some());
    body
}

/// Planner for control-plane tests that never connect anywhere: it plans
/// nothing and leaves connections unchecked (the connection policy has its
/// own tests in `tests/security`, against the engine's planner).
pub struct NoPlanner;

#[async_trait::async_trait]
impl Planner for NoPlanner {
    async fn plan(
        &self,
        _tenant: &freight_core::TenantId,
        _spec: &freight_core::job::JobSpec,
    ) -> Result<PlanReport, PlanError> {
        Err(PlanError::Unreachable(
            "planning is not part of this test".into(),
        ))
    }

    async fn check_connections(
        &self,
        _tenant: &freight_core::TenantId,
        _source: &freight_core::connection::ConnectionConfig,
        _target: &freight_core::connection::ConnectionConfig,
    ) -> Result<(), PlanError> {
        Ok(())
    }
}
