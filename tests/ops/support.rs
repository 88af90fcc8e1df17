//! Real processes for the operations tests: the built `freight` binary,
//! Prometheus, a private Redis; free ports; polling with deadlines.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use freight_core::tokens::{Role, TokenKeys};
use tokio::process::{Child, Command};

/// The JWT secret the spawned processes use (long enough for Settings).
pub const JWT_SECRET: &str = "ops-test-jwt-secret-0123456789abcdef";
/// Seals connection configs in the processes the ops tests start.
pub const ENCRYPTION_KEY: &str = "ops-test-encryption-key-0123456789";
pub const MARIADB: &str = "mysql://root@127.0.0.1:3306";

/// The repository root (where docker-compose.yml lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A unique short suffix for names (queues, tenants, files).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Polls `check` until it returns `Some`, failing with `what` (and the
/// last observation) after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A token for `tenant` signed with [`JWT_SECRET`].
pub fn token(tenant: &str) -> String {
    TokenKeys::new(JWT_SECRET)
        .mint(
            "ops-test",
            &[tenant.to_owned()],
            Role::Engineer,
            chrono::Duration::hours(1),
        )
        .expect("mint token")
}

/// A spawned `freight <command>`, its stderr captured in a file. Killed
/// when dropped.
pub struct Freight {
    pub child: Child,
    pub log: PathBuf,
    pub api_port: u16,
    pub metrics_port: u16,
}

/// What to start: the subcommand and the environment beyond the defaults.
pub struct FreightSpec {
    command: &'static str,
    args: Vec<String>,
    env: HashMap<String, String>,
}

impl FreightSpec {
    /// `freight <command>` against `database_url` and the shared Redis, on
    /// free ports, with a queue of its own and fast dispatch timings.
    pub fn new(command: &'static str, database_url: &str) -> Self {
        let env: HashMap<String, String> = [
            ("DATABASE_URL", database_url.to_owned()),
            ("REDIS_URL", freight_api::testing::redis_url()),
            ("JWT_SECRET_KEY", JWT_SECRET.to_owned()),
            ("FREIGHT_ENCRYPTION_KEY", ENCRYPTION_KEY.to_owned()),
            ("FREIGHT_HOST", "127.0.0.1".to_owned()),
            ("FREIGHT_QUEUE", unique("freight-ops:")),
            ("ENABLE_METRICS", "true".to_owned()),
            ("SHUTDOWN_GRACE_SECONDS", "15".to_owned()),
            ("WORKER_CONCURRENCY", "2".to_owned()),
            ("FREIGHT_LEASE_MS", "3000".to_owned()),
            ("FREIGHT_RECONCILE_INTERVAL_MS", "200".to_owned()),
            ("FREIGHT_REDISPATCH_AFTER_MS", "3000".to_owned()),
            ("FREIGHT_RETRY_BACKOFF_MS", "100".to_owned()),
            ("FREIGHT_HEARTBEAT_MS", "500".to_owned()),
            ("RUST_LOG", "info,sqlx=warn".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self {
            command,
            args: Vec::new(),
            env,
        }
    }

    /// An argument after the subcommand.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.insert(name.to_owned(), value.into());
        self
    }

    pub fn spawn(self) -> Freight {
        let api_port = free_port();
        let metrics_port = free_port();
        let log =
            std::env::temp_dir().join(format!("{}-{}.log", unique("freight-ops-"), self.command));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_freight"));
        command
            .arg(self.command)
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FREIGHT_PORT", api_port.to_string())
            .env("METRICS_PORT", metrics_port.to_string())
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true);
        let child = command.spawn().expect("spawn freight");
        Freight {
            child,
            log,
            api_port,
            metrics_port,
        }
    }
}

impl Freight {
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    /// Everything the process logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test (with the log) if the process has already exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("freight exited early with {status}; log:\n{}", self.logs());
        }
    }

    /// Waits until a line of the log satisfies `matches`.
    pub async fn wait_for_log_line(&mut self, matches: impl Fn(&str) -> bool) {
        let limit = Duration::from_secs(60);
        let deadline = tokio::time::Instant::now() + limit;
        while !self.logs().lines().any(&matches) {
            self.assert_running();
            assert!(
                tokio::time::Instant::now() < deadline,
                "the awaited line never appeared in the log within {limit:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `GET /ready` answers 200.
    pub async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            self.assert_running();
            if let Ok(response) = http.get(format!("{}/ready", self.base_url())).send().await
                && response.status() == 200
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "freight never became ready; log:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        signal(self.pid(), "TERM");
    }

    /// Waits for the exit status, failing after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.expect("wait for freight"),
            Err(_) => panic!(
                "freight did not exit within {limit:?}; log:\n{}",
                self.logs()
            ),
        }
    }
}

impl Drop for Freight {
    /// Keeps the log of a failed test for a look; removes it otherwise.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// `kill -<name> <pid>`.
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Fails with a clear message when a tool the test needs is missing.
pub fn require_tool(path: &str, package: &str) -> PathBuf {
    let found = if path.contains('/') {
        Some(PathBuf::from(path)).filter(|p| p.exists())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(path))
                .find(|candidate| candidate.exists())
        })
    };
    found.unwrap_or_else(|| {
        panic!(
            "`{path}` is not installed: install the Debian package `{package}` \
             (apt-get install {package}); scripts/test.sh does this"
        )
    })
}

/// Loads the compose stack's sample database (deploy/mariadb/01-shop.sql)
/// into a new MariaDB database, exactly as the MariaDB image does, and
/// returns its name.
pub async fn mariadb_shop() -> String {
    let name = unique("freight_ops_shop_");
    let admin = sqlx::mysql::MySqlPool::connect(&format!("{MARIADB}/mysql"))
        .await
        .expect("MariaDB reachable on 127.0.0.1:3306");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .execute(&admin)
        .await
        .expect("create the sample database");
    admin.close().await;
    let seed = std::fs::File::open(repo_root().join("deploy/mariadb/01-shop.sql"))
        .expect("deploy/mariadb/01-shop.sql");
    let output = Command::new(require_tool("mariadb", "mariadb-client"))
        .args(["-h127.0.0.1", "-P3306", "-uroot"])
        .arg(format!("--database={name}"))
        .stdin(seed)
        .output()
        .await
        .expect("run the mariadb client");
    assert!(
        output.status.success(),
        "loading 01-shop.sql failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    name
}

/// Reads a file of the repository.
pub fn read(path: impl AsRef<Path>) -> String {
    let path = repo_root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
