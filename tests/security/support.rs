//! A tenant-facing API whose planner enforces the installation's
//! connection policy, built the way `freight api` builds it.

use std::sync::Arc;

use freight_api::testing::TestStore;
use freight_core::plan::Planner;
use freight_core::policy::ConnectionPolicy;
use freight_core::store::postgres::PgStore;
use freight_worker::engine::{Engine, EnginePlanner, PlanLimits};

use crate::common::{Api, Backend};

/// The API with a policy for many tenants that refuses its own database
/// and Redis; `configure` adds what a test needs (SQLite root, egress lists).
pub async fn secure_api(configure: impl FnOnce(ConnectionPolicy) -> ConnectionPolicy) -> Api {
    secure_api_on(Backend::Postgres, configure).await
}

/// [`secure_api`] over `backend`'s store.
pub async fn secure_api_on(
    backend: Backend,
    configure: impl FnOnce(ConnectionPolicy) -> ConnectionPolicy,
) -> Api {
    secure_api_with_limits_on(backend, configure, PlanLimits::default(), None).await
}

pub async fn secure_api_with_limits(
    configure: impl FnOnce(ConnectionPolicy) -> ConnectionPolicy,
    limits: PlanLimits,
    api_plan_limits: Option<freight_api::plan_slots::PlanLimits>,
) -> Api {
    secure_api_with_limits_on(Backend::Postgres, configure, limits, api_plan_limits).await
}

pub async fn secure_api_with_limits_on(
    backend: Backend,
    configure: impl FnOnce(ConnectionPolicy) -> ConnectionPolicy,
    limits: PlanLimits,
    api_plan_limits: Option<freight_api::plan_slots::PlanLimits>,
) -> Api {
    let app = freight_api::testing::spawn_app_on_built(
        backend,
        None,
        api_plan_limits,
        async |store: &TestStore| {
            let identity = match store {
                TestStore::Postgres(store) => store.identity().await.unwrap(),
                TestStore::Sqlite(store) => store.identity().unwrap(),
            };
            let policy = configure(refusing(identity).await);
            Arc::new(EnginePlanner::new(Engine::new(policy).with_limits(limits)))
                as Arc<dyn Planner>
        },
    )
    .await;
    Api {
        app,
        http: reqwest::Client::new(),
    }
}

/// What `freight` refuses on every installation: its database and Redis.
pub async fn installation_policy(store: &PgStore) -> ConnectionPolicy {
    refusing(store.identity().await.unwrap()).await
}

/// The policy for tenants, refusing `own` (Freight's database) and Redis.
async fn refusing(own: freight_core::policy::DatabaseIdentity) -> ConnectionPolicy {
    let redis: Vec<std::net::SocketAddr> = tokio::net::lookup_host(("127.0.0.1", 6379))
        .await
        .unwrap()
        .collect();
    ConnectionPolicy::for_tenants()
        .protect_database(own)
        .protect_endpoint(redis)
}

/// The database name at the end of a PostgreSQL URL.
pub fn database_name(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

/// A job body copying between two configs.
pub fn body(source: serde_json::Value, target: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "source_config": source,
        "target_config": target,
        "batch_size": 1000,
        "started_by": "mallory"
    })
}

/// A job as the engine sees it, batches of 10 rows.
pub fn job_context(
    tenant: &str,
    source: freight_core::connection::ConnectionConfig,
    target: freight_core::connection::ConnectionConfig,
) -> freight_worker::engine::JobContext {
    freight_worker::engine::JobContext {
        job_id: freight_core::JobId::new(),
        tenant: freight_core::TenantId::parse(tenant).unwrap(),
        source,
        target,
        tables: Vec::new(),
        exclude_tables: Vec::new(),
        batch_size: 10,
        verify: false,
        key_columns: Default::default(),
        nul_characters: Default::default(),
        zero_dates: Default::default(),
        identifiers: Default::default(),
    }
}

/// Polls `GET /jobs/{id}` (as tenant `acme`) until the job is `failed` or
/// `completed`, and returns it.
pub async fn final_job(http: &reqwest::Client, base_url: &str, id: &str) -> serde_json::Value {
    crate::ops_support::eventually(
        std::time::Duration::from_secs(60),
        "the job to finish",
        || {
            let get = http
                .get(format!("{base_url}/api/v1/jobs/{id}"))
                .bearer_auth(crate::ops_support::token("acme"))
                .header("X-Tenant-ID", "acme")
                .send();
            async move {
                let job: serde_json::Value = get
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                match job["status"].as_str() {
                    Some("failed" | "completed") => Ok(job),
                    _ => Err(job.to_string()),
                }
            }
        },
    )
    .await
}
