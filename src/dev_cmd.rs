//! `freight dev`: the whole service in one process with nothing else
//! installed. The system of record is a SQLite file (`<data-dir>/freight.db`),
//! batches go through apalis-sqlite (`<data-dir>/queue.db`), rate limits are
//! counted in process, and the connection policy trusts the one local user
//! (SQLite files anywhere, loopback databases). Restarting on the same data
//! directory resumes every unfinished job: the reconciler finds them in the
//! store as it does after any crash.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use freight_core::store::dispatch::DispatchStore;
use freight_core::store::sqlite::SqliteStore;
use freight_core::tokens::{Role, TokenKeys};
use freight_worker::dispatch;
use freight_worker::webhooks::WebhookSender;
use tokio_util::sync::CancellationToken;

use crate::demo::{self, DemoFiles};
use crate::settings::Settings;

/// The tenant `freight dev` prints a token for.
pub const DEMO_TENANT: &str = "demo";

#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// Where Freight keeps its records (`freight.db`) and its queue
    /// (`queue.db`); created when missing.
    #[arg(long, env = "FREIGHT_DATA_DIR", default_value = "./freight-data")]
    pub data_dir: PathBuf,
    /// Also create a small sample SQLite database (`<data-dir>/demo/shop.db`)
    /// and print the request that migrates it.
    #[arg(long)]
    pub demo: bool,
}

/// The file whose lock keeps a data directory to one process.
pub const LOCK_FILE: &str = "freight.lock";

/// One `freight dev` per data directory: an exclusive advisory lock
/// (`flock`) on `<data-dir>/freight.lock`, held for the life of the
/// process and released by the OS however it ends (a `kill -9` included),
/// so a stale file never blocks a restart. The file holds the holder's pid,
/// for the message a second process gets. Two processes on one directory
/// would each run a reconciler and a queue consumer over the same files,
/// each announcing its job changes only to itself.
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

impl DataDirLock {
    /// Takes the lock of `data_dir`, or explains who holds it.
    pub fn take(data_dir: &Path) -> anyhow::Result<Self> {
        use std::io::Write as _;

        let path = data_dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|pid| pid.trim().parse::<u32>().ok())
                    .map(|pid| format!(" (pid {pid})"))
                    .unwrap_or_default();
                anyhow::bail!(
                    "the data directory {} is in use by another `freight dev`{holder}: stop that \
                     one first, or give this one a directory of its own with --data-dir \
                     (FREIGHT_DATA_DIR)",
                    data_dir.display()
                );
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("lock {}", path.display()));
            }
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .with_context(|| format!("write {}", path.display()))?;
        Ok(Self { _file: file })
    }
}

/// Where the dev API listens: loopback unless a host was asked for, since
/// anyone who reaches it can mint tokens with the public dev secret.
pub fn dev_host(settings: &Settings, host_was_given: bool) -> String {
    if host_was_given {
        settings.host.clone()
    } else {
        "127.0.0.1".into()
    }
}

pub async fn run(
    mut settings: Settings,
    args: DevArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    settings.dev_mode = true;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("create the data directory {}", args.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&args.data_dir)
        .with_context(|| format!("resolve {}", args.data_dir.display()))?;
    // Held until this function returns; the OS releases it however the
    // process ends.
    let _lock = DataDirLock::take(&data_dir)?;

    let secrets = settings.secret_box()?;
    let store = SqliteStore::open(&data_dir.join("freight.db"), 8, secrets.clone())
        .await
        .with_context(|| format!("open {}", data_dir.join("freight.db").display()))?;
    store.migrate().await.context("apply migrations")?;
    // With the lock held and no worker of ours started yet, every lease in
    // the store is an earlier process's (a `kill -9`, a crash): hand its
    // batches out again now rather than after the lease runs out.
    let taken = store
        .take_over_from_earlier_processes()
        .await
        .context("take over from an earlier process on this data directory")?;
    if !taken.is_empty() {
        tracing::warn!(
            batches = taken.batches,
            job_leases = taken.jobs,
            other_leases = taken.other_leases,
            workers = taken.workers,
            "an earlier process on this data directory did not stop cleanly; what it held is handed out again"
        );
    }
    let store = Arc::new(store);
    let identity = store
        .identity()
        .context("read the identity of Freight's database")?;
    let mut policy = crate::connection_policy::connection_policy(&settings, identity, None).await?;
    // The queue's database (and its -wal, -shm, -journal) is Freight's too.
    for file in freight_core::policy::DatabaseIdentity::sqlite_files(&data_dir.join("queue.db")) {
        policy = policy.protect_database(file);
    }

    let demo_files = DemoFiles::under(&data_dir);
    if args.demo {
        demo::ensure_source(&demo_files)
            .await
            .context("create the demo database")?;
    }

    crate::telemetry::init_metrics_on(&settings, settings.host.parse().ok())?;
    let state = crate::api_state(&settings, store.clone(), None, policy.clone())?;

    let addr = format!("{}:{}", settings.host, settings.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    let token = TokenKeys::new(&settings.jwt_secret()?)
        .mint(
            "dev",
            &[DEMO_TENANT.to_owned()],
            Role::Engineer,
            chrono::Duration::hours(settings.token_expiry_hours),
        )
        .context("mint the demo token")?;
    let base = format!("http://{}", listener.local_addr()?);
    print_banner(
        &settings,
        &base,
        &token,
        &data_dir,
        args.demo.then_some(&demo_files),
    );

    // The API, the workers and the webhook sender stop together.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let engine = crate::connection_policy::engine(&settings, policy.clone());
    let stop_sender = CancellationToken::new();
    let sender = WebhookSender::new(
        store.clone(),
        secrets,
        Arc::new(policy),
        settings.webhook_config(),
    );
    let sender = tokio::spawn(sender.run(stop_sender.clone()));
    let queue = dispatch::queue::sqlite::open(&data_dir.join("queue.db"), &settings.queue_name)
        .await
        .context("open the embedded queue")?;
    let dispatch_store: Arc<dyn DispatchStore> = store.clone();
    let api = freight_api::serve(
        listener,
        state,
        stopped(),
        Duration::from_secs(settings.shutdown_grace_seconds),
    );
    let workers = dispatch::run_workers(
        dispatch_store,
        Arc::new(engine),
        settings.dispatch_config(),
        queue,
        stopped(),
    );
    let (api, workers) = tokio::join!(api, workers);
    stop_sender.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(15), sender).await;
    api?;
    workers
}

fn print_banner(
    settings: &Settings,
    base: &str,
    token: &str,
    data_dir: &Path,
    demo: Option<&DemoFiles>,
) {
    let metrics = if settings.enable_metrics {
        format!("http://{}:{}/metrics", settings.host, settings.metrics_port)
    } else {
        "off (ENABLE_METRICS=false)".into()
    };
    println!(
        "\nFreight dev: API, workers and reconciler in this process; records and queue in {data}\n\
         (no PostgreSQL, no Redis).\n\n  \
         API        {base}/api/v1\n  \
         Docs       {base}/docs\n  \
         Dashboard  {base}/ui/#/jobs?tenant={DEMO_TENANT}&token={token}\n  \
         Metrics    {metrics}\n  \
         Tenant     {DEMO_TENANT}\n  \
         Token      {token}\n\n  \
         export FREIGHT_URL={base} FREIGHT_TENANT={DEMO_TENANT} FREIGHT_TOKEN={token}\n",
        data = data_dir.display(),
    );
    if let Some(files) = demo {
        println!(
            "First migration: the sample shop database into a new SQLite file\n  \
             curl -s $FREIGHT_URL/api/v1/jobs -H \"Authorization: Bearer $FREIGHT_TOKEN\" \
             -H \"X-Tenant-ID: $FREIGHT_TENANT\" -H 'content-type: application/json' \\\n    \
             -d '{{\"source_config\":{{\"type\":\"sqlite\",\"database\":\"{source}\"}},\
             \"target_config\":{{\"type\":\"sqlite\",\"database\":\"{target}\"}},\"started_by\":\"you\"}}'\n\
             then open the Dashboard link above (or GET $FREIGHT_URL/api/v1/jobs/<id>).\n",
            source = files.source.display(),
            target = files.target.display(),
        );
    }
    let secret = if settings.jwt_secret_is_public() {
        "a PUBLIC JWT secret (anyone who reaches this port can mint tokens), "
    } else {
        ""
    };
    println!(
        "WARNING: dev mode trusts a single local user: {secret}job connections may read and write \
         SQLite files anywhere this process can and reach databases on loopback. Never expose it \
         to a network or share it between people; run the production stack for that.\n"
    );
    tracing::warn!(
        "freight dev: single trusted local user; not for shared or networked use ({})",
        data_dir.display()
    );
}
