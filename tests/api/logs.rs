use serde_json::{Value, json};

use crate::common::{Api, Arg, Backend, Caller, assert_problem, job_body};

async fn job_with_logs(api: &Api, caller: &Caller, count: usize) -> String {
    let job = api.create_job(caller, &job_body()).await;
    let id = job["id"].as_str().unwrap().to_owned();
    api.exec(
        "INSERT INTO job_logs (job_id, tenant_id, level, table_name, record_key, column_name, message)
         SELECT $1::uuid, $2, CASE WHEN i % 2 = 0 THEN 'error' ELSE 'info' END, 'orders',
                jsonb_build_array(i), 'amount', 'value \"' || i || '\", out of range'
         FROM generate_series(1, $3::int) AS i",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3)
         INSERT INTO job_logs (job_id, tenant_id, level, table_name, record_key, column_name, message)
         SELECT $1, $2, CASE WHEN i % 2 = 0 THEN 'error' ELSE 'info' END, 'orders',
                json_array(i), 'amount', 'value \"' || i || '\", out of range'
         FROM n",
        &[id.as_str().into(), (&caller.tenant).into(), Arg::Int(count as i64)],
    )
    .await;
    id
}

async fn logs_filter_by_minimum_level_and_page_by_cursor(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let id = job_with_logs(&api, &caller, 7).await;

    let all: Value = api
        .get(&format!("/api/v1/jobs/{id}/logs?limit=4"), &caller)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    assert_eq!(all["has_more"], true);
    let cursor = all["next_cursor"].as_str().unwrap();
    let rest: Value = api
        .get(
            &format!("/api/v1/jobs/{id}/logs?limit=4&cursor={cursor}"),
            &caller,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 3);
    assert_eq!(rest["has_more"], false);

    let errors: Value = api
        .get(&format!("/api/v1/jobs/{id}/logs?level=error"), &caller)
        .await
        .json()
        .await
        .unwrap();
    let keys: Vec<Value> = errors["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record_key"].clone())
        .collect();
    assert_eq!(keys, [json!([2]), json!([4]), json!([6])]);
    assert_eq!(errors["items"][0]["column_name"], "amount");

    let detail: Value = api
        .get(&format!("/api/v1/jobs/{id}"), &caller)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["errors"]["top_errors"].as_array().unwrap().len(), 3);
}

async fn export_streams_every_entry_as_csv_or_ndjson_with_a_file_name(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    // More than one export chunk (1000 rows) to cross a page boundary.
    let id = job_with_logs(&api, &caller, 2500).await;

    let csv = api
        .get(
            &format!("/api/v1/jobs/{id}/logs/export?format=csv"),
            &caller,
        )
        .await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        csv.headers()["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"job-{id}-logs.csv\"")
    );
    let text = csv.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "id");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2500);
    assert_eq!(
        &rows[0][7], "value \"1\", out of range",
        "quotes and commas survive"
    );
    assert_eq!(&rows[2499][5], "[2500]");

    let ndjson = api
        .get(
            &format!("/api/v1/jobs/{id}/logs/export?format=json&level=error"),
            &caller,
        )
        .await;
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = ndjson
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1250);
    assert!(lines.iter().all(|l| l["level"] == "error"));

    let bad = api
        .get(
            &format!("/api/v1/jobs/{id}/logs/export?format=xml"),
            &caller,
        )
        .await;
    assert_problem(bad, 400, "VALIDATION_ERROR").await;
}

freight_api::on_both_backends!(
    logs_filter_by_minimum_level_and_page_by_cursor,
    export_streams_every_entry_as_csv_or_ndjson_with_a_file_name,
);
