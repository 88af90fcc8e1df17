//! What a tenant sees of the worker fleet: counts and its own running
//! batches; worker ids and host names only with the admin role.

use freight_core::store::dispatch::WorkerBeat;
use serde_json::Value;

use crate::common::{Api, Backend, Caller, job_body};

/// A running batch of `caller`'s job `job`, leased by `worker`, as the
/// worker's claim leaves it.
async fn running_batch(api: &Api, caller: &Caller, job: &Value, worker: &str) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    api.exec(
        "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, attempts,
                              lease_owner, lease_expires_at, started_at)
         VALUES ($1, $2::uuid, $3, 0, 'orders', 'running', 1, $4, now() + interval '1 minute', now())",
        "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, attempts,
                              lease_owner, lease_expires_at, started_at)
         VALUES ($1, $2, $3, 0, 'orders', 'running', 1, $4,
                 strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '+1 minute'),
                 strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))",
        &[
            id.into(),
            job["id"].as_str().unwrap().into(),
            (&caller.tenant).into(),
            worker.into(),
        ],
    )
    .await;
    id
}

async fn engineers_see_counts_and_their_own_batches_admins_see_the_fleet(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let engineer = api.new_tenant();
    let neighbour = api.new_tenant();
    let beat = WorkerBeat {
        id: format!("worker-{}", uuid::Uuid::new_v4().simple()),
        host: "build-host-7.internal.example".into(),
        pid: 4242,
        concurrency: 4,
        in_flight: 2,
        rows_processed: 9876,
    };
    api.app.store.dispatch().heartbeat(&beat).await.unwrap();

    let my_job = api.create_job(&engineer, &job_body()).await;
    let their_job = api.create_job(&neighbour, &job_body()).await;
    let mine = running_batch(&api, &engineer, &my_job, &beat.id).await;
    let theirs = running_batch(&api, &neighbour, &their_job, &beat.id).await;

    let response = api.get("/api/v1/workers", &engineer).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains(&beat.id), "worker id leaked: {text}");
    assert!(!text.contains(&beat.host), "host name leaked: {text}");
    assert!(
        !text.contains(&theirs.to_string()),
        "another tenant's batch: {text}"
    );
    let status: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(status["workers"], serde_json::json!([]));
    assert_eq!(status["live_workers"], 1);
    assert_eq!(status["in_flight_batches"], 1);
    let batches = status["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 1, "{status}");
    assert_eq!(batches[0]["id"], mine.to_string());
    assert_eq!(batches[0]["job_id"], my_job["id"]);
    assert_eq!(batches[0]["table_name"], "orders");
    assert_eq!(batches[0]["attempts"], 1);
    assert!(batches[0]["started_at"].is_string());

    // An admin token (no tenants of its own) acting for the engineer's
    // tenant sees the fleet, and still only that tenant's batches.
    let admin = Caller {
        token: api.app.token(&[], "admin"),
        tenant: engineer.tenant.clone(),
    };
    let status: Value = api
        .get("/api/v1/workers", &admin)
        .await
        .json()
        .await
        .unwrap();
    let workers = status["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1, "{status}");
    assert_eq!(workers[0]["id"], beat.id);
    assert_eq!(workers[0]["host"], beat.host);
    assert_eq!(workers[0]["rows_processed"], 9876);
    assert_eq!(status["batches"].as_array().unwrap().len(), 1);
    assert_eq!(status["batches"][0]["id"], mine.to_string());
}

freight_api::on_both_backends!(engineers_see_counts_and_their_own_batches_admins_see_the_fleet);
