//! Process configuration, read once from the environment at start-up.

use std::path::PathBuf;

use anyhow::bail;
use freight_core::policy::EgressRule;
use freight_core::secrets::SecretBox;

/// The dev-only JWT secret used when `FREIGHT_DEV_MODE=true` and no
/// `JWT_SECRET_KEY` is set. Never accepted otherwise.
const DEV_JWT_SECRET: &str = "freight-dev-secret-do-not-use-in-production";

/// Settings shared by every subcommand. Secrets are kept out of `Debug`.
#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub database_max_connections: u32,
    pub redis_url: String,
    pub jwt_secret: String,
    pub token_expiry_hours: i64,
    pub host: String,
    pub port: u16,
    pub metrics_port: u16,
    pub enable_metrics: bool,
    /// `FREIGHT_ENCRYPTION_KEY`; see [`Settings::secret_box`].
    encryption_key: Option<String>,
    /// `FREIGHT_PREVIOUS_ENCRYPTION_KEY`: still opens configs sealed before a rotation.
    previous_encryption_key: Option<String>,
    /// Batches one worker process copies at the same time.
    pub worker_concurrency: usize,
    /// Redis queue (apalis namespace) batches are dispatched on.
    pub queue_name: String,
    /// Lifetime of a batch or planning lease; renewed every third of it.
    pub lease_ms: u64,
    /// Reconciler poll backstop (it is also woken by Postgres notifications).
    pub reconcile_interval_ms: u64,
    /// A batch queued this long ago and never claimed is presumed lost by
    /// Redis and queued again.
    pub redispatch_after_ms: u64,
    /// First retry delay after a transient failure; doubles per attempt.
    pub retry_backoff_ms: u64,
    /// Period of worker heartbeats.
    pub heartbeat_ms: u64,
    /// Per-tenant API requests per minute (0 = unlimited).
    pub rate_limit_per_minute: u32,
    /// Per-tenant job creations per minute (0 = unlimited).
    pub rate_limit_create_per_minute: u32,
    /// Per-client-address API requests per minute without a verified
    /// identity (0 = unlimited).
    pub rate_limit_anonymous_per_minute: u32,
    /// Seconds to finish in-flight requests and batches after SIGTERM.
    pub shutdown_grace_seconds: u64,
    /// `FREIGHT_DEV_MODE=true`: one trusted local user (SQLite paths
    /// anywhere, dev JWT secret and key allowed).
    pub dev_mode: bool,
    /// `FREIGHT_EGRESS_ALLOW`: only these may be reached (empty = any not denied).
    pub egress_allow: Vec<EgressRule>,
    /// `FREIGHT_EGRESS_DENY`: refused in addition to the always-denied list.
    pub egress_deny: Vec<EgressRule>,
    /// `FREIGHT_SQLITE_ROOT`: tenants' SQLite files live under `<root>/<tenant>/`.
    pub sqlite_root: Option<PathBuf>,
    /// Batches one job may be cut into.
    pub max_batches_per_job: usize,
    /// Seconds one `plan_migration_job` may take.
    pub plan_timeout_seconds: u64,
    /// Plans one tenant may run at the same time (per API process).
    pub max_concurrent_plans: usize,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field(
                "database_url",
                &freight_core::connection::redact_url(&self.database_url),
            )
            .field(
                "redis_url",
                &freight_core::connection::redact_url(&self.redis_url),
            )
            .field("host", &self.host)
            .field("port", &self.port)
            .field("metrics_port", &self.metrics_port)
            .field("enable_metrics", &self.enable_metrics)
            .field("worker_concurrency", &self.worker_concurrency)
            .field("queue_name", &self.queue_name)
            .finish_non_exhaustive()
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parsed<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={raw:?} is invalid: {e}")),
    }
}

impl Settings {
    /// Reads the environment. `JWT_SECRET_KEY` is required unless
    /// `FREIGHT_DEV_MODE=true`, which falls back to a well-known dev secret
    /// with a loud warning.
    pub fn from_env() -> anyhow::Result<Self> {
        let dev_mode = parsed("FREIGHT_DEV_MODE", false)?;
        let jwt_secret = match var("JWT_SECRET_KEY") {
            Some(secret) if secret.len() >= 16 => secret,
            Some(_) => bail!("JWT_SECRET_KEY must be at least 16 characters"),
            None if dev_mode => {
                tracing::warn!(
                    "JWT_SECRET_KEY is not set: FREIGHT_DEV_MODE=true uses a PUBLIC development secret. \
                     Anyone can mint tokens for this instance. Never run like this in production."
                );
                DEV_JWT_SECRET.to_owned()
            }
            None => bail!(
                "JWT_SECRET_KEY is not set. Set it to a random string of at least 16 characters \
                 (e.g. `openssl rand -hex 32`), or set FREIGHT_DEV_MODE=true for a local dev default."
            ),
        };
        let rules = |name: &str| -> anyhow::Result<Vec<EgressRule>> {
            EgressRule::parse_list(&var(name).unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))
        };
        let token_expiry_hours = parsed("TOKEN_EXPIRY_HOURS", 24i64)?;
        if token_expiry_hours <= 0 {
            bail!("TOKEN_EXPIRY_HOURS must be positive");
        }
        Ok(Self {
            database_url: var("DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/freight".into()),
            database_max_connections: parsed("DATABASE_MAX_CONNECTIONS", 20u32)?,
            redis_url: var("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            jwt_secret,
            token_expiry_hours,
            host: var("FREIGHT_HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: parsed("FREIGHT_PORT", 8000u16)?,
            metrics_port: parsed("METRICS_PORT", 9090u16)?,
            enable_metrics: parsed("ENABLE_METRICS", true)?,
            encryption_key: var("FREIGHT_ENCRYPTION_KEY"),
            previous_encryption_key: var("FREIGHT_PREVIOUS_ENCRYPTION_KEY"),
            worker_concurrency: parsed("WORKER_CONCURRENCY", 4usize)?.max(1),
            queue_name: var("FREIGHT_QUEUE").unwrap_or_else(|| "freight:batches".into()),
            shutdown_grace_seconds: parsed("SHUTDOWN_GRACE_SECONDS", 30u64)?,
            lease_ms: parsed("FREIGHT_LEASE_MS", 30_000u64)?.max(1000),
            reconcile_interval_ms: parsed("FREIGHT_RECONCILE_INTERVAL_MS", 2_000u64)?.max(10),
            redispatch_after_ms: parsed("FREIGHT_REDISPATCH_AFTER_MS", 60_000u64)?,
            retry_backoff_ms: parsed("FREIGHT_RETRY_BACKOFF_MS", 2_000u64)?,
            heartbeat_ms: parsed("FREIGHT_HEARTBEAT_MS", 5_000u64)?.max(100),
            rate_limit_per_minute: parsed("RATE_LIMIT_PER_MINUTE", 600u32)?,
            rate_limit_create_per_minute: parsed("RATE_LIMIT_CREATE_PER_MINUTE", 60u32)?,
            dev_mode,
            egress_allow: rules("FREIGHT_EGRESS_ALLOW")?,
            egress_deny: rules("FREIGHT_EGRESS_DENY")?,
            sqlite_root: var("FREIGHT_SQLITE_ROOT").map(PathBuf::from),
            max_batches_per_job: parsed("FREIGHT_MAX_BATCHES_PER_JOB", 100_000usize)?.max(1),
            plan_timeout_seconds: parsed("FREIGHT_PLAN_TIMEOUT_SECONDS", 60u64)?.max(1),
            max_concurrent_plans: parsed("FREIGHT_MAX_CONCURRENT_PLANS", 2usize)?.max(1),
            rate_limit_anonymous_per_minute: parsed("RATE_LIMIT_ANONYMOUS_PER_MINUTE", 120u32)?,
        })
    }

    /// The key that seals connection configs. Required outside dev mode
    /// (only the roles that store or open configs ask for it).
    pub fn secret_box(&self) -> anyhow::Result<SecretBox> {
        let mut secrets = match &self.encryption_key {
            Some(key) if key.len() >= 16 => SecretBox::from_key_material(key),
            Some(_) => bail!(
                "FREIGHT_ENCRYPTION_KEY must be at least 16 characters (64 hex characters = a raw 256-bit key)"
            ),
            None if self.dev_mode => {
                tracing::warn!(
                    "FREIGHT_ENCRYPTION_KEY is not set: FREIGHT_DEV_MODE=true derives the key that seals \
                     connection passwords from the JWT secret. Never run like this in production."
                );
                SecretBox::from_key_material(&self.jwt_secret)
            }
            None => bail!(
                "FREIGHT_ENCRYPTION_KEY is not set. It seals the connection passwords of jobs: set it to \
                 64 hex characters (`openssl rand -hex 32`), apart from JWT_SECRET_KEY. An installation \
                 whose key was derived from JWT_SECRET_KEY (before this setting was required) also sets \
                 FREIGHT_PREVIOUS_ENCRYPTION_KEY to that JWT secret and runs `freight reseal` once."
            ),
        };
        if let Some(previous) = &self.previous_encryption_key {
            secrets = secrets.with_previous_key(previous);
        }
        Ok(secrets)
    }
}
