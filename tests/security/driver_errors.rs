//! Errors shown to tenants carry no driver internals: a server that does
//! not speak the configured protocol is named as such, without sqlx source
//! locations or protocol bytes (`unexpected response from SSLRequest: 0x49
//! (sqlx_postgres::connection::tls:95)` was the 422's text).

use serde_json::json;

use crate::common::assert_problem;
use crate::support::{body, secure_api};

#[tokio::test]
async fn a_server_of_another_kind_is_named_without_driver_internals() {
    let api = secure_api(|p| p).await;
    let mallory = api.new_tenant();
    let target = json!({"type": "postgresql", "url": freight_api::testing::fresh_database("freight_sec_drv").await});
    for (source, said) in [
        // MariaDB's port as PostgreSQL, with and without the SSL request
        // (each failed on another line of sqlx).
        (
            json!({"type": "postgresql", "url": "postgres://root@127.0.0.1:3306/x"}),
            "connecting to the source: the server at that address did not answer as a PostgreSQL server",
        ),
        (
            json!({"type": "postgresql", "url": "postgres://root@127.0.0.1:3306/x?sslmode=disable"}),
            "connecting to the source: the server at that address did not answer as a PostgreSQL server",
        ),
        // PostgreSQL's port as MySQL: it waits for the client, which
        // waits for a greeting.
        (
            json!({"type": "mysql", "url": "mysql://postgres@127.0.0.1:5432/x"}),
            "connecting to the source: the server at that address did not answer as a MySQL/MariaDB server in time",
        ),
    ] {
        let response = api
            .post(
                "/api/v1/jobs/plan",
                &mallory,
                &body(source.clone(), target.clone()),
            )
            .await;
        let problem = assert_problem(response, 422, "VALIDATION_ERROR").await;
        assert_eq!(problem["errors"][0]["field"], "source_config", "{problem}");
        assert_eq!(problem["errors"][0]["message"], said, "{source}: {problem}");
        let text = problem.to_string();
        for internal in ["sqlx", "SSLRequest", "0x", "establish", "CopyData", "pool"] {
            assert!(!text.contains(internal), "{internal:?} in {text}");
        }
    }
}
