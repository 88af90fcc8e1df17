//! Validating a job spec is proportional to its size: a body within the
//! API's limit naming 80,000 key columns is refused on its length before
//! any column is compared with another (it held the async runtime for
//! 90 s, the API down for every tenant).

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::common::assert_problem;
use crate::support::secure_api;

#[tokio::test]
async fn eighty_thousand_key_columns_are_refused_on_their_count() {
    let api = secure_api(|p| p).await;
    let mallory = api.new_tenant();
    let columns: Vec<String> = (0..80_000).map(|i| format!("c{i}")).collect();
    let body = json!({
        "source_config": {"type": "postgresql", "url": "postgres://u@127.0.0.1:5432/db"},
        "target_config": {"type": "postgresql", "url": "postgres://u@127.0.0.1:5432/db2"},
        "batch_size": 1000,
        "started_by": "mallory",
        "key_columns": {"events": columns}
    });
    assert!(serde_json::to_vec(&body).unwrap().len() > 700_000);
    for path in ["/api/v1/jobs", "/api/v1/jobs/plan"] {
        // The timeout only keeps a regression from hanging the suite (the
        // quadratic check took 90 s); the assertions are on the answer.
        let response = api
            .request(Method::POST, path, &mallory)
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: no answer: {e}"));
        let problem = assert_problem(response, 422, "VALIDATION_ERROR").await;
        let errors = problem["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{path}: {problem}");
        assert_eq!(errors[0]["field"], "key_columns.events", "{problem}");
        assert_eq!(
            errors[0]["message"], "name 1 to 32 key columns",
            "{problem}"
        );
    }
}
