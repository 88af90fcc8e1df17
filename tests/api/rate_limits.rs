use std::sync::Arc;

use freight_api::rate_limit::RateLimits;
use serde_json::json;

use crate::common::{Api, Backend, NoPlanner, assert_problem, job_body};

async fn tenants_get_429_with_rate_limit_headers_beyond_their_budget(backend: Backend) {
    let limits = RateLimits {
        requests_per_minute: 5,
        creates_per_minute: 2,
        ..RateLimits::default()
    };
    let api = Api::spawn_limited_on(backend, Arc::new(NoPlanner), limits).await;
    let caller = api.new_tenant();
    let neighbour = api.new_tenant();

    // Job creation has the tighter limit.
    for _ in 0..2 {
        let created = api.post("/api/v1/jobs", &caller, &job_body()).await;
        // The window may roll over mid-test; a fresh window only makes more room.
        assert_eq!(created.status(), 201);
        assert_eq!(created.headers()["ratelimit-limit"], "2");
    }
    let refused = api.post("/api/v1/jobs", &caller, &job_body()).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    assert_problem(refused, 429, "RATE_LIMITED").await;

    // The general budget (5/min) is spent by the 3 creates plus 2 reads.
    for _ in 0..2 {
        assert_eq!(api.get("/api/v1/jobs", &caller).await.status(), 200);
    }
    assert_problem(api.get("/api/v1/jobs", &caller).await, 429, "RATE_LIMITED").await;

    // Another tenant has its own budget; a bad token spends nobody's.
    assert_eq!(api.get("/api/v1/jobs", &neighbour).await.status(), 200);
    let forged = crate::common::Caller {
        token: "not-a-token".into(),
        tenant: neighbour.tenant.clone(),
    };
    for _ in 0..6 {
        assert_problem(api.get("/api/v1/jobs", &forged).await, 401, "UNAUTHORIZED").await;
    }
    let still_ok = api.post("/api/v1/jobs/plan", &neighbour, &json!({})).await;
    assert_ne!(still_ok.status(), 429);
}

freight_api::on_both_backends!(tenants_get_429_with_rate_limit_headers_beyond_their_budget,);
