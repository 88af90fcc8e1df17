//! Structured logs carry request ids, tenants and job ids, and never a
//! password, a token or a URL's credentials.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::AssertSqlSafe;

use crate::support::{FreightSpec, JWT_SECRET, MARIADB, eventually, mariadb_shop, token, unique};

/// `postgres://user@host/db` with `password` added to the user info.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, host) = rest.split_once('@').expect("a user in the URL");
    let user = user.split(':').next().unwrap_or(user);
    format!("{scheme}://{user}:{password}@{host}")
}

/// A MariaDB account with a password, allowed into `database`.
async fn mariadb_user(database: &str, password: &str) -> String {
    let user = unique("ops_");
    let admin = sqlx::mysql::MySqlPool::connect(&format!("{MARIADB}/mysql"))
        .await
        .expect("MariaDB");
    for host in ["localhost", "127.0.0.1", "%"] {
        sqlx::query(AssertSqlSafe(format!(
            "CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'"
        )))
        .execute(&admin)
        .await
        .expect("create user");
        sqlx::query(AssertSqlSafe(format!(
            "GRANT ALL ON `{database}`.* TO '{user}'@'{host}'"
        )))
        .execute(&admin)
        .await
        .expect("grant");
    }
    user
}

async fn drop_mariadb_user(user: &str) {
    if let Ok(admin) = sqlx::mysql::MySqlPool::connect(&format!("{MARIADB}/mysql")).await {
        for host in ["localhost", "127.0.0.1", "%"] {
            let _ = sqlx::query(AssertSqlSafe(format!("DROP USER '{user}'@'{host}'")))
                .execute(&admin)
                .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_name_requests_and_jobs_but_never_secrets() {
    let db_password = unique("DbPw");
    let source_password = unique("SrcPw");
    let target_password = unique("TgtPw");
    let wrong_password = unique("WrongPw");
    let url_password = unique("UrlPw");

    // Local PostgreSQL trusts 127.0.0.1, so a URL password is accepted
    // (and ignored): enough to see whether it leaks.
    let database = with_password(
        &freight_api::testing::fresh_database("freight_ops").await,
        &db_password,
    );
    let target = with_password(
        &freight_api::testing::fresh_database("freight_ops_tgt").await,
        &target_password,
    );
    let shop = mariadb_shop().await;
    let user = mariadb_user(&shop, &source_password).await;

    let http = reqwest::Client::new();
    let mut freight = FreightSpec::new("all", &database)
        .env("LOG_FORMAT", "json")
        .env(
            "RUST_LOG",
            "debug,sqlx=info,hyper=info,h2=info,reqwest=info,apalis=info,apalis_redis=info,redis=info,tower=info,tower_http=debug",
        )
        .spawn();
    freight.wait_ready(&http).await;

    let tenant = unique("ops");
    let bearer = token(&tenant);
    // Host form with the right and a wrong password; URL form with a
    // password, against a port nothing listens on.
    let unreachable = format!(
        "mysql://{user}:{url_password}@127.0.0.1:{}/{shop}",
        crate::support::free_port()
    );
    let job = |password: &str| {
        let source = if password == url_password {
            json!({"type": "mysql", "url": unreachable})
        } else {
            json!({"type": "mysql", "host": "127.0.0.1", "port": 3306,
                   "database": shop, "user": user, "password": password})
        };
        json!({
            "source_config": source,
            "target_config": {"type": "postgresql", "url": target},
            "tables": ["customers"],
            "batch_size": 50,
            "started_by": "ops-test",
        })
    };
    let mut job_ids = Vec::new();
    let mut request_ids = Vec::new();
    for password in [&source_password, &wrong_password, &url_password] {
        let response = http
            .post(format!("{}/api/v1/jobs", freight.base_url()))
            .bearer_auth(&bearer)
            .header("X-Tenant-ID", &tenant)
            .json(&job(password))
            .send()
            .await
            .expect("create job");
        assert_eq!(response.status(), 201);
        request_ids.push(
            response.headers()["x-request-id"]
                .to_str()
                .expect("request id")
                .to_owned(),
        );
        let created: Value = response.json().await.expect("job json");
        let shown = created["source_config"].to_string();
        assert!(
            !shown.contains(password.as_str()),
            "password shown back: {shown}"
        );
        job_ids.push(created["id"].as_str().expect("id").to_owned());
    }
    // A request the API refuses still logs nothing secret.
    let refused = http
        .post(format!("{}/api/v1/jobs", freight.base_url()))
        .bearer_auth(&bearer)
        .header("X-Tenant-ID", &tenant)
        .json(&json!({"source_config": {"type": "mysql", "url": format!("mysql://{user}:{source_password}@127.0.0.1/{shop}"), "host": "x"},
                      "target_config": {"type": "nosuchdb", "url": target}, "started_by": ""}))
        .send()
        .await
        .expect("invalid create");
    assert!(refused.status().is_client_error());

    for (id, expected) in job_ids.iter().zip(["completed", "failed", "failed"]) {
        let status = eventually(Duration::from_secs(120), "the job to finish", || async {
            let job: Value = http
                .get(format!("{}/api/v1/jobs/{id}", freight.base_url()))
                .bearer_auth(&bearer)
                .header("X-Tenant-ID", &tenant)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            match job["status"].as_str() {
                Some("queued" | "running") | None => Err(job.to_string()),
                Some(status) => Ok(status.to_owned()),
            }
        })
        .await;
        assert_eq!(status, expected, "job {id}");
    }

    freight.terminate();
    assert!(freight.wait_exit(Duration::from_secs(30)).await.success());
    drop_mariadb_user(&user).await;

    let logs = freight.logs();
    for line in logs.lines() {
        let parsed: Result<Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "LOG_FORMAT=json, yet not JSON: {line}");
    }
    for (what, secret) in [
        ("the DATABASE_URL password", db_password.as_str()),
        ("the source password", source_password.as_str()),
        ("the wrong source password", wrong_password.as_str()),
        ("the source URL password", url_password.as_str()),
        ("the target URL password", target_password.as_str()),
        ("the bearer token", bearer.as_str()),
        ("the JWT secret", JWT_SECRET),
    ] {
        let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            leaks.is_empty(),
            "{what} is in the logs:\n{}",
            leaks.join("\n")
        );
    }
    for id in &request_ids {
        assert!(logs.contains(id), "request id {id} is not in the logs");
    }
    for id in &job_ids {
        let created = logs.lines().any(|l| {
            l.contains(id)
                && l.contains("job created")
                && l.contains(&format!("\"tenant\":\"{tenant}\""))
        });
        assert!(
            created,
            "no `job created` line with job {id} and its tenant"
        );
    }
    // Worker lines name their job too.
    assert!(
        logs.lines()
            .any(|l| l.contains("batch finished") && l.contains(&job_ids[0])),
        "no `batch finished` line with the job id"
    );
    assert!(
        logs.lines()
            .any(|l| l.contains("planning failed") && l.contains(&job_ids[1])),
        "no `planning failed` line with the job id"
    );
}

/// Start-up failures say what they could not reach, without a password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_start_ups_do_not_print_passwords() {
    let password = unique("StartPw");
    let closed = crate::support::free_port();
    let reachable_db = with_password(
        &freight_api::testing::fresh_database("freight_ops").await,
        &password,
    );
    let cases = [
        (
            "api",
            format!("postgres://postgres:{password}@127.0.0.1:{closed}/freight"),
            freight_api::testing::redis_url(),
            format!("127.0.0.1:{closed}"),
        ),
        (
            "worker",
            reachable_db,
            format!("redis://:{password}@127.0.0.1:{closed}"),
            "REDIS_URL".to_owned(),
        ),
    ];
    // Started together: the PostgreSQL connect gives up only after its
    // acquire timeout.
    let mut started: Vec<_> = cases
        .into_iter()
        .map(|(command, database_url, redis_url, names)| {
            let freight = FreightSpec::new(command, &database_url)
                .env("LOG_FORMAT", "json")
                .env("REDIS_URL", redis_url)
                .spawn();
            (command, freight, names)
        })
        .collect();
    for (command, freight, names) in &mut started {
        let status = freight.wait_exit(Duration::from_secs(60)).await;
        let logs = freight.logs();
        assert!(
            !status.success(),
            "{command} started against a closed port:\n{logs}"
        );
        assert!(
            logs.contains(names.as_str()),
            "{command}: the error names {names}:\n{logs}"
        );
        assert!(
            !logs.contains(&password),
            "{command} printed the password:\n{logs}"
        );
    }
}
