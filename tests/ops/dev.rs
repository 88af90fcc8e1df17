//! `freight dev`: the whole service in one process with no PostgreSQL and
//! no Redis (both URLs point at closed ports, so any attempt to reach them
//! would fail the job), a demo database to migrate, and a `kill -9` or a
//! SIGTERM in the middle of a job that loses nothing once it is started
//! again on the same data directory (after a `kill -9`, without waiting
//! out the killed process's leases), and one process per data directory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, SqliteConnection};

use crate::support::{FreightSpec, eventually, free_port, signal, token, unique};

const ROWS: i64 = 120_000;

fn data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("freight-dev-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `freight dev` on `data_dir`, with nothing else to talk to.
fn dev(data_dir: &Path) -> FreightSpec {
    FreightSpec::new("dev", "postgres://nobody@127.0.0.1:1/unreachable")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("FREIGHT_DATA_DIR", data_dir.display().to_string())
        .env("WORKER_CONCURRENCY", "1")
}

async fn open(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

/// Every row of `table`, in key order, as text.
async fn rows(path: &Path, table: &str) -> Vec<(i64, String)> {
    let mut conn = open(path).await;
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT id, name || '|' || coalesce(amount, 'null') || '|' || coalesce(note, 'null') \
         FROM {table} ORDER BY id"
    )))
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

async fn create_source(path: &Path) {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount REAL, note TEXT)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // One statement: a recursive series is far faster than row-by-row inserts.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO items SELECT i, 'item ' || i || ' ✓', i * 0.25,
                CASE WHEN i % 7 = 0 THEN NULL ELSE 'note\t' || (i % 13) END FROM n",
    )
    .bind(ROWS)
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn job(http: &reqwest::Client, base: &str, tenant: &str, id: &str) -> Value {
    http.get(format!("{base}/api/v1/jobs/{id}"))
        .bearer_auth(token(tenant))
        .header("X-Tenant-ID", tenant)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn create_job(http: &reqwest::Client, base: &str, tenant: &str, body: &Value) -> String {
    let response = http
        .post(format!("{base}/api/v1/jobs"))
        .bearer_auth(token(tenant))
        .header("X-Tenant-ID", tenant)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

async fn until_final(http: &reqwest::Client, base: &str, tenant: &str, id: &str) -> Value {
    eventually(Duration::from_secs(120), "the job to finish", || async {
        let job = job(http, base, tenant, id).await;
        match job["status"].as_str() {
            Some("completed" | "completed_with_errors" | "failed" | "cancelled") => Ok(job),
            _ => Err(job.to_string()),
        }
    })
    .await
}

#[tokio::test]
async fn a_kill_9_in_the_middle_of_a_job_loses_nothing_after_a_restart() {
    stopped_mid_job_then_restarted("KILL").await;
}

/// `freight dev`'s counterpart of engine_e2e's SIGTERM test of
/// `freight worker`.
#[tokio::test]
async fn a_sigterm_in_the_middle_of_a_job_finishes_in_flight_batches_and_exits_0() {
    stopped_mid_job_then_restarted("TERM").await;
}

/// Stops `freight dev` with `signal` in the middle of a job, starts it
/// again on the same data directory, and checks the job completes with
/// target == source, row for row.
async fn stopped_mid_job_then_restarted(signal_name: &str) {
    let data = data_dir();
    let source = data.join("source.db");
    let target = data.join("target.db");
    create_source(&source).await;
    let http = reqwest::Client::new();
    let tenant = unique("dev");

    // Leases far longer than the test may take: the restarted process
    // hands out what the killed one held at once, or the job never ends.
    let dev = |data: &Path| dev(data).env("FREIGHT_LEASE_MS", "600000");
    let mut first = dev(&data).spawn();
    first.wait_ready(&http).await;
    let base = first.base_url();
    let id = create_job(
        &http,
        &base,
        &tenant,
        &json!({
            "source_config": {"type": "sqlite", "database": source.display().to_string()},
            "target_config": {"type": "sqlite", "database": target.display().to_string()},
            "batch_size": 500,
            "started_by": "ops-test",
        }),
    )
    .await;
    eventually(Duration::from_secs(60), "rows written", || async {
        let job = job(&http, &base, &tenant, &id).await;
        if job["rows_written"].as_i64().unwrap_or(0) > 0 {
            Ok(())
        } else {
            Err(job.to_string())
        }
    })
    .await;
    // A `kill -9` catches a batch in flight: its write waits on a lock of
    // the target, held until the process is gone.
    let mut blocker = None;
    if signal_name == "KILL" {
        let mut conn = open(&target).await;
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut conn)
            .await
            .unwrap();
        let mut store = open(&data.join("freight.db")).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut seen: Option<String> = None;
        loop {
            let running: Option<String> =
                sqlx::query_scalar("SELECT id FROM batches WHERE status = 'running' LIMIT 1")
                    .fetch_optional(&mut store)
                    .await
                    .unwrap();
            // The same batch on two looks: not one finishing a write made
            // before the lock.
            if running.is_some() && running == seen {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no batch stuck running: {running:?}"
            );
            seen = running;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        store.close().await.unwrap();
        blocker = Some(conn);
    }
    signal(first.pid(), signal_name);
    let exit = first.wait_exit(Duration::from_secs(30)).await;
    if let Some(mut conn) = blocker {
        sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }

    // The store says the job was cut off mid-way.
    let mut store = open(&data.join("freight.db")).await;
    let (status, done, total): (String, i64, i64) = sqlx::query_as(
        "SELECT j.status,
                (SELECT count(*) FROM batches b WHERE b.job_id = j.id AND b.status = 'completed'),
                (SELECT count(*) FROM batches b WHERE b.job_id = j.id)
         FROM jobs j",
    )
    .fetch_one(&mut store)
    .await
    .unwrap();
    assert_eq!(status, "running");
    assert!(
        done < total,
        "{done} of {total} batches were done before the {signal_name}"
    );
    if signal_name == "KILL" {
        let running: i64 =
            sqlx::query_scalar("SELECT count(*) FROM batches WHERE status = 'running'")
                .fetch_one(&mut store)
                .await
                .unwrap();
        assert!(running > 0, "a batch was in flight when the process died");
    }
    if signal_name == "TERM" {
        assert!(exit.success(), "exit 0 after SIGTERM: {exit:?}");
        // In-flight batches finished: none left running, and the target
        // holds exactly the completed batches' rows.
        let (running, written): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'running'), coalesce(sum(rows_written), 0)
             FROM batches",
        )
        .fetch_one(&mut store)
        .await
        .unwrap();
        assert_eq!(running, 0, "no batch left running");
        let mut target_db = open(&target).await;
        let in_target: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
            .fetch_one(&mut target_db)
            .await
            .unwrap();
        target_db.close().await.unwrap();
        assert_eq!(in_target, written, "only whole batches in the target");
    }
    store.close().await.unwrap();

    let mut second = dev(&data).spawn();
    second.wait_ready(&http).await;
    let base = second.base_url();
    let finished = until_final(&http, &base, &tenant, &id).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    assert_eq!(finished["rows_written"], ROWS, "{finished}");
    if signal_name == "KILL" {
        let logs = second.logs();
        assert!(
            logs.contains("did not stop cleanly"),
            "the restart took over from the killed process: {logs}"
        );
    }

    let copied = rows(&target, "items").await;
    assert_eq!(copied.len(), usize::try_from(ROWS).unwrap());
    assert!(
        copied == rows(&source, "items").await,
        "target differs from source"
    );
    second.terminate();
    second.wait_exit(Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn the_demo_database_migrates_with_nothing_installed() {
    let data = data_dir();
    let http = reqwest::Client::new();
    let tenant = unique("dev");
    let mut freight = dev(&data).arg("--demo").spawn();
    freight.wait_ready(&http).await;
    let base = freight.base_url();

    // Readiness names what this mode runs on.
    let ready: Value = http
        .get(format!("{base}/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["sqlite"], true, "{ready}");
    assert_eq!(ready["postgres"], Value::Null, "{ready}");
    assert_eq!(ready["redis"], Value::Null, "{ready}");

    let source = data.join("demo").join("shop.db");
    let target = data.join("demo").join("warehouse.db");
    assert!(source.exists(), "--demo creates {}", source.display());
    let id = create_job(
        &http,
        &base,
        &tenant,
        &json!({
            "source_config": {"type": "sqlite", "database": source.display().to_string()},
            "target_config": {"type": "sqlite", "database": target.display().to_string()},
            "started_by": "ops-test",
        }),
    )
    .await;
    let finished = until_final(&http, &base, &tenant, &id).await;
    assert_eq!(finished["status"], "completed", "{finished}");

    let mut copied = open(&target).await;
    let mut original = open(&source).await;
    for table in ["customers", "orders", "page_views"] {
        let query = format!("SELECT count(*) FROM {table}");
        let want: i64 = sqlx::query_scalar(AssertSqlSafe(query.clone()))
            .fetch_one(&mut original)
            .await
            .unwrap();
        let got: i64 = sqlx::query_scalar(AssertSqlSafe(query))
            .fetch_one(&mut copied)
            .await
            .unwrap();
        assert!(want > 0);
        assert_eq!(got, want, "{table}");
    }
    // `email TEXT NOT NULL UNIQUE` holds on the target too.
    let unique: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM pragma_index_list('customers') WHERE \"unique\" = 1 AND origin <> 'pk'",
    )
    .fetch_all(&mut copied)
    .await
    .unwrap();
    assert_eq!(unique, ["customers_email_key"]);
    let duplicate = sqlx::query(
        "INSERT INTO customers (name, email, joined_at)
         SELECT name, email, joined_at FROM customers LIMIT 1",
    )
    .execute(&mut copied)
    .await;
    assert!(duplicate.is_err(), "a duplicate email was accepted");
    freight.terminate();
    freight.wait_exit(Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir_all(&data);
}

/// A port that counts who connects to it (and answers nothing).
async fn trap() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, connections)
}

/// `freight dev --demo` as a first-time user runs it: in an empty directory,
/// with no secret, no data directory and no settings beyond the ports. It
/// prints a banner with a working token, warns about the public secret,
/// keeps its files in `./freight-data`, serves metrics, migrates the demo
/// database, and never connects to PostgreSQL or Redis even though the
/// usual variables point at (counting) listeners.
#[tokio::test]
async fn dev_out_of_the_box_prints_a_working_token_and_touches_no_postgres_or_redis() {
    let cwd = data_dir();
    let (pg_port, pg_connections) = trap().await;
    let (redis_port, redis_connections) = trap().await;
    let (api_port, metrics_port) = (free_port(), free_port());
    let stdout_path = cwd.join("stdout.txt");
    let stderr_path = cwd.join("stderr.txt");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_freight"))
        .args(["dev", "--demo"])
        .current_dir(&cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FREIGHT_PORT", api_port.to_string())
        .env("METRICS_PORT", metrics_port.to_string())
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{pg_port}/freight"),
        )
        .env("REDIS_URL", format!("redis://127.0.0.1:{redis_port}"))
        .env("RUST_LOG", "info,sqlx=warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let banner = eventually(Duration::from_secs(60), "the banner", || async {
        let out = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        if out.contains("FREIGHT_TOKEN=") && out.contains("WARNING") {
            Ok(out)
        } else {
            Err(format!(
                "stdout: {out}\nstderr: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            ))
        }
    })
    .await;
    let base = format!("http://127.0.0.1:{api_port}");
    assert!(banner.contains(&format!("{base}/api/v1")), "{banner}");
    assert!(banner.contains(&format!("{base}/docs")), "{banner}");
    assert!(
        banner.contains(&format!("{base}/ui/#/jobs?tenant=demo&token=")),
        "{banner}"
    );
    assert!(banner.contains("PUBLIC JWT secret"), "{banner}");
    let token = banner
        .split("FREIGHT_TOKEN=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();

    // The printed token works, for tenant `demo` only.
    let http = reqwest::Client::new();
    let jobs = |tenant: &'static str| {
        http.get(format!("{base}/api/v1/jobs"))
            .bearer_auth(&token)
            .header("X-Tenant-ID", tenant)
            .send()
    };
    assert_eq!(jobs("demo").await.unwrap().status(), 200);
    assert_eq!(jobs("other").await.unwrap().status(), 403);
    // Another tenant's token, minted as the README says.
    let minted = std::process::Command::new(env!("CARGO_BIN_EXE_freight"))
        .args(["token", "--tenant", "other"])
        .env_clear()
        .env("FREIGHT_DEV_MODE", "true")
        .output()
        .unwrap();
    assert!(minted.status.success(), "{minted:?}");
    let other = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let response = http
        .get(format!("{base}/api/v1/jobs"))
        .bearer_auth(&other)
        .header("X-Tenant-ID", "other")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // The README shows this banner (the demo's request aside), with the
    // usual ports and a home directory.
    let data_dir = std::fs::canonicalize(cwd.join("freight-data")).unwrap();
    let normalized = banner
        .replace(&token, "eyJ…")
        .replace(&base, "http://127.0.0.1:8000")
        .replace(
            &format!("http://127.0.0.1:{metrics_port}"),
            "http://127.0.0.1:9090",
        )
        .replace(
            &data_dir.display().to_string(),
            "/home/you/freight/freight-data",
        );
    let mut shown = Vec::new();
    let mut in_demo = false;
    for line in normalized.lines() {
        if line.starts_with("First migration:") {
            in_demo = true;
        } else if line.starts_with("WARNING") {
            in_demo = false;
        }
        if !in_demo {
            shown.push(line);
        }
    }
    let shown = shown.join("\n");
    let readme = crate::support::read("README.md");
    let documented = readme
        .split("<!-- dev-banner -->\n```text\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the banner in README.md");
    assert_eq!(
        shown.trim(),
        documented.trim(),
        "README.md shows the banner as printed"
    );

    // Its files are in ./freight-data, the demo source among them.
    let data = cwd.join("freight-data");
    for file in ["freight.db", "queue.db", "demo/shop.db"] {
        assert!(data.join(file).exists(), "{file} in {}", data.display());
    }
    let created = http
        .post(format!("{base}/api/v1/jobs"))
        .bearer_auth(&token)
        .header("X-Tenant-ID", "demo")
        .json(&json!({
            "source_config": {"type": "sqlite", "database": data.join("demo/shop.db").display().to_string()},
            "target_config": {"type": "sqlite", "database": data.join("demo/warehouse.db").display().to_string()},
            "started_by": "ops-test",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let finished = eventually(Duration::from_secs(120), "the demo job", || async {
        let job: Value = http
            .get(format!("{base}/api/v1/jobs/{id}"))
            .bearer_auth(&token)
            .header("X-Tenant-ID", "demo")
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        match job["status"].as_str() {
            Some("completed" | "completed_with_errors" | "failed" | "cancelled") => Ok(job),
            _ => Err(job.to_string()),
        }
    })
    .await;
    assert_eq!(finished["status"], "completed", "{finished}");

    // Metrics on METRICS_PORT, the migration counted.
    let metrics = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("freight_"), "{metrics}");

    let logs = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(logs.contains("single trusted local user"), "{logs}");
    assert!(
        !logs.contains(&token),
        "the token is printed once, not logged"
    );
    assert_eq!(pg_connections.load(Ordering::SeqCst), 0, "no PostgreSQL");
    assert_eq!(redis_connections.load(Ordering::SeqCst), 0, "no Redis");

    signal(child.id().unwrap(), "TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&cwd);
}

/// The settings' flags work after the subcommand, as the README writes
/// them: `freight dev --host … --port …` listens there (the flag beats
/// FREIGHT_PORT), and `freight dev --help` lists them.
#[tokio::test]
async fn dev_takes_host_and_port_after_the_subcommand() {
    let data = data_dir();
    let port = free_port();
    // 127.0.0.2 is loopback too, but not the default 127.0.0.1.
    let mut freight = dev(&data)
        .arg("--host")
        .arg("127.0.0.2")
        .arg("--port")
        .arg(port.to_string())
        // Accepted, though dev has no use for it.
        .arg("--redis-url")
        .arg("redis://127.0.0.1:1")
        .spawn();
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(60), "ready on --host:--port", || {
        freight.assert_running();
        let http = http.clone();
        async move {
            match http
                .get(format!("http://127.0.0.2:{port}/ready"))
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    assert!(
        http.get(format!("{}/ready", freight.base_url()))
            .send()
            .await
            .is_err(),
        "still listening on FREIGHT_PORT"
    );

    let help = std::process::Command::new(env!("CARGO_BIN_EXE_freight"))
        .args(["dev", "--help"])
        .output()
        .expect("freight dev --help");
    assert!(help.status.success(), "{help:?}");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--host") && text.contains("--port") && text.contains("--demo"),
        "{text}"
    );
    // It says where dev listens, describes its flags in plain words, and
    // leaves out the settings it ignores.
    assert!(text.contains("127.0.0.1"), "{text}");
    assert!(!text.contains("[default: 0.0.0.0]"), "{text}");
    assert!(!text.contains("[`"), "no rustdoc links: {text}");
    for ignored in [
        "--database-url",
        "--database-max-connections",
        "--redis-url",
        "--queue-name",
        "--dev-mode",
    ] {
        assert!(!text.contains(ignored), "{ignored} in {text}");
    }
    for described in ["--host", "--port", "--enable-metrics"] {
        let line = text
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(described))
            .nth(1)
            .unwrap_or_default();
        assert!(
            !line.trim_start().starts_with('[') && !line.trim_start().starts_with("--"),
            "{described} has a description: {text}"
        );
    }
    // Other commands still list them.
    let api_help = std::process::Command::new(env!("CARGO_BIN_EXE_freight"))
        .args(["api", "--help"])
        .output()
        .expect("freight api --help");
    assert!(
        String::from_utf8_lossy(&api_help.stdout).contains("--database-url"),
        "{api_help:?}"
    );
    freight.terminate();
    freight.wait_exit(Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir_all(&data);
}

/// A second `freight dev` on a data directory in use is refused at once,
/// with the directory and the pid of the one using it, and exits non-zero;
/// the first goes on serving.
#[tokio::test]
async fn a_second_dev_on_the_same_data_directory_is_refused() {
    let data = data_dir();
    let http = reqwest::Client::new();
    let mut first = dev(&data).spawn();
    first.wait_ready(&http).await;

    let mut second = dev(&data).spawn();
    let exit = second.wait_exit(Duration::from_secs(30)).await;
    assert!(!exit.success(), "refused: {exit:?}");
    let logs = second.logs();
    let canonical = std::fs::canonicalize(&data).unwrap();
    assert!(
        logs.contains(&format!(
            "the data directory {} is in use by another `freight dev` (pid {})",
            canonical.display(),
            first.pid()
        )),
        "{logs}"
    );
    assert!(
        !logs.contains("worker starting"),
        "it started nothing: {logs}"
    );

    first.assert_running();
    let ready = http
        .get(format!("{}/ready", first.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    first.terminate();
    assert!(first.wait_exit(Duration::from_secs(30)).await.success());
    let _ = std::fs::remove_dir_all(&data);
}
