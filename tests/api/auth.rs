use freight_core::tokens::Role;
use reqwest::Method;

use crate::common::{Api, Backend, Caller, assert_problem};

async fn requests_without_a_valid_token_are_401(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let url = format!("{}/api/v1/jobs", api.app.base_url);

    let missing = api
        .http
        .get(&url)
        .header("X-Tenant-ID", "acme")
        .send()
        .await
        .unwrap();
    assert_problem(missing, 401, "UNAUTHORIZED").await;

    let not_bearer = api
        .http
        .get(&url)
        .header("Authorization", "Basic YTpi")
        .header("X-Tenant-ID", "acme")
        .send()
        .await
        .unwrap();
    assert_problem(not_bearer, 401, "UNAUTHORIZED").await;

    let forged = freight_core::tokens::TokenKeys::new("some-other-secret-value")
        .mint(
            "mallory",
            &["acme".into()],
            Role::Admin,
            chrono::Duration::hours(1),
        )
        .unwrap();
    let response = api
        .get(
            "/api/v1/jobs",
            &Caller {
                token: forged,
                tenant: "acme".into(),
            },
        )
        .await;
    assert_problem(response, 401, "UNAUTHORIZED").await;

    let expired = api
        .app
        .tokens()
        .mint(
            "alice",
            &["acme".into()],
            Role::Engineer,
            chrono::Duration::hours(-2),
        )
        .unwrap();
    let response = api
        .get(
            "/api/v1/jobs",
            &Caller {
                token: expired,
                tenant: "acme".into(),
            },
        )
        .await;
    let body = assert_problem(response, 401, "UNAUTHORIZED").await;
    assert_eq!(body["detail"], "token expired");
}

async fn tenant_header_is_required_well_formed_and_granted(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let url = format!("{}/api/v1/jobs", api.app.base_url);

    let missing = api
        .http
        .get(&url)
        .bearer_auth(&caller.token)
        .send()
        .await
        .unwrap();
    assert_problem(missing, 400, "VALIDATION_ERROR").await;

    let malformed = Caller {
        tenant: "Not A Tenant!".into(),
        ..caller.clone()
    };
    assert_problem(
        api.get("/api/v1/jobs", &malformed).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;

    let other = Caller {
        tenant: "someone-else".into(),
        ..caller.clone()
    };
    assert_problem(api.get("/api/v1/jobs", &other).await, 403, "FORBIDDEN").await;

    let ok = api.get("/api/v1/jobs", &caller).await;
    assert_eq!(ok.status(), 200);
}

async fn admin_routes_need_the_admin_role_and_admins_may_act_for_any_tenant(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let engineer = api.new_tenant();
    let response = api.get("/api/v1/admin/tenants/statistics", &engineer).await;
    assert_problem(response, 403, "FORBIDDEN").await;

    let admin = Caller {
        token: api.app.token(&[], "admin"),
        tenant: engineer.tenant.clone(),
    };
    let response = api.get("/api/v1/admin/tenants/statistics", &admin).await;
    assert_eq!(response.status(), 200);
    let response = api.get("/api/v1/jobs", &admin).await;
    assert_eq!(response.status(), 200, "admin acts for any tenant");
}

async fn health_needs_no_token_and_ready_checks_the_store_and_redis(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let health: serde_json::Value = api
        .http
        .get(format!("{}/health", api.app.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_seconds"].is_u64());

    let ready = api
        .http
        .get(format!("{}/ready", api.app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    let null = serde_json::Value::Null;
    match backend {
        Backend::Postgres => {
            assert_eq!(body["postgres"], true);
            assert_eq!(body["redis"], true);
            assert_eq!(body["sqlite"], null);
        }
        // `freight dev`: the SQLite file, and no Redis to ask.
        Backend::Sqlite => {
            assert_eq!(body["sqlite"], true);
            assert_eq!(body["postgres"], null);
            assert_eq!(body["redis"], null);
        }
    }

    api.app.state.begin_shutdown();
    let draining = api
        .http
        .get(format!("{}/ready", api.app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(draining.status(), 503);
}

async fn unknown_routes_are_problem_json_404(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let response = api
        .request(Method::GET, "/api/v1/nope", &caller)
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "NOT_FOUND").await;
}

freight_api::on_both_backends!(
    requests_without_a_valid_token_are_401,
    tenant_header_is_required_well_formed_and_granted,
    admin_routes_need_the_admin_role_and_admins_may_act_for_any_tenant,
    health_needs_no_token_and_ready_checks_the_store_and_redis,
    unknown_routes_are_problem_json_404,
);
