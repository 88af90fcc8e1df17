//! Credentials: a tenant connection is built from the tenant's config
//! alone, and a password anywhere in a URL is never shown back.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use sqlx::Connection;

use crate::common::assert_problem;
use crate::ops_support::{FreightSpec, free_port, token};
use crate::support::body;

/// A PostgreSQL server of its own that demands passwords (the machine's
/// trusts every local login), started from the installed binaries.
struct PasswordPostgres {
    dir: PathBuf,
    port: u16,
}

const SUPERUSER_PASSWORD: &str = "super-pw-for-tests";

fn pg_bin(name: &str) -> PathBuf {
    let lib = PathBuf::from("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(&lib)
        .unwrap_or_else(|e| panic!("{}: {e} (install postgresql)", lib.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    versions.pop().unwrap().join("bin").join(name)
}

fn as_postgres(program: PathBuf) -> Command {
    // initdb refuses to run as root.
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl PasswordPostgres {
    fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("freight-pwpg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
        let _ = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(&dir)
            .status();
        let data = dir.join("data");
        let init = as_postgres(pg_bin("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-A", "scram-sha-256", "-U", "postgres", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let port = free_port();
        let start = as_postgres(pg_bin("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                dir.display()
            ))
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(
            start.status.success(),
            "pg_ctl: {}",
            String::from_utf8_lossy(&start.stderr)
        );
        Self { dir, port }
    }

    fn url(&self, user: &str, password: Option<&str>, db: &str) -> String {
        match password {
            Some(pw) => format!("postgres://{user}:{pw}@127.0.0.1:{}/{db}", self.port),
            None => format!("postgres://{user}@127.0.0.1:{}/{db}", self.port),
        }
    }
}

impl Drop for PasswordPostgres {
    fn drop(&mut self) {
        let _ = as_postgres(pg_bin("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_password_less_tenant_url_does_not_log_in_with_freights_credentials() {
    let server = PasswordPostgres::start();
    let mut admin =
        sqlx::PgConnection::connect(&server.url("postgres", Some(SUPERUSER_PASSWORD), "postgres"))
            .await
            .unwrap();
    for statement in [
        "CREATE ROLE operator LOGIN PASSWORD 'operators-own-pw'",
        "CREATE DATABASE vault OWNER operator",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    admin.close().await.unwrap();
    let pgpass = server.dir.join("pgpass");
    std::fs::write(&pgpass, "*:*:*:*:operators-own-pw\n").unwrap();
    let control = freight_api::testing::fresh_database("freight_sec_inherit").await;
    let target = freight_api::testing::fresh_database("freight_sec_inherit_t").await;
    // Freight's processes (API and worker) carry the operator's PostgreSQL
    // credentials.
    let mut api = FreightSpec::new("all", &control)
        .env("PGPASSWORD", "operators-own-pw")
        .env("PGUSER", "operator")
        .env("PGPASSFILE", pgpass.display().to_string())
        .env("PGDATABASE", "vault")
        .spawn();
    let http = reqwest::Client::new();
    api.wait_ready(&http).await;
    let plan = |source: serde_json::Value| {
        http.post(format!("{}/api/v1/jobs/plan", api.base_url()))
            .bearer_auth(token("acme"))
            .header("X-Tenant-ID", "acme")
            .json(&body(source, json!({"type": "postgresql", "url": target})))
            .send()
    };
    // With its own password, the tenant gets in (the server is reachable).
    let ok = plan(json!({"type": "postgresql", "url": server.url("operator", Some("operators-own-pw"), "vault")}))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
    // Without one, Freight's PGPASSWORD / PGPASSFILE must not fill the gap.
    let refused = plan(json!({"type": "postgresql", "url": server.url("operator", None, "vault")}))
        .await
        .unwrap();
    let problem = assert_problem(refused, 422, "VALIDATION_ERROR").await;
    assert!(problem.to_string().contains("password"), "{problem}");
    let fields = plan(json!({"type": "postgresql", "host": "127.0.0.1", "port": server.port, "database": "vault", "user": "operator"}))
        .await
        .unwrap();
    assert_eq!(fields.status(), 422);
    // Nor PGUSER a missing user name.
    let no_user = plan(
        json!({"type": "postgresql", "url": format!("postgres://127.0.0.1:{}/vault", server.port)}),
    )
    .await
    .unwrap();
    assert_problem(no_user, 422, "CONNECTION_NOT_ALLOWED").await;

    // A created job is planned and copied by the worker, whose environment
    // carries the same credentials: it fails to log in, never getting in
    // with them.
    let created = http
        .post(format!("{}/api/v1/jobs", api.base_url()))
        .bearer_auth(token("acme"))
        .header("X-Tenant-ID", "acme")
        .json(&body(
            json!({"type": "postgresql", "url": server.url("operator", None, "vault")}),
            json!({"type": "postgresql", "url": target}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let finished = crate::support::final_job(&http, &api.base_url(), &id).await;
    assert_eq!(finished["status"], "failed", "{finished}");
    assert!(
        finished.to_string().contains("password"),
        "failed on the missing password: {finished}"
    );
    assert!(!api.logs().contains("operators-own-pw"));
}

#[tokio::test]
async fn query_string_passwords_never_appear_in_responses_or_logs() {
    let control = freight_api::testing::fresh_database("freight_sec_qs").await;
    let target = freight_api::testing::fresh_database("freight_sec_qs_t").await;
    let mut freight = FreightSpec::new("all", &control).spawn();
    let http = reqwest::Client::new();
    freight.wait_ready(&http).await;
    let secrets = [
        "qs-pass-Zq81",
        "ssl-pass-Wm22",
        "-----BEGIN PRIVATE KEY-----qs-key-Yk55",
    ];
    // The source database does not exist: the job fails, and its error is
    // shown too.
    let source_url = format!(
        "postgres://postgres@127.0.0.1:5432/no_such_db_{}?sslmode=disable&password={}",
        uuid::Uuid::new_v4().simple(),
        secrets[0],
    );
    let mut source_url = url::Url::parse(&source_url).unwrap();
    source_url
        .query_pairs_mut()
        .append_pair("sslkey", secrets[2]);
    // A parameter Freight refuses is named, its value not shown.
    let mut refused_url = source_url.clone();
    refused_url
        .query_pairs_mut()
        .append_pair("sslpassword", secrets[1]);
    let job_body = body(
        json!({"type": "postgresql", "url": source_url.to_string()}),
        json!({"type": "postgresql", "url": target}),
    );
    let request = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{}{path}", freight.base_url()))
            .bearer_auth(token("acme"))
            .header("X-Tenant-ID", "acme")
    };
    let created = request(reqwest::Method::POST, "/api/v1/jobs")
        .json(&job_body)
        .send()
        .await
        .unwrap();
    let status = created.status();
    let created_text = created.text().await.unwrap();
    assert_eq!(status, 201, "{created_text}");
    let job: serde_json::Value = serde_json::from_str(&created_text).unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    let mut shown = vec![created_text];
    let finished =
        crate::ops_support::eventually(Duration::from_secs(60), "the job to fail", || {
            let get = request(reqwest::Method::GET, &format!("/api/v1/jobs/{id}"));
            async move {
                let text = get
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .text()
                    .await
                    .map_err(|e| e.to_string())?;
                if text.contains("\"status\":\"failed\"") {
                    Ok(text)
                } else {
                    Err(text)
                }
            }
        })
        .await;
    shown.push(finished);
    for path in [
        "/api/v1/jobs".to_owned(),
        format!("/api/v1/jobs/{id}/logs"),
        format!("/api/v1/jobs/{id}/batches"),
        "/api/v1/audit".to_owned(),
    ] {
        shown.push(
            request(reqwest::Method::GET, &path)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    let plan = request(reqwest::Method::POST, "/api/v1/jobs/plan")
        .json(&job_body)
        .send()
        .await
        .unwrap();
    shown.push(plan.text().await.unwrap());
    let refused_body = body(
        json!({"type": "postgresql", "url": refused_url.to_string()}),
        json!({"type": "postgresql", "url": target}),
    );
    let refused = request(reqwest::Method::POST, "/api/v1/jobs")
        .json(&refused_body)
        .send()
        .await
        .unwrap();
    let refused = assert_problem(refused, 422, "CONNECTION_NOT_ALLOWED").await;
    assert!(refused.to_string().contains("sslpassword"), "{refused}");
    shown.push(refused.to_string());
    shown.push(freight.logs());
    for text in &shown {
        for secret in secrets {
            let needle = secret.trim_start_matches("-----BEGIN PRIVATE KEY-----");
            assert!(!text.contains(needle), "{needle} shown in: {text}");
        }
    }
    assert!(
        shown[1].contains("***"),
        "the URL is shown masked: {}",
        shown[1]
    );
}

#[tokio::test]
async fn freights_pg_variables_that_cannot_be_overridden_refuse_postgresql_connections() {
    let control = freight_api::testing::fresh_database("freight_sec_pgenv").await;
    let source = freight_api::testing::fresh_database("freight_sec_pgenv_s").await;
    let target = freight_api::testing::fresh_database("freight_sec_pgenv_t").await;
    // sqlx would pass these server options to every tenant's server.
    let mut api = FreightSpec::new("api", &control)
        .env("PGOPTIONS", "-c application_name=freight-own")
        .spawn();
    let http = reqwest::Client::new();
    api.wait_ready(&http).await;
    let job = body(
        json!({"type": "postgresql", "url": source}),
        json!({"type": "postgresql", "url": target}),
    );
    for path in ["/api/v1/jobs/plan", "/api/v1/jobs"] {
        let response = http
            .post(format!("{}{path}", api.base_url()))
            .bearer_auth(token("acme"))
            .header("X-Tenant-ID", "acme")
            .json(&job)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 422, "CONNECTION_NOT_ALLOWED").await;
        assert_eq!(problem["errors"][0]["field"], "source_config", "{problem}");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("PGOPTIONS"),
            "{problem}"
        );
    }
}
