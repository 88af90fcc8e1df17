//! The `freight` binary: composes the API and the workers.

mod connection_policy;
mod demo;
mod dev_cmd;
mod settings;
mod telemetry;
mod worker_cmd;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use freight_core::plan::Planner;
use freight_core::policy::ConnectionPolicy;
use freight_core::store::Store;
use freight_core::store::postgres::PgStore;
use freight_core::tokens::{Role, TokenKeys};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use settings::Settings;

#[derive(Parser)]
#[command(
    name = "freight",
    version,
    about = "Tenant-scoped, batch-based database migration service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API (applies migrations first).
    Api,
    /// Run migration workers.
    Worker,
    /// Serve the API and run workers in one process.
    All,
    /// Everything in one process with nothing else installed: records and
    /// queue in SQLite files under --data-dir, a single trusted local user.
    Dev(dev_cmd::DevArgs),
    /// Apply Freight's database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Re-seal every job's connection configs with FREIGHT_ENCRYPTION_KEY
    /// (after a key rotation; FREIGHT_PREVIOUS_ENCRYPTION_KEY opens the old ones).
    Reseal,
    /// Mint a JWT with the configured secret; prints only the token.
    Token {
        /// Tenant the token grants (repeatable).
        #[arg(long = "tenant", required_unless_present = "role")]
        tenants: Vec<String>,
        /// `engineer` (default) or `admin` (any tenant, admin routes).
        #[arg(long, default_value = "engineer")]
        role: Role,
        /// Who the token is for; recorded in the audit trail.
        #[arg(long, default_value = "cli")]
        subject: String,
        /// Lifetime in hours; default TOKEN_EXPIRY_HOURS.
        #[arg(long)]
        ttl_hours: Option<i64>,
    },
}

/// Settings `freight dev` has no use for (it runs on SQLite files, with no
/// Redis, always in dev mode): accepted, and left out of its `--help`.
const IGNORED_BY_DEV: [&str; 5] = [
    "database_url",
    "database_max_connections",
    "redis_url",
    "queue_name",
    "dev_mode",
];

/// The command line: the settings are global (taken after any
/// subcommand), and `freight dev --help` shows only those it uses.
fn cli_command() -> clap::Command {
    let command = Cli::command().mut_args(|arg| arg.global(true));
    // A global argument is copied into each subcommand that has none of its
    // name: `dev` gets hidden copies of these instead.
    let hidden: Vec<clap::Arg> = command
        .get_arguments()
        .filter(|arg| IGNORED_BY_DEV.contains(&arg.get_id().as_str()))
        .map(|arg| arg.clone().hide(true))
        .collect();
    command.mut_subcommand("dev", |dev| dev.args(hidden))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The settings are the process's, whatever the subcommand: `freight dev
    // --host 0.0.0.0 --port 8080` reads as naturally as the flags before
    // it, and each subcommand's `--help` lists them.
    let matches = cli_command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    telemetry::init_logging();
    let mut settings = cli.settings;
    match cli.command {
        Command::Dev(args) => {
            let signal = install_shutdown_signal()?;
            let host_was_given =
                matches.value_source("host") != Some(clap::parser::ValueSource::DefaultValue);
            settings.host = dev_cmd::dev_host(&settings, host_was_given);
            dev_cmd::run(settings, args, stopped(signal)).await
        }
        Command::Openapi => {
            print!("{}", freight_api::openapi_json());
            Ok(())
        }
        Command::Token {
            tenants,
            role,
            subject,
            ttl_hours,
        } => {
            for tenant in &tenants {
                freight_core::TenantId::parse(tenant)
                    .map_err(|e| anyhow::anyhow!("--tenant {tenant:?}: {e}"))?;
            }
            let ttl = chrono::Duration::hours(ttl_hours.unwrap_or(settings.token_expiry_hours));
            let token = TokenKeys::new(&settings.jwt_secret()?)
                .mint(&subject, &tenants, role, ttl)
                .context("mint token")?;
            println!("{token}");
            Ok(())
        }
        Command::Migrate => {
            connect_store(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Reseal => {
            let store = connect_store(&settings).await?;
            let report = store
                .reseal_all()
                .await
                .context("re-seal connection configs")?;
            println!(
                "re-sealed {} job(s); {} could not be opened with the configured keys",
                report.resealed, report.unreadable
            );
            if report.unreadable > 0 {
                anyhow::bail!("some connection configs could not be opened");
            }
            Ok(())
        }
        Command::Api => {
            let signal = install_shutdown_signal()?;
            settings.jwt_secret()?;
            let listener = bind_api(&settings).await?;
            let store = connect_store(&settings).await?;
            telemetry::init_metrics(&settings)?;
            run_api(&settings, store, listener, stopped(signal)).await
        }
        Command::Worker => {
            let signal = install_shutdown_signal()?;
            telemetry::init_metrics(&settings)?;
            worker_cmd::run(&settings, worker_cmd::Migrations::Apply, stopped(signal)).await
        }
        Command::All => {
            let signal = install_shutdown_signal()?;
            settings.jwt_secret()?;
            // The API's port first: a process that cannot serve it must not
            // start workers and keep running without it.
            let listener = bind_api(&settings).await?;
            let store = connect_store(&settings).await?;
            telemetry::init_metrics(&settings)?;
            // Either half failing stops the other, and the process exits
            // with the error.
            let failed = CancellationToken::new();
            let stop = |failed: CancellationToken, signal: watch::Receiver<bool>| async move {
                tokio::select! {
                    () = stopped(signal) => {}
                    () = failed.cancelled() => {}
                }
            };
            let api = async {
                let result = run_api(
                    &settings,
                    store,
                    listener,
                    stop(failed.clone(), signal.clone()),
                )
                .await;
                if let Err(e) = &result {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "the API stopped: stopping the workers"
                    );
                    failed.cancel();
                }
                result
            };
            let worker = async {
                let result = worker_cmd::run(
                    &settings,
                    worker_cmd::Migrations::AlreadyApplied,
                    stop(failed.clone(), signal.clone()),
                )
                .await;
                if let Err(e) = &result {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "the workers stopped: stopping the API"
                    );
                    failed.cancel();
                }
                result
            };
            let (api, worker) = tokio::join!(api, worker);
            api.and(worker)
        }
    }
}

async fn connect_store(settings: &Settings) -> anyhow::Result<Arc<PgStore>> {
    let store = PgStore::connect(
        settings.database_url.expose(),
        settings.database_max_connections,
        settings.secret_box()?,
    )
    .await
    .with_context(|| {
        format!(
            "connect to PostgreSQL at {}",
            freight_core::connection::redact_url(settings.database_url.expose())
        )
    })?;
    store.migrate().await.context("apply migrations")?;
    Ok(Arc::new(store))
}

/// The API's listening socket on `FREIGHT_HOST:FREIGHT_PORT`; an error
/// that says which address and setting (a port already taken ends start-up
/// with a non-zero exit, never a process running without its API).
async fn bind_api(settings: &Settings) -> anyhow::Result<tokio::net::TcpListener> {
    let addr = format!("{}:{}", settings.host, settings.port);
    tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot serve the API on {addr} (FREIGHT_HOST, FREIGHT_PORT)"))
}

async fn run_api(
    settings: &Settings,
    store: Arc<PgStore>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let redis = redis::Client::open(settings.redis_url.expose())
        .context("REDIS_URL is not a valid Redis URL")?;
    let identity = store
        .identity()
        .await
        .context("read the identity of Freight's database")?;
    let policy =
        connection_policy::connection_policy(settings, identity, Some(settings.redis_url.expose()))
            .await?;
    let state = api_state(settings, store, Some(redis), policy)?;
    serve_api(settings, listener, state, shutdown).await
}

/// The API's state: the planner behind `policy`, the settings' limits.
/// Without Redis (`freight dev`) rate limits are counted in process.
fn api_state(
    settings: &Settings,
    store: Arc<dyn Store>,
    redis: Option<redis::Client>,
    policy: ConnectionPolicy,
) -> anyhow::Result<freight_api::AppState> {
    let planner: Arc<dyn Planner> = Arc::new(freight_worker::engine::EnginePlanner::new(
        connection_policy::engine(settings, policy.clone()),
    ));
    let tokens = TokenKeys::new(&settings.jwt_secret()?);
    let state = match redis {
        Some(redis) => freight_api::AppState::new(store, planner, tokens, redis),
        None => freight_api::AppState::embedded(store, planner, tokens),
    };
    Ok(state
        .with_rate_limits(
            freight_api::rate_limit::RateLimits {
                requests_per_minute: settings.rate_limit_per_minute,
                creates_per_minute: settings.rate_limit_create_per_minute,
                anonymous_per_minute: settings.rate_limit_anonymous_per_minute,
            },
            &settings.queue_name,
        )
        .with_connection_policy(policy)
        .with_event_keep_alive(Duration::from_millis(settings.sse_keep_alive_ms))
        .with_plan_limits(freight_api::plan_slots::PlanLimits {
            concurrent_per_tenant: usize::from(settings.max_concurrent_plans),
            timeout: Duration::from_secs(settings.plan_timeout_seconds),
        }))
}

async fn serve_api(
    settings: &Settings,
    listener: tokio::net::TcpListener,
    state: freight_api::AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr().context("the API's address")?;
    tracing::info!(%addr, "API listening");
    freight_api::serve(
        listener,
        state,
        shutdown,
        Duration::from_secs(settings.shutdown_grace_seconds),
    )
    .await?;
    tracing::info!("API stopped");
    Ok(())
}

/// Installs the SIGTERM/SIGINT handlers right away, so a signal that
/// arrives during start-up (connecting, migrating) ends the process cleanly
/// instead of killing it, and returns a receiver that turns `true` on the
/// first signal.
fn install_shutdown_signal() -> anyhow::Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM received: shutting down"),
                _ = interrupt.recv() => tracing::info!("SIGINT received: shutting down"),
            }
            let _ = tx.send(true);
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// Resolves once a shutdown signal has been received.
async fn stopped(mut signal: watch::Receiver<bool>) {
    let _ = signal.wait_for(|stop| *stop).await;
}
