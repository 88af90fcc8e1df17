use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Api, Arg, Backend, Caller, SQLITE_NOW, assert_problem, job_body, uuid_of};

async fn created_job_is_queued_stored_and_shown_without_passwords(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let response = api.post("/api/v1/jobs", &caller, &job_body()).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("hunter2-secret") && !text.contains("src-pass-42"),
        "{text}"
    );
    let job: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(job["status"], "queued");
    assert_eq!(job["batch_size"], 500);
    assert_eq!(job["max_retries"], 3, "default");
    assert_eq!(job["target_config"]["password"], "***");
    assert_eq!(
        job["source_config"]["url"],
        "mysql://app:***@127.0.0.1:3306/shop"
    );
    assert_eq!(
        location,
        format!("/api/v1/jobs/{}", job["id"].as_str().unwrap())
    );

    let detail = api.get(&location, &caller).await;
    assert_eq!(detail.status(), 200);
    let text = detail.text().await.unwrap();
    assert!(!text.contains("hunter2-secret") && !text.contains("src-pass-42"));
    // One `tables` key (the job's), not a second one for the progress per table.
    assert_eq!(text.matches("\"tables\":").count(), 1, "{text}");
    let detail: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(detail["id"], job["id"]);
    assert_eq!(detail["tables"], job["tables"]);
    assert_eq!(detail["table_progress"], json!([]));
    assert_eq!(detail["progress"]["percent"], 0.0);
    assert_eq!(detail["batches"]["total"], 0);
    assert_eq!(detail["errors"]["rows_rejected"], 0);

    // At rest, the configs are encrypted: the password bytes are nowhere in the row.
    let id = uuid_of(&job["id"]);
    let row: (Vec<u8>, Vec<u8>, String) = match backend {
        Backend::Postgres => sqlx::query_as(
            "SELECT source_config_sealed, target_config_sealed, target_config_view::text FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&api.pg().await)
        .await
        .unwrap(),
        Backend::Sqlite => sqlx::query_as(
            "SELECT source_config_sealed, target_config_sealed, target_config_view FROM jobs WHERE id = $1",
        )
        .bind(id.hyphenated().to_string())
        .fetch_one(api.app.store.sqlite().reader())
        .await
        .unwrap(),
    };
    for sealed in [&row.0, &row.1] {
        assert!(
            !sealed
                .windows(7)
                .any(|w| w == b"hunter2" || w == b"src-pas")
        );
    }
    assert!(!row.2.contains("hunter2"), "{}", row.2);
}

/// The fields a job creation's 422 names, in order.
async fn refused_fields(api: &Api, caller: &Caller, body: &Value) -> Vec<String> {
    let problem = assert_problem(
        api.post("/api/v1/jobs", caller, body).await,
        422,
        "VALIDATION_ERROR",
    )
    .await;
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

async fn defaults_are_applied_and_limits_enforced_with_field_errors(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let mut body = job_body();
    body.as_object_mut().unwrap().remove("batch_size");
    let job = api.create_job(&caller, &body).await;
    assert_eq!(job["batch_size"], 10_000);

    // JSON Schema's integers, however written: `1000.0` and `2e3` are whole
    // numbers; a fraction or a value out of range is a 422, never rounded.
    let mut whole = job_body();
    whole["batch_size"] = json!(1000.0);
    whole["max_retries"] = json!(2e0);
    whole["target_config"]["port"] = json!(5432.0);
    let job = api.create_job(&caller, &whole).await;
    assert_eq!(job["batch_size"], 1000);
    assert_eq!(job["max_retries"], 2);
    for (field, value) in [
        ("batch_size", json!(1000.5)),
        ("batch_size", json!(1e30)),
        ("max_retries", json!(-1.0)),
    ] {
        let mut fraction = job_body();
        fraction[field] = value.clone();
        let problem = assert_problem(
            api.post("/api/v1/jobs", &caller, &fraction).await,
            422,
            "VALIDATION_ERROR",
        )
        .await;
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("u32"),
            "{field} = {value}: {problem}"
        );
    }

    let mut bad = job_body();
    bad["batch_size"] = json!(100_001);
    bad["started_by"] = json!("");
    bad["source_config"] = json!({"type": "mysql", "url": "postgres://x@y/z"});
    assert_eq!(
        refused_fields(&api, &caller, &bad).await,
        ["source_config.url", "batch_size", "started_by"]
    );

    // NUL and control characters (found by schemathesis as a 500): no store
    // or driver takes them, so they are field errors before anything is kept.
    let mut nul = job_body();
    nul["started_by"] = json!("ali\u{0}ce");
    nul["name"] = json!("line\nbreak");
    nul["target_config"]["database"] = json!("ware\u{0}house");
    assert_eq!(
        refused_fields(&api, &caller, &nul).await,
        ["target_config.database", "started_by", "name"]
    );
    let listed: Value = api.get("/api/v1/jobs", &caller).await.json().await.unwrap();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "only the valid jobs were kept"
    );
}

async fn malformed_bodies_are_4xx_never_500(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let send = |body: String, content_type: &'static str| {
        api.request(Method::POST, "/api/v1/jobs", &caller)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_problem(
        send("{not json".into(), "application/json").await.unwrap(),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    let mut wrong_type = job_body();
    wrong_type["batch_size"] = json!("lots");
    assert_problem(
        send(wrong_type.to_string(), "application/json")
            .await
            .unwrap(),
        422,
        "VALIDATION_ERROR",
    )
    .await;
    let mut unknown = job_body();
    unknown["surprise"] = json!(true);
    assert_problem(
        send(unknown.to_string(), "application/json").await.unwrap(),
        422,
        "VALIDATION_ERROR",
    )
    .await;
    let mut unknown_nested = job_body();
    unknown_nested["target_config"]["passwd"] = json!("x");
    assert_problem(
        send(unknown_nested.to_string(), "application/json")
            .await
            .unwrap(),
        422,
        "VALIDATION_ERROR",
    )
    .await;
    assert_problem(
        send(job_body().to_string(), "text/plain").await.unwrap(),
        415,
        "VALIDATION_ERROR",
    )
    .await;
    let mut huge = job_body();
    huge["name"] = json!("x".repeat(2 * 1024 * 1024));
    assert_problem(
        send(huge.to_string(), "application/json").await.unwrap(),
        413,
        "VALIDATION_ERROR",
    )
    .await;
    let bad_id = api.get("/api/v1/jobs/not-a-uuid", &caller).await;
    assert_problem(bad_id, 400, "VALIDATION_ERROR").await;
    let bad_query = api.get("/api/v1/jobs?status=sideways", &caller).await;
    assert_problem(bad_query, 400, "VALIDATION_ERROR").await;
    // Nothing was stored by any of these.
    let list: Value = api.get("/api/v1/jobs", &caller).await.json().await.unwrap();
    assert_eq!(list["total"], 0);
}

async fn listing_filters_and_paginates_by_cursor(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            api.create_job(&caller, &job_body()).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let cancelled = &ids[1];
    let response = api
        .post(
            &format!("/api/v1/jobs/{cancelled}/cancel"),
            &caller,
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/jobs?limit=2&cursor={c}"),
            None => "/api/v1/jobs?limit=2".to_owned(),
        };
        let page: Value = api.get(&path, &caller).await.json().await.unwrap();
        assert_eq!(page["total"], 5);
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        if page["has_more"] == false {
            assert!(page["next_cursor"].is_null());
            break;
        }
        cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let only_cancelled: Value = api
        .get("/api/v1/jobs?status=cancelled", &caller)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(only_cancelled["total"], 1);
    assert_eq!(only_cancelled["items"][0]["id"], cancelled.as_str());

    let future: Value = api
        .get("/api/v1/jobs?since=2999-01-01T00:00:00Z", &caller)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(future["total"], 0);
    let bad_cursor = api.get("/api/v1/jobs?cursor=garbage", &caller).await;
    assert_problem(bad_cursor, 400, "VALIDATION_ERROR").await;
}

async fn another_tenants_job_is_404_on_every_endpoint(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let owner = api.new_tenant();
    let intruder = api.new_tenant();
    let job = api.create_job(&owner, &job_body()).await;
    let id = job["id"].as_str().unwrap();

    for path in [
        format!("/api/v1/jobs/{id}"),
        format!("/api/v1/jobs/{id}/batches"),
        format!("/api/v1/jobs/{id}/logs"),
        format!("/api/v1/jobs/{id}/logs/export?format=csv"),
    ] {
        assert_problem(api.get(&path, &intruder).await, 404, "NOT_FOUND").await;
    }
    let cancel = api
        .post(&format!("/api/v1/jobs/{id}/cancel"), &intruder, &json!({}))
        .await;
    assert_problem(cancel, 404, "NOT_FOUND").await;
    let retry = api
        .post(
            &format!("/api/v1/jobs/{id}/retry"),
            &intruder,
            &json!({"max_retries": 1}),
        )
        .await;
    assert_problem(retry, 404, "NOT_FOUND").await;
    let listed: Value = api
        .get("/api/v1/jobs", &intruder)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total"], 0);
    let audit: Value = api
        .get("/api/v1/audit", &intruder)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["items"].as_array().unwrap().len(), 0);

    // The owner's job is untouched by the attempts.
    let detail: Value = api
        .get(&format!("/api/v1/jobs/{id}"), &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "queued");
}

/// PostgreSQL only: row-level security has no SQLite counterpart (the tenant
/// filter both backends share is `another_tenants_job_is_404_on_every_endpoint`).
#[tokio::test]
async fn row_level_security_hides_other_tenants_rows_even_without_a_filter() {
    let api = Api::spawn().await;
    let a = api.new_tenant();
    let b = api.new_tenant();
    api.create_job(&a, &job_body()).await;
    api.create_job(&b, &job_body()).await;
    let pg = api.pg().await;
    let mut tx = pg.begin().await.unwrap();
    sqlx::query("SELECT set_config('freight.tenant_id', $1, true), set_config('role', 'freight_tenant', true)")
        .bind(&a.tenant)
        .execute(&mut *tx)
        .await
        .unwrap();
    let tenants: Vec<String> = sqlx::query_scalar("SELECT tenant_id FROM jobs")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tenants, vec![a.tenant.clone()]);
    let insert_other = sqlx::query(
        "INSERT INTO audit_events (tenant_id, actor, actor_role, action, target_type) VALUES ($1, 'x', 'engineer', 'x', 'x')",
    )
    .bind(&b.tenant)
    .execute(&mut *tx)
    .await;
    assert!(
        insert_other.is_err(),
        "RLS must refuse writes for another tenant"
    );
}

async fn cancel_and_retry_follow_the_state_machine_and_are_audited(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let job = api.create_job(&caller, &job_body()).await;
    let id = job["id"].as_str().unwrap();

    let retry_queued = api
        .post(&format!("/api/v1/jobs/{id}/retry"), &caller, &json!({}))
        .await;
    assert_problem(retry_queued, 409, "CONFLICT").await;

    let cancelled: Value = api
        .post(&format!("/api/v1/jobs/{id}/cancel"), &caller, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let again = api
        .post(&format!("/api/v1/jobs/{id}/cancel"), &caller, &json!({}))
        .await;
    assert_problem(again, 409, "CONFLICT").await;

    // Give the job batches as a worker would have: one completed, one failed.
    let failed_batch = uuid::Uuid::now_v7();
    for (seq, status, batch) in [
        (0, "completed", uuid::Uuid::now_v7()),
        (1, "failed", failed_batch),
    ] {
        api.exec(
            "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, attempts, rows_written, last_error)
             VALUES ($1, $2::uuid, $3, $4, 'orders', $5, 4, 10, 'boom')",
            "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, attempts, rows_written, last_error)
             VALUES ($1, $2, $3, $4, 'orders', $5, 4, 10, 'boom')",
            &[batch.into(), id.into(), (&caller.tenant).into(), Arg::Int(seq), status.into()],
        )
        .await;
    }
    api.exec(
        "UPDATE jobs SET status = 'failed', finished_at = now() WHERE id = $1::uuid",
        &format!("UPDATE jobs SET status = 'failed', finished_at = {SQLITE_NOW} WHERE id = $1"),
        &[id.into()],
    )
    .await;

    let unknown = api
        .post(
            &format!("/api/v1/jobs/{id}/retry"),
            &caller,
            &json!({"batch_ids": [uuid::Uuid::now_v7()]}),
        )
        .await;
    let problem = assert_problem(unknown, 422, "VALIDATION_ERROR").await;
    assert_eq!(problem["errors"][0]["field"], "batch_ids[0]");

    let retried: Value = api
        .post(
            &format!("/api/v1/jobs/{id}/retry"),
            &caller,
            &json!({"max_retries": 5.0, "batch_ids": [failed_batch]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retried["batches_retried"], 1);
    assert_eq!(retried["job"]["status"], "queued");
    assert_eq!(retried["job"]["max_retries"], 5);
    let batches: Value = api
        .get(
            &format!("/api/v1/jobs/{id}/batches?status=pending"),
            &caller,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(batches["total"], 1);
    assert_eq!(batches["items"][0]["id"], failed_batch.to_string());
    assert_eq!(batches["items"][0]["attempts"], 0);
    assert!(batches["items"][0]["last_error"].is_null());

    let audit: Value = api
        .get("/api/v1/audit", &caller)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["job.retry", "job.cancel", "job.create"]);
    let create = &audit["items"][2];
    assert_eq!(create["actor"], "test-user");
    assert_eq!(create["target_id"], id);
    assert_eq!(create["ip"], "127.0.0.1");
    assert_eq!(create["user_agent"], "freight-tests/1.0");
    assert_eq!(create["actor_role"], "engineer");
    assert_eq!(create["target_type"], "job");
    let filtered: Value = api
        .get("/api/v1/audit?action=job.cancel", &caller)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    // `action` is one of the actions the trail records, not any string.
    let unknown = api.get("/api/v1/audit?action=job.explode", &caller).await;
    assert_eq!(unknown.status(), 400);
}

async fn batches_list_pages_in_plan_order(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let job = api.create_job(&caller, &job_body()).await;
    let id = job["id"].as_str().unwrap();
    for seq in 0..5 {
        api.exec(
            "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, key_start, key_end, status)
             VALUES ($1, $2::uuid, $3, $4, 'orders', $5, $6, 'pending')",
            "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, key_start, key_end, status)
             VALUES ($1, $2, $3, $4, 'orders', $5, $6, 'pending')",
            &[
                uuid::Uuid::now_v7().into(),
                id.into(),
                (&caller.tenant).into(),
                Arg::Int(seq),
                json!([seq * 100]).into(),
                json!([(seq + 1) * 100]).into(),
            ],
        )
        .await;
    }
    let first: Value = api
        .get(&format!("/api/v1/jobs/{id}/batches?limit=3"), &caller)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["total"], 5);
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = api
        .get(
            &format!("/api/v1/jobs/{id}/batches?limit=3&cursor={cursor}"),
            &caller,
        )
        .await
        .json()
        .await
        .unwrap();
    let seqs: Vec<i64> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4]);
    assert_eq!(second["has_more"], false);
    assert_eq!(second["items"][0]["key_start"], json!([300]));

    // A cursor is a position in its own list only: the batches' one is a
    // 400 in the logs, the audit trail and the jobs list, and so is a
    // position the server never hands out (`LTE` is "-1").
    let forged = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    for path in [
        format!("/api/v1/jobs/{id}/logs?cursor={cursor}"),
        format!("/api/v1/audit?cursor={cursor}"),
        format!("/api/v1/jobs?cursor={cursor}"),
        format!("/api/v1/jobs/{id}/batches?cursor=LTE"),
        format!("/api/v1/jobs/{id}/batches?cursor={}", forged("batches:-1")),
        format!("/api/v1/jobs/{id}/batches?cursor={}", forged("batches:+2")),
        format!("/api/v1/jobs/{id}/batches?cursor={}", forged("2")),
        format!("/api/v1/jobs/{id}/logs?cursor={}", forged("logs:0")),
    ] {
        let problem = assert_problem(api.get(&path, &caller).await, 400, "VALIDATION_ERROR").await;
        assert_eq!(problem["detail"], "invalid cursor", "{path}");
    }
}

/// What the spec says (`limit` 1-1000, `max_record_errors` an int64) is
/// what the API enforces: out of range is a 422 naming the field, never
/// silently clamped.
async fn list_limits_and_record_error_budgets_out_of_range_are_422(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let job = api.create_job(&caller, &job_body()).await;
    let id = job["id"].as_str().unwrap();
    for path in [
        "/api/v1/jobs".to_owned(),
        format!("/api/v1/jobs/{id}/batches"),
        format!("/api/v1/jobs/{id}/logs"),
        "/api/v1/audit".to_owned(),
    ] {
        for limit in ["0", "1001"] {
            let problem = assert_problem(
                api.get(&format!("{path}?limit={limit}"), &caller).await,
                422,
                "VALIDATION_ERROR",
            )
            .await;
            assert_eq!(problem["errors"][0]["field"], "limit", "{path}");
        }
        for limit in ["1", "1000"] {
            let response = api.get(&format!("{path}?limit={limit}"), &caller).await;
            assert_eq!(response.status(), 200, "{path}?limit={limit}");
        }
    }
    let mut body = job_body();
    body["max_record_errors"] = json!(u64::MAX);
    let problem = assert_problem(
        api.post("/api/v1/jobs", &caller, &body).await,
        422,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "max_record_errors");
}

freight_api::on_both_backends!(
    created_job_is_queued_stored_and_shown_without_passwords,
    defaults_are_applied_and_limits_enforced_with_field_errors,
    malformed_bodies_are_4xx_never_500,
    listing_filters_and_paginates_by_cursor,
    another_tenants_job_is_404_on_every_endpoint,
    cancel_and_retry_follow_the_state_machine_and_are_audited,
    batches_list_pages_in_plan_order,
    list_limits_and_record_error_budgets_out_of_range_are_422,
    job_options_are_stored_and_returned_and_unknown_values_are_422,
);

/// The job options of issue 10 are accepted, stored and returned; a value
/// outside their enum is a 422 naming the field.
async fn job_options_are_stored_and_returned_and_unknown_values_are_422(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let defaults = api.create_job(&caller, &job_body()).await;
    assert_eq!(defaults["zero_dates"], "null");

    let mut body = job_body();
    body["zero_dates"] = json!("reject");
    let job = api.create_job(&caller, &body).await;
    assert_eq!(job["zero_dates"], "reject");
    let location = format!("/api/v1/jobs/{}", job["id"].as_str().unwrap());
    let detail: Value = api.get(&location, &caller).await.json().await.unwrap();
    assert_eq!(detail["zero_dates"], "reject");
    let id = job["id"].as_str().unwrap();
    let stored: String = match backend {
        Backend::Postgres => {
            sqlx::query_scalar("SELECT zero_dates FROM jobs WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&api.pg().await)
                .await
        }
        Backend::Sqlite => {
            sqlx::query_scalar("SELECT zero_dates FROM jobs WHERE id = ?1")
                .bind(id)
                .fetch_one(api.app.store.sqlite().reader())
                .await
        }
    }
    .unwrap();
    assert_eq!(stored, "reject");

    for (field, value) in [("zero_dates", "zero")] {
        let mut bad = job_body();
        bad[field] = json!(value);
        let problem = assert_problem(
            api.post("/api/v1/jobs", &caller, &bad).await,
            422,
            "VALIDATION_ERROR",
        )
        .await;
        assert!(problem.to_string().contains(field), "{problem}");
    }
}
