use serde_json::{Value, json};

use crate::common::{Api, Backend, Caller, assert_problem, job_body};

async fn finish_job(api: &Api, caller: &Caller, status: &str, rows_written: i64) {
    let job = api.create_job(caller, &job_body()).await;
    let id = job["id"].as_str().unwrap();
    api.exec(
        "UPDATE jobs SET status = $2, started_at = now() - interval '10 seconds', finished_at = now() WHERE id = $1::uuid",
        "UPDATE jobs SET status = $2, started_at = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-10 seconds'),
                         finished_at = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now') WHERE id = $1",
        &[id.into(), status.into()],
    )
    .await;
    api.exec(
        "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, rows_read, rows_written)
         VALUES ($1, $2::uuid, $3, 0, 'orders', 'completed', $4, $4)",
        "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, rows_read, rows_written)
         VALUES ($1, $2, $3, 0, 'orders', 'completed', $4, $4)",
        &[
            uuid::Uuid::now_v7().into(),
            id.into(),
            (&caller.tenant).into(),
            rows_written.into(),
        ],
    )
    .await;
}

async fn statistics_count_the_tenants_jobs_only(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let other = api.new_tenant();
    finish_job(&api, &caller, "completed", 100).await;
    finish_job(&api, &caller, "completed", 50).await;
    finish_job(&api, &caller, "failed", 7).await;
    api.create_job(&caller, &job_body()).await;
    finish_job(&api, &other, "completed", 1000).await;

    let stats: Value = api
        .get("/api/v1/statistics", &caller)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["total_jobs"], 4);
    assert_eq!(stats["by_status"]["completed"], 2);
    assert_eq!(stats["by_status"]["failed"], 1);
    assert_eq!(stats["by_status"]["queued"], 1);
    assert_eq!(stats["rows_written"], 157);
    let rate = stats["success_rate"].as_f64().unwrap();
    assert!((rate - 2.0 / 3.0).abs() < 1e-9, "{rate}");
    assert!(stats["avg_duration_seconds"].as_f64().unwrap() >= 9.0);

    // The window the figures cover is stated, defaults filled in: `until`
    // is now, `since` 30 days before it.
    let since = chrono::DateTime::parse_from_rfc3339(stats["since"].as_str().unwrap()).unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(stats["until"].as_str().unwrap()).unwrap();
    assert_eq!(until - since, chrono::Duration::days(30));
    assert!((chrono::Utc::now() - until.to_utc()).num_seconds().abs() < 60);

    let empty: Value = api
        .get(
            "/api/v1/statistics?since=2999-01-01T00:00:00Z&until=2999-01-02T00:00:00Z",
            &caller,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["total_jobs"], 0);
    assert!(empty["success_rate"].is_null());
    let until = chrono::DateTime::parse_from_rfc3339(empty["until"].as_str().unwrap()).unwrap();
    assert_eq!(until.to_rfc3339(), "2999-01-02T00:00:00+00:00");
    // `until` must be after `since`, whether given or the default (now).
    for query in [
        "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
        "since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z",
        "since=2999-01-01T00:00:00Z",
        "until=2000-01-01T00:00:00Z",
    ] {
        let refused = api
            .get(&format!("/api/v1/statistics?{query}"), &caller)
            .await;
        let problem = assert_problem(refused, 422, "VALIDATION_ERROR").await;
        assert_eq!(problem["errors"][0]["field"], "until", "{query}");
    }

    let admin = Caller {
        token: api.app.token(&[], "admin"),
        tenant: caller.tenant.clone(),
    };
    let all: Value = api
        .get("/api/v1/admin/tenants/statistics", &admin)
        .await
        .json()
        .await
        .unwrap();
    let tenants = all["tenants"].as_array().unwrap();
    let mine = tenants
        .iter()
        .find(|t| t["tenant_id"] == caller.tenant.as_str())
        .unwrap();
    let theirs = tenants
        .iter()
        .find(|t| t["tenant_id"] == other.tenant.as_str())
        .unwrap();
    assert_eq!(mine["total_jobs"], 4);
    assert_eq!(mine["rows_written"], 157);
    assert_eq!(theirs["rows_written"], 1000);
}

async fn worker_status_reports_live_workers_and_the_tenants_queue(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let job = api.create_job(&caller, &job_body()).await;
    api.exec_both(
        "INSERT INTO workers (id, host, pid, concurrency, in_flight, rows_processed) VALUES
         ('w-live', 'host-a', 42, 4, 1, 12345),
         ('w-dead', 'host-b', 43, 4, 0, 0)",
        &[],
    )
    .await;
    api.exec(
        "UPDATE workers SET last_seen = now() - interval '10 minutes' WHERE id = 'w-dead'",
        "UPDATE workers SET last_seen = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-10 minutes') WHERE id = 'w-dead'",
        &[],
    )
    .await;
    for (seq, status) in [(0, "pending"), (1, "pending"), (2, "running")] {
        api.exec(
            "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status) VALUES ($1, $2::uuid, $3, $4, 't', $5)",
            "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status) VALUES ($1, $2, $3, $4, 't', $5)",
            &[
                uuid::Uuid::now_v7().into(),
                job["id"].as_str().unwrap().into(),
                (&caller.tenant).into(),
                crate::common::Arg::Int(seq),
                status.into(),
            ],
        )
        .await;
    }
    let status: Value = api
        .get("/api/v1/workers", &caller)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["live_workers"], 1);
    assert_eq!(status["workers"], json!([]), "engineers see counts only");
    assert_eq!(status["batches"].as_array().unwrap().len(), 1);
    assert_eq!(status["queue_depth"], 2);
    assert_eq!(status["in_flight_batches"], 1);
    assert_eq!(status["total_queue_depth"], json!(2));

    let admin = crate::common::Caller {
        token: api.app.token(&[], "admin"),
        tenant: caller.tenant.clone(),
    };
    let status: Value = api
        .get("/api/v1/workers", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["workers"][0]["id"], "w-live");
    assert_eq!(status["workers"][0]["rows_processed"], 12345);
    assert_eq!(status["workers"].as_array().unwrap().len(), 1);
}

freight_api::on_both_backends!(
    statistics_count_the_tenants_jobs_only,
    worker_status_reports_live_workers_and_the_tenants_queue,
);
