//! Process configuration: one typed struct read by clap from flags and the
//! environment, each default written once, beside what it configures
//! (`freight_worker::dispatch::defaults`, `freight_worker::webhooks::defaults`,
//! `freight_worker::engine::plan_defaults`, `freight_api::rate_limit::defaults`,
//! `freight_api::plan_slots::defaults`, `freight_api::events::defaults`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use freight_api::events::defaults as event_defaults;
use freight_api::plan_slots::defaults as plan_slot_defaults;
use freight_api::rate_limit::defaults as rate_defaults;
use freight_core::connection::Secret;
use freight_core::policy::EgressRule;
use freight_core::secrets::SecretBox;
use freight_worker::dispatch::{DispatchConfig, defaults};
use freight_worker::engine::plan_defaults;
use freight_worker::webhooks::{SenderConfig, defaults as webhook_defaults};

/// The dev-only JWT secret used when `FREIGHT_DEV_MODE=true` (or `freight
/// dev`) and no `JWT_SECRET_KEY` is set. Never accepted otherwise.
pub const DEV_JWT_SECRET: &str = "freight-dev-secret-do-not-use-in-production";

/// Settings shared by every subcommand. Secrets are [`Secret`]s, so
/// `Debug` never prints them.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Freight's own PostgreSQL database (the system of record).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/freight",
        hide_env_values = true
    )]
    pub database_url: Secret,
    /// Connections of the API's pool to DATABASE_URL.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub database_max_connections: u32,
    /// Redis the batches are dispatched through.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: Secret,
    /// Signs and verifies tokens (at least 16 characters); required unless
    /// FREIGHT_DEV_MODE=true or `freight dev`.
    #[arg(long, env = "JWT_SECRET_KEY", hide_env_values = true)]
    jwt_secret_key: Option<Secret>,
    /// Lifetime of tokens minted by `freight token`.
    #[arg(long, env = "TOKEN_EXPIRY_HOURS", default_value_t = 24,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub token_expiry_hours: i64,
    /// Address the API binds: 0.0.0.0, except in `freight dev`, which
    /// binds it and its metrics to 127.0.0.1 unless --host or FREIGHT_HOST
    /// is given.
    #[arg(
        long,
        env = "FREIGHT_HOST",
        default_value = "0.0.0.0",
        hide_default_value = true
    )]
    pub host: String,
    /// Port of the API.
    #[arg(long, env = "FREIGHT_PORT", default_value_t = 8000)]
    pub port: u16,
    /// Prometheus metrics listener.
    #[arg(long, env = "METRICS_PORT", default_value_t = 9090)]
    pub metrics_port: u16,
    /// Serve Prometheus metrics on METRICS_PORT.
    #[arg(long, env = "ENABLE_METRICS", default_value_t = true, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub enable_metrics: bool,
    /// Seals the connection configs of jobs: 64 hex characters (a raw
    /// 256-bit key, `openssl rand -hex 32`) or a passphrase of at least 16
    /// characters. Required outside dev mode; in dev mode, when unset, a
    /// key is derived from the JWT secret.
    #[arg(long, env = "FREIGHT_ENCRYPTION_KEY", hide_env_values = true)]
    encryption_key: Option<Secret>,
    /// Still opens configs sealed before a key rotation.
    #[arg(long, env = "FREIGHT_PREVIOUS_ENCRYPTION_KEY", hide_env_values = true)]
    previous_encryption_key: Option<Secret>,
    /// Batches one worker process copies at the same time.
    #[arg(long, env = "WORKER_CONCURRENCY", default_value_t = defaults::CONCURRENCY,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_concurrency: u16,
    /// Redis queue (apalis namespace) batches are dispatched on; also the
    /// namespace of the rate-limit counters.
    #[arg(long, env = "FREIGHT_QUEUE", default_value = defaults::QUEUE_NAME)]
    pub queue_name: String,
    /// Lifetime of a batch or planning lease; renewed every third of it.
    #[arg(long, env = "FREIGHT_LEASE_MS", default_value_t = defaults::LEASE_MS,
          value_parser = clap::value_parser!(u64).range(1000..))]
    pub lease_ms: u64,
    /// Reconciler poll backstop (it is also woken by job changes).
    #[arg(long, env = "FREIGHT_RECONCILE_INTERVAL_MS", default_value_t = defaults::RECONCILE_INTERVAL_MS,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub reconcile_interval_ms: u64,
    /// A batch queued this long ago and never claimed is presumed lost by
    /// the queue and queued again.
    #[arg(long, env = "FREIGHT_REDISPATCH_AFTER_MS", default_value_t = defaults::REDISPATCH_AFTER_MS)]
    pub redispatch_after_ms: u64,
    /// First retry delay after a transient failure; doubles per attempt.
    #[arg(long, env = "FREIGHT_RETRY_BACKOFF_MS", default_value_t = defaults::RETRY_BACKOFF_MS)]
    pub retry_backoff_ms: u64,
    /// Period of worker heartbeats.
    #[arg(long, env = "FREIGHT_HEARTBEAT_MS", default_value_t = defaults::HEARTBEAT_MS,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub heartbeat_ms: u64,
    /// How often workers look for webhook deliveries that are due.
    #[arg(long, env = "FREIGHT_WEBHOOK_POLL_MS", default_value_t = webhook_defaults::POLL_MS,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub webhook_poll_ms: u64,
    /// A webhook delivery claimed by a worker that died unrecorded is
    /// claimed again after this.
    #[arg(long, env = "FREIGHT_WEBHOOK_LEASE_MS", default_value_t = webhook_defaults::LEASE_MS,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub webhook_lease_ms: u64,
    /// Attempts before a webhook delivery is `failed`.
    #[arg(long, env = "FREIGHT_WEBHOOK_MAX_ATTEMPTS", default_value_t = webhook_defaults::MAX_ATTEMPTS,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub webhook_max_attempts: i32,
    /// Delay after a failed webhook attempt; doubles per attempt.
    #[arg(long, env = "FREIGHT_WEBHOOK_BACKOFF_MS", default_value_t = webhook_defaults::BACKOFF_MS)]
    pub webhook_backoff_ms: u64,
    /// Cap of the webhook retry delay.
    #[arg(long, env = "FREIGHT_WEBHOOK_BACKOFF_MAX_MS", default_value_t = webhook_defaults::BACKOFF_MAX_MS)]
    pub webhook_backoff_max_ms: u64,
    /// Webhook deliveries claimed (and sent concurrently) per round.
    #[arg(long, env = "FREIGHT_WEBHOOK_BATCH", default_value_t = webhook_defaults::BATCH,
          value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub webhook_batch: i64,
    /// Time a webhook endpoint gets to answer.
    #[arg(long, env = "FREIGHT_WEBHOOK_TIMEOUT_MS", default_value_t = webhook_defaults::REQUEST_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub webhook_timeout_ms: u64,
    /// Per-tenant API requests per minute (0 = unlimited).
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = rate_defaults::REQUESTS_PER_MINUTE)]
    pub rate_limit_per_minute: u32,
    /// Per-tenant job creations per minute (0 = unlimited).
    #[arg(long, env = "RATE_LIMIT_CREATE_PER_MINUTE", default_value_t = rate_defaults::CREATES_PER_MINUTE)]
    pub rate_limit_create_per_minute: u32,
    /// Per-client-address requests per minute without a verified identity
    /// (0 = unlimited).
    #[arg(long, env = "RATE_LIMIT_ANONYMOUS_PER_MINUTE", default_value_t = rate_defaults::ANONYMOUS_PER_MINUTE)]
    pub rate_limit_anonymous_per_minute: u32,
    /// A job event stream quiet this long gets a keep-alive comment.
    #[arg(long, env = "FREIGHT_SSE_KEEP_ALIVE_MS", default_value_t = event_defaults::KEEP_ALIVE_MS,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub sse_keep_alive_ms: u64,
    /// Seconds to finish in-flight requests and batches after SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS", default_value_t = defaults::SHUTDOWN_GRACE_SECONDS)]
    pub shutdown_grace_seconds: u64,
    /// One trusted local user: SQLite paths anywhere (the address and
    /// identity rules still hold), the public dev JWT secret and a derived
    /// sealing key accepted. Never in production. `freight dev` turns it on.
    #[arg(long, env = "FREIGHT_DEV_MODE", default_value_t = false, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub dev_mode: bool,
    /// Only these may be reached (comma-separated CIDRs and host names;
    /// empty = any address not denied).
    #[arg(long, env = "FREIGHT_EGRESS_ALLOW", default_value = "", value_parser = parse_rules)]
    pub egress_allow: EgressRules,
    /// Refused in addition to the always-denied list.
    #[arg(long, env = "FREIGHT_EGRESS_DENY", default_value = "", value_parser = parse_rules)]
    pub egress_deny: EgressRules,
    /// Tenants' SQLite files live under `<root>/<tenant>/` (SQLite is
    /// refused when unset, outside dev mode).
    #[arg(long, env = "FREIGHT_SQLITE_ROOT")]
    pub sqlite_root: Option<PathBuf>,
    /// Batches one job may be cut into.
    #[arg(long, env = "FREIGHT_MAX_BATCHES_PER_JOB", default_value_t = plan_defaults::MAX_BATCHES_PER_JOB,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_batches_per_job: u64,
    /// Bytes of boundary key values one plan may hold.
    #[arg(long, env = "FREIGHT_MAX_PLAN_KEY_BYTES", default_value_t = plan_defaults::MAX_KEY_BYTES_PER_JOB,
          value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_plan_key_bytes: u64,
    /// Bytes of schema text (names, types, defaults, CHECK and generated
    /// expressions, view definitions) one plan may hold.
    #[arg(long, env = "FREIGHT_MAX_PLAN_SCHEMA_BYTES", default_value_t = plan_defaults::MAX_SCHEMA_BYTES_PER_JOB,
          value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_plan_schema_bytes: u64,
    /// Tables one job may copy.
    #[arg(long, env = "FREIGHT_MAX_TABLES_PER_JOB", default_value_t = plan_defaults::MAX_TABLES_PER_JOB,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_tables_per_job: u64,
    /// Seconds one `plan_migration_job` may take.
    #[arg(long, env = "FREIGHT_PLAN_TIMEOUT_SECONDS", default_value_t = plan_slot_defaults::TIMEOUT_SECONDS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub plan_timeout_seconds: u64,
    /// Plans one tenant may run at the same time (per API process).
    #[arg(long, env = "FREIGHT_MAX_CONCURRENT_PLANS", default_value_t = plan_slot_defaults::CONCURRENT_PER_TENANT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_plans: u16,
}

/// A comma-separated list of egress rules.
#[derive(Debug, Clone, Default)]
pub struct EgressRules(pub Vec<EgressRule>);

fn parse_rules(raw: &str) -> Result<EgressRules, String> {
    EgressRule::parse_list(raw)
        .map(EgressRules)
        .map_err(|e| e.to_string())
}

impl Settings {
    /// The secret that signs tokens: `JWT_SECRET_KEY`, or in dev mode the
    /// public dev secret, with a loud warning.
    pub fn jwt_secret(&self) -> anyhow::Result<String> {
        match &self.jwt_secret_key {
            Some(secret) if secret.expose().len() >= 16 => Ok(secret.expose().to_owned()),
            Some(_) => bail!("JWT_SECRET_KEY must be at least 16 characters"),
            None if self.dev_mode => {
                // Asked for by several parts at start-up; said once.
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| {
                    tracing::warn!(
                        "JWT_SECRET_KEY is not set: dev mode uses a PUBLIC development secret. \
                         Anyone can mint tokens for this instance. Never run like this in production."
                    );
                });
                Ok(DEV_JWT_SECRET.to_owned())
            }
            None => bail!(
                "JWT_SECRET_KEY is not set. Set it to a random string of at least 16 characters \
                 (e.g. `openssl rand -hex 32`), or set FREIGHT_DEV_MODE=true for the public \
                 development secret (the one `freight dev` signs with when JWT_SECRET_KEY is unset)."
            ),
        }
    }

    /// Whether tokens are signed with the public dev secret.
    pub fn jwt_secret_is_public(&self) -> bool {
        self.jwt_secret_key.is_none()
    }

    /// The key that seals connection configs. Required outside dev mode
    /// (only the roles that store or open configs ask for it).
    pub fn secret_box(&self) -> anyhow::Result<SecretBox> {
        let mut secrets = match &self.encryption_key {
            Some(key) if key.expose().len() >= 16 => SecretBox::from_key_material(key.expose()),
            Some(_) => bail!(
                "FREIGHT_ENCRYPTION_KEY must be at least 16 characters (64 hex characters = a raw 256-bit key)"
            ),
            None if self.dev_mode => {
                tracing::warn!(
                    "FREIGHT_ENCRYPTION_KEY is not set: dev mode derives the key that seals \
                     connection passwords from the JWT secret. Never run like this in production."
                );
                SecretBox::from_key_material(&self.jwt_secret()?)
            }
            None => bail!(
                "FREIGHT_ENCRYPTION_KEY is not set. It seals the connection passwords of jobs: set it to \
                 64 hex characters (`openssl rand -hex 32`), apart from JWT_SECRET_KEY. An installation \
                 whose key was derived from JWT_SECRET_KEY (before this setting was required) also sets \
                 FREIGHT_PREVIOUS_ENCRYPTION_KEY to that JWT secret and runs `freight reseal` once."
            ),
        };
        if let Some(previous) = &self.previous_encryption_key {
            secrets = secrets.with_previous_key(previous.expose());
        }
        Ok(secrets)
    }

    /// The worker's dispatch settings (timings from the environment, the
    /// rest from [`DispatchConfig::new`]).
    pub fn dispatch_config(&self) -> DispatchConfig {
        let mut config =
            DispatchConfig::new(&self.queue_name, usize::from(self.worker_concurrency));
        config.shutdown_grace = Duration::from_secs(self.shutdown_grace_seconds);
        config.lease_ttl = Duration::from_millis(self.lease_ms);
        config.reconcile_interval = Duration::from_millis(self.reconcile_interval_ms);
        config.redispatch_after = Duration::from_millis(self.redispatch_after_ms);
        config.retry_backoff_base = Duration::from_millis(self.retry_backoff_ms);
        config.heartbeat_interval = Duration::from_millis(self.heartbeat_ms);
        config
    }

    /// How this process's webhook sender works.
    pub fn webhook_config(&self) -> SenderConfig {
        SenderConfig {
            poll_interval: Duration::from_millis(self.webhook_poll_ms),
            lease: Duration::from_millis(self.webhook_lease_ms),
            max_attempts: self.webhook_max_attempts,
            backoff_base: Duration::from_millis(self.webhook_backoff_ms),
            backoff_max: Duration::from_millis(self.webhook_backoff_max_ms),
            batch: self.webhook_batch,
            request_timeout: Duration::from_millis(self.webhook_timeout_ms),
            ..SenderConfig::default()
        }
    }
}
