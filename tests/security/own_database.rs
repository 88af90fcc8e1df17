//! Freight's own database, whatever name or address reaches it, is neither
//! a source nor a target; other databases on the same server are.

use serde_json::json;

use crate::common::assert_problem;
use crate::support::{body, database_name, secure_api};

#[tokio::test]
async fn freights_own_database_is_refused_as_source_and_target_by_any_name() {
    let api = secure_api(|p| p).await;
    let mallory = api.new_tenant();
    let own = database_name(&api.app.database_url);
    let neighbour = freight_api::testing::fresh_database("freight_sec_neighbour").await;
    let neighbour_config = json!({"type": "postgresql", "url": neighbour});
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();

    let mut forms = vec![
        json!({"type": "postgresql", "url": format!("postgres://postgres@127.0.0.1:5432/{own}")}),
        json!({"type": "postgresql", "url": format!("postgres://postgres@localhost/{own}")}),
        json!({"type": "postgresql", "url": format!("postgresql://postgres@LocalHost.:5432/{own}")}),
        json!({"type": "postgresql", "url": format!("postgres://postgres@[::1]:5432/{own}")}),
        json!({"type": "postgresql", "host": "127.0.0.1", "port": 5432, "database": own, "user": "postgres"}),
        json!({"type": "postgresql", "host": "localhost", "database": own, "user": "postgres"}),
    ];
    // The host's own name reaches the server only where it resolves to an
    // address PostgreSQL listens on.
    if tokio::net::lookup_host((host_name.as_str(), 5432))
        .await
        .is_ok_and(|mut a| a.any(|a| a.ip().is_loopback()))
    {
        forms.push(
            json!({"type": "postgresql", "host": host_name, "database": own, "user": "postgres"}),
        );
    }
    let ipv6_listens = tokio::net::TcpStream::connect("[::1]:5432").await.is_ok();
    for own_config in forms {
        if !ipv6_listens && own_config.to_string().contains("::1") {
            continue;
        }
        for (path, side) in [
            ("/api/v1/jobs/plan", "source"),
            ("/api/v1/jobs", "source"),
            ("/api/v1/jobs/plan", "target"),
            ("/api/v1/jobs", "target"),
        ] {
            let job = if side == "source" {
                body(own_config.clone(), neighbour_config.clone())
            } else {
                body(neighbour_config.clone(), own_config.clone())
            };
            let problem = assert_problem(
                api.post(path, &mallory, &job).await,
                422,
                "CONNECTION_NOT_ALLOWED",
            )
            .await;
            assert_eq!(
                problem["errors"][0]["field"],
                format!("{side}_config"),
                "{own_config} {path}"
            );
            assert!(
                problem["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("Freight's own database")
            );
        }
    }
    let jobs: serde_json::Value = api
        .get("/api/v1/jobs", &mallory)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jobs["total"], 0, "no refused job was stored");

    // Another database of the same server is fine.
    let other = freight_api::testing::fresh_database("freight_sec_other").await;
    let plan = api
        .post(
            "/api/v1/jobs/plan",
            &mallory,
            &body(
                json!({"type": "postgresql", "url": other}),
                neighbour_config.clone(),
            ),
        )
        .await;
    assert_eq!(plan.status(), 200, "{}", plan.text().await.unwrap());
}

#[tokio::test]
async fn the_worker_refuses_freights_database_even_when_the_api_let_it_through() {
    // Rows written before the policy existed (or by a replica without
    // it): the engine checks again right before it connects.
    let database = freight_api::testing::fresh_database("freight_sec_engine").await;
    let store = freight_core::store::postgres::PgStore::connect(
        &database,
        2,
        freight_core::secrets::SecretBox::from_key_material("k"),
    )
    .await
    .unwrap();
    let policy = crate::support::installation_policy(&store).await;
    let engine = freight_worker::engine::Engine::new(policy);
    let config = |url: String| freight_core::connection::ConnectionConfig {
        kind: freight_core::connection::DatabaseKind::Postgresql,
        url: Some(freight_core::connection::Secret::new(url)),
        host: None,
        port: None,
        database: None,
        user: None,
        password: None,
        schema: None,
    };
    let neighbour = freight_api::testing::fresh_database("freight_sec_engine_n").await;
    let job = crate::support::job_context(
        "mallory",
        config(neighbour),
        config(format!(
            "postgres://postgres@localhost/{}",
            database_name(&database)
        )),
    );
    let err = engine.plan(&job, true).await.unwrap_err();
    assert!(err.to_string().contains("connection not allowed"), "{err}");
    assert!(err.to_string().contains("Freight's own database"), "{err}");
}
