//! `/ready` checks its dependencies at most once a second per process,
//! however often it is called; the shutdown state is always current.

use serde_json::Value;

use crate::common::Api;

#[tokio::test]
async fn ready_shares_one_dependency_probe_between_callers() {
    let api = Api::spawn().await;
    let ready = || async {
        let response = api
            .http
            .get(format!("{}/ready", api.app.base_url))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap())
    };
    let before = api.app.state.dependency_probes();

    // Twenty callers at once, then twenty more one after the other.
    let concurrent = futures::future::join_all((0..20).map(|_| ready())).await;
    let mut answers = concurrent;
    for _ in 0..20 {
        answers.push(ready().await);
    }
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["postgres"], true);
        assert_eq!(body["redis"], true);
    }
    let probes = api.app.state.dependency_probes() - before;
    // One probe, or two if the forty calls straddled the one-second age.
    assert!(
        (1..=2).contains(&probes),
        "40 calls ran {probes} dependency probes"
    );

    // Shutting down shows at once, whatever the cached probe says.
    api.app.state.begin_shutdown();
    let (status, body) = ready().await;
    assert_eq!(status, 503);
    assert_eq!(body["shutting_down"], true);
    assert_eq!(body["status"], "not_ready");
}
