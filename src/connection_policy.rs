//! Builds the installation's connection policy from the settings and
//! Freight's own services: its database (by identity: the PostgreSQL
//! server and database, or the SQLite file of `freight dev`) and its Redis
//! (by address, when it has one) are refused to every job.

use freight_core::policy::{ConnectionPolicy, DatabaseIdentity, INHERITED_POSTGRES_VARIABLES};
use freight_worker::engine::{Engine, PlanLimits};

use crate::settings::Settings;

pub async fn connection_policy(
    settings: &Settings,
    own_database: DatabaseIdentity,
    redis_url: Option<&str>,
) -> anyhow::Result<ConnectionPolicy> {
    let mut policy = if settings.dev_mode {
        tracing::warn!(
            "FREIGHT_DEV_MODE=true: the connection policy trusts a single local user: jobs may read \
             and write SQLite files anywhere this process can. Never run like this with several tenants."
        );
        ConnectionPolicy::for_local_user()
    } else {
        ConnectionPolicy::for_tenants()
    };
    policy = policy
        .allow_only(settings.egress_allow.0.clone())
        .deny(settings.egress_deny.0.clone());
    // Freight's PostgreSQL server: its other databases stay open to jobs
    // (small installs keep targets there), but never to a webhook's POST.
    if let DatabaseIdentity::Postgres { .. } = own_database {
        policy = policy.protect_endpoint_from_webhooks(
            server_addresses(settings.database_url.expose(), 5432).await,
        );
    }
    // A SQLite store: its -wal, -shm and -journal files too.
    let own = match &own_database {
        DatabaseIdentity::SqliteFile(path) => DatabaseIdentity::sqlite_files(path),
        DatabaseIdentity::Postgres { .. } => vec![own_database],
    };
    for identity in own {
        policy = policy.protect_database(identity);
    }
    if let Some(redis_url) = redis_url {
        policy = policy.protect_endpoint(server_addresses(redis_url, 6379).await);
    }
    policy = policy
        // Freight's own HTTP ports, by any local address (webhooks).
        .protect_endpoint(
            [settings.port, settings.metrics_port]
                .map(|port| std::net::SocketAddr::from(([0, 0, 0, 0], port))),
        );
    if let Some(root) = &settings.sqlite_root {
        policy = policy.sqlite_root(root);
    }
    let inherited: Vec<&str> = INHERITED_POSTGRES_VARIABLES
        .iter()
        .copied()
        .filter(|v| std::env::var_os(v).is_some())
        .collect();
    if !inherited.is_empty() {
        tracing::warn!(
            variables = ?inherited,
            "these PostgreSQL variables are set in Freight's environment; sqlx would apply them to \
             tenant connections, so PostgreSQL sources and targets are refused until they are unset \
             (put Freight's own settings in DATABASE_URL)"
        );
    }
    Ok(policy)
}

/// The engine every role uses: the policy, and the plan limits.
pub fn engine(settings: &Settings, policy: ConnectionPolicy) -> Engine {
    Engine::new(policy).with_limits(PlanLimits::new(
        settings.max_batches_per_job,
        settings.max_plan_key_bytes,
        settings.max_tables_per_job,
        settings.max_plan_schema_bytes,
    ))
}

/// Where one of Freight's servers (Redis, PostgreSQL) listens, resolved
/// now; `default_port` when the URL names none.
async fn server_addresses(url: &str, default_port: u16) -> Vec<std::net::SocketAddr> {
    let Ok(url) = url::Url::parse(url) else {
        return Vec::new();
    };
    let Some(host) = url.host_str() else {
        return Vec::new();
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port().unwrap_or(default_port);
    match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(addrs) => addrs.collect(),
        Err(e) => {
            tracing::warn!(error = %e, "could not resolve a host of Freight's own for the connection policy");
            Vec::new()
        }
    }
}
