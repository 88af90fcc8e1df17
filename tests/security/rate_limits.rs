//! Rate limits follow the verified identity: the bearer scheme in any case
//! counts against its tenant, everything unverified against its client
//! address, and each installation counts in its own Redis namespace.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use freight_api::AppState;
use freight_api::rate_limit::RateLimits;
use reqwest::Response;

use crate::common::{Api, Backend, Caller, NoPlanner, assert_problem};

/// Waits out the last seconds of a one-minute window, so that a test's
/// requests all fall in one window (counters reset when it rolls over).
async fn start_of_a_window() {
    let second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second >= 50 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
}

async fn get_with_authorization(api: &Api, authorization: Option<&str>, tenant: &str) -> Response {
    let mut request = api
        .http
        .get(format!("{}/api/v1/jobs", api.app.base_url))
        .header("X-Tenant-ID", tenant);
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    request.send().await.unwrap()
}

async fn lower_case_bearer_is_counted_against_its_tenant(backend: Backend) {
    let limits = RateLimits {
        requests_per_minute: 4,
        creates_per_minute: 0,
        // Off: only the tenant budget can refuse these requests.
        anonymous_per_minute: 0,
    };
    let api = Api::spawn_limited_on(backend, Arc::new(NoPlanner), limits).await;
    let caller = api.new_tenant();
    start_of_a_window().await;

    // Every spelling of the scheme authenticates, and spends one budget.
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let authorization = format!("{scheme} {}", caller.token);
        let response = get_with_authorization(&api, Some(&authorization), &caller.tenant).await;
        assert_eq!(response.status(), 200, "{scheme}");
        assert_eq!(response.headers()["ratelimit-limit"], "4");
    }
    let authorization = format!("bearer {}", caller.token);
    let refused = get_with_authorization(&api, Some(&authorization), &caller.tenant).await;
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    assert_problem(refused, 429, "RATE_LIMITED").await;
}

async fn unverified_requests_are_limited_per_client_address(backend: Backend) {
    let limits = RateLimits {
        requests_per_minute: 100,
        creates_per_minute: 0,
        anonymous_per_minute: 3,
    };
    let api = Api::spawn_limited_on(backend, Arc::new(NoPlanner), limits).await;
    let caller = api.new_tenant();
    let neighbour = api.new_tenant();
    start_of_a_window().await;

    // No token, a forged token, a token for another tenant: one budget,
    // that of 127.0.0.1.
    let forged = "Bearer not-a-token".to_owned();
    let foreign = format!("Bearer {}", neighbour.token);
    let unverified = [None, Some(forged.as_str()), Some(foreign.as_str())];
    let expected = [401, 401, 403];
    for (authorization, status) in unverified.into_iter().zip(expected) {
        let response = get_with_authorization(&api, authorization, &caller.tenant).await;
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["ratelimit-limit"], "3");
    }
    for authorization in unverified {
        let refused = get_with_authorization(&api, authorization, &caller.tenant).await;
        assert_problem(refused, 429, "RATE_LIMITED").await;
    }

    // A verified caller from the same address has its tenant's budget.
    let ok = api.get("/api/v1/jobs", &caller).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["ratelimit-limit"], "100");

    // Probes are not counted.
    for path in ["/health", "/ready"] {
        let response = api
            .http
            .get(format!("{}{path}", api.app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

// Both backends: counted in Redis on PostgreSQL, in process on SQLite
// (`freight dev`).
freight_api::on_both_backends!(
    lower_case_bearer_is_counted_against_its_tenant,
    unverified_requests_are_limited_per_client_address,
);

/// Redis only: its namespaces are what this checks.
#[tokio::test]
async fn installations_sharing_a_redis_count_separately() {
    let limits = RateLimits {
        requests_per_minute: 2,
        creates_per_minute: 0,
        anonymous_per_minute: 0,
    };
    let api = Api::spawn_limited(Arc::new(NoPlanner), limits).await;
    let caller = api.new_tenant();
    let namespace = api.app.rate_limit_namespace.clone();
    let redis = redis::Client::open(api.app.redis_url.as_str()).unwrap();
    let replica_of = |namespace: &str| {
        AppState::new(
            api.app.store.as_dyn(),
            Arc::new(NoPlanner),
            api.app.tokens().clone(),
            redis.clone(),
        )
        .with_rate_limits(limits, namespace)
    };
    // A second replica of this installation, and another installation.
    let replica = freight_api::testing::serve_state(replica_of(&namespace)).await;
    let other_namespace = format!("{namespace}-other");
    let other = freight_api::testing::serve_state(replica_of(&other_namespace)).await;
    start_of_a_window().await;

    for _ in 0..2 {
        assert_eq!(api.get("/api/v1/jobs", &caller).await.status(), 200);
    }
    assert_problem(api.get("/api/v1/jobs", &caller).await, 429, "RATE_LIMITED").await;

    let at = |base_url: &str, caller: &Caller| {
        api.http
            .get(format!("{base_url}/api/v1/jobs"))
            .bearer_auth(&caller.token)
            .header("X-Tenant-ID", &caller.tenant)
            .send()
    };
    // Replicas of one installation share the tenant's budget...
    assert_problem(at(&replica, &caller).await.unwrap(), 429, "RATE_LIMITED").await;
    // ...another installation on the same Redis does not.
    let elsewhere = at(&other, &caller).await.unwrap();
    assert_eq!(elsewhere.status(), 200);
    assert_eq!(elsewhere.headers()["ratelimit-remaining"], "1");

    // The counters live under each installation's namespace.
    let mut connection = redis.get_multiplexed_async_connection().await.unwrap();
    for namespace in [&namespace, &other_namespace] {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{namespace}:ratelimit:requests:*"))
            .query_async(&mut connection)
            .await
            .unwrap();
        assert_eq!(keys.len(), 1, "{namespace}: {keys:?}");
        assert!(keys[0].ends_with(&format!(":tenant:{}", caller.tenant)));
    }
}

#[tokio::test]
async fn without_redis_limits_are_counted_in_process_and_ready_needs_no_redis() {
    let limits = RateLimits {
        requests_per_minute: 2,
        creates_per_minute: 0,
        anonymous_per_minute: 0,
    };
    // A tenant and its token from a normal harness; the embedded state
    // shares its store but has no Redis at all.
    let api = Api::spawn_with(Arc::new(NoPlanner)).await;
    let caller = api.new_tenant();
    let embedded = AppState::embedded(
        api.app.store.as_dyn(),
        Arc::new(NoPlanner),
        api.app.tokens().clone(),
    )
    .with_rate_limits(limits, "unused");
    let base_url = freight_api::testing::serve_state(embedded).await;
    start_of_a_window().await;

    let get = || {
        api.http
            .get(format!("{base_url}/api/v1/jobs"))
            .bearer_auth(&caller.token)
            .header("X-Tenant-ID", &caller.tenant)
            .send()
    };
    for remaining in ["1", "0"] {
        let response = get().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-remaining"], remaining);
    }
    let refused = get().await.unwrap();
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, 429, "RATE_LIMITED").await;

    let ready = api
        .http
        .get(format!("{base_url}/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["redis"], serde_json::Value::Null, "{body}");
    assert_eq!(body["postgres"], true, "{body}");
}

#[tokio::test]
async fn lower_case_bearer_is_counted_by_the_job_creation_limit() {
    let limits = RateLimits {
        requests_per_minute: 100,
        creates_per_minute: 2,
        anonymous_per_minute: 0,
    };
    let api = Api::spawn_limited(Arc::new(NoPlanner), limits).await;
    let caller = api.new_tenant();
    start_of_a_window().await;
    let create = |scheme: &str| {
        api.http
            .post(format!("{}/api/v1/jobs", api.app.base_url))
            .header("Authorization", format!("{scheme} {}", caller.token))
            .header("X-Tenant-ID", &caller.tenant)
            .json(&crate::common::job_body())
            .send()
    };
    for scheme in ["bearer", "BEARER"] {
        assert_eq!(create(scheme).await.unwrap().status(), 201, "{scheme}");
    }
    // The third creation in the window, in lower case too: refused.
    assert_problem(create("bearer").await.unwrap(), 429, "RATE_LIMITED").await;
    // Reading is still within the request budget.
    let read = get_with_authorization(
        &api,
        Some(&format!("bearer {}", caller.token)),
        &caller.tenant,
    )
    .await;
    assert_eq!(read.status(), 200);
}
