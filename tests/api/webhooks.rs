//! Webhooks: registered per tenant, delivered from the outbox signed per
//! Standard Webhooks, retried until the endpoint answers 2xx.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use freight_worker::webhooks::{SenderConfig, WebhookSender};
use serde_json::{Value, json};

use crate::common::{Api, Backend, SQLITE_NOW, assert_problem, job_body};

/// One request a receiver got: headers and body.
type Received = (HeaderMap, Vec<u8>);

/// A receiver that answers 500 to its first request and 204 after,
/// keeping what it got.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let received = self.received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let received = received.clone();
                async move {
                    let mut all = received.lock().unwrap();
                    all.push((headers, body.to_vec()));
                    if all.len() == 1 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn a_finished_job_is_delivered_signed_and_retried_until_accepted(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let owner = api.new_tenant();
    let other = api.new_tenant();
    let receiver = Receiver::default();
    let url = receiver.start().await;

    let created = api
        .post(
            "/api/v1/webhooks",
            &owner,
            &json!({"url": url, "events": ["job.cancelled", "job.failed"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let webhook_id = created["id"].as_str().unwrap().to_owned();
    let listed = api
        .get("/api/v1/webhooks", &owner)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains(&webhook_id) && !listed.contains(&secret[6..]),
        "the secret is shown only once: {listed}"
    );
    assert!(
        !api.get("/api/v1/webhooks", &other)
            .await
            .text()
            .await
            .unwrap()
            .contains(&webhook_id)
    );

    // A job of the tenant is cancelled: one delivery, in the same transaction.
    let job = api.create_job(&owner, &job_body()).await;
    let job_id = job["id"].as_str().unwrap().to_owned();
    let cancel = api
        .post(&format!("/api/v1/jobs/{job_id}/cancel"), &owner, &json!({}))
        .await;
    assert_eq!(cancel.status(), 200);

    let sender = WebhookSender::new(
        api.app.store.dispatch(),
        api.app.store.secrets().clone(),
        Arc::new(freight_core::policy::ConnectionPolicy::for_tenants()),
        SenderConfig {
            backoff_base: Duration::ZERO,
            ..SenderConfig::default()
        },
    );
    assert_eq!(sender.send_due().await.unwrap(), 1, "first attempt");
    let deliveries_path = format!("/api/v1/webhooks/{webhook_id}/deliveries");
    let after_first: Value = api
        .get(&deliveries_path, &owner)
        .await
        .json()
        .await
        .unwrap();
    let first = &after_first["items"][0];
    assert_eq!(
        (
            first["status"].as_str(),
            first["attempts"].as_i64(),
            first["last_status"].as_i64()
        ),
        (Some("pending"), Some(1), Some(500)),
        "{first}"
    );
    assert_eq!(
        sender.send_due().await.unwrap(),
        1,
        "retried at once (zero backoff)"
    );
    assert_eq!(sender.send_due().await.unwrap(), 0, "nothing left to send");

    let deliveries: Value = api
        .get(&deliveries_path, &owner)
        .await
        .json()
        .await
        .unwrap();
    let delivery = &deliveries["items"][0];
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    assert_eq!(delivery["attempts"], 2);
    assert_eq!(delivery["last_status"], 204);
    assert_eq!(delivery["event_type"], "job.cancelled");

    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    let ids: Vec<&str> = received
        .iter()
        .map(|(h, _)| header(h, "webhook-id"))
        .collect();
    assert_eq!(ids[0], ids[1], "the same message id on every attempt");
    assert_eq!(ids[0], delivery["id"].as_str().unwrap());
    for (headers, body) in &received {
        // Standard Webhooks: HMAC-SHA256 of "id.timestamp.body", keyed
        // with the base64 part of the secret, computed here independently.
        let key = STANDARD.decode(&secret["whsec_".len()..]).unwrap();
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
        let signed = format!(
            "{}.{}.",
            header(headers, "webhook-id"),
            header(headers, "webhook-timestamp")
        );
        let mut message = signed.into_bytes();
        message.extend_from_slice(body);
        let expected = format!(
            "v1,{}",
            STANDARD.encode(aws_lc_rs::hmac::sign(&key, &message).as_ref())
        );
        assert_eq!(header(headers, "webhook-signature"), expected);
        let timestamp: i64 = header(headers, "webhook-timestamp").parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
        let payload: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(payload["type"], "job.cancelled");
        assert_eq!(payload["data"]["job_id"], job_id);
        assert_eq!(payload["data"]["status"], "cancelled");
    }

    // Another tenant cannot see or delete it; its owner can.
    assert_problem(api.get(&deliveries_path, &other).await, 404, "NOT_FOUND").await;
    let path = format!("/api/v1/webhooks/{webhook_id}");
    let foreign = api
        .request(reqwest::Method::DELETE, &path, &other)
        .send()
        .await
        .unwrap();
    assert_problem(foreign, 404, "NOT_FOUND").await;
    let deleted = api
        .request(reqwest::Method::DELETE, &path, &owner)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let listed: Value = api
        .get("/api/v1/webhooks", &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));
}

/// Registering, listing and deleting webhooks, and what another tenant
/// sees of them (nothing), on every store backend.
async fn webhooks_are_the_tenants_own(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let owner = api.new_tenant();
    let other = api.new_tenant();
    let mut ids = Vec::new();
    for events in [
        json!(["job.failed"]),
        json!(["job.completed", "validation.finished"]),
    ] {
        let created = api
            .post(
                "/api/v1/webhooks",
                &owner,
                &json!({"url": "http://127.0.0.1:9/hook", "events": events}),
            )
            .await;
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["events"], events);
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let listed: Value = api
        .get("/api/v1/webhooks", &owner)
        .await
        .json()
        .await
        .unwrap();
    let listed_ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed_ids,
        [ids[1].as_str(), ids[0].as_str()],
        "newest first"
    );
    assert!(listed["items"][0].get("secret").is_none());
    let theirs: Value = api
        .get("/api/v1/webhooks", &other)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["items"], json!([]));

    let path = format!("/api/v1/webhooks/{}", ids[0]);
    assert_problem(
        api.get(&format!("{path}/deliveries"), &other).await,
        404,
        "NOT_FOUND",
    )
    .await;
    let foreign = api
        .request(reqwest::Method::DELETE, &path, &other)
        .send()
        .await
        .unwrap();
    assert_problem(foreign, 404, "NOT_FOUND").await;
    let deliveries: Value = api
        .get(&format!("{path}/deliveries"), &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deliveries["items"], json!([]));
    let deleted = api
        .request(reqwest::Method::DELETE, &path, &owner)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let again = api
        .request(reqwest::Method::DELETE, &path, &owner)
        .send()
        .await
        .unwrap();
    assert_problem(again, 404, "NOT_FOUND").await;
    let audit: Value = api.get("/api/v1/audit", &owner).await.json().await.unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["webhook.delete", "webhook.create", "webhook.create"]
    );
}

async fn webhook_urls_pass_the_connection_policy(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00:ec2::254]/",
        "http://127.0.0.1:6379/",
    ] {
        let problem = assert_problem(
            api.post(
                "/api/v1/webhooks",
                &caller,
                &json!({"url": url, "events": ["job.failed"]}),
            )
            .await,
            422,
            "CONNECTION_NOT_ALLOWED",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "url", "{url}");
    }
    // A URL that is not one (or not http(s), or with credentials) is a
    // malformed field, not a policy refusal.
    for (body, field) in [
        (json!({"url": "", "events": ["job.failed"]}), "url"),
        (
            json!({"url": "ftp://example.com/x", "events": ["job.failed"]}),
            "url",
        ),
        (json!({"url": "http://", "events": ["job.failed"]}), "url"),
        (
            json!({"url": " http://127.0.0.1:9/x", "events": ["job.failed"]}),
            "url",
        ),
        (
            json!({"url": "http://127.0.0.1:9/é", "events": ["job.failed"]}),
            "url",
        ),
        (
            json!({"url": "http://user:pw@127.0.0.1:9/x", "events": ["job.failed"]}),
            "url",
        ),
        (
            json!({"url": format!("http://127.0.0.1:9/{}", "x".repeat(2048)), "events": ["job.failed"]}),
            "url",
        ),
        (
            json!({"url": "http://127.0.0.1:9/x", "events": []}),
            "events",
        ),
    ] {
        let problem = assert_problem(
            api.post("/api/v1/webhooks", &caller, &body).await,
            422,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    // Upper-case schemes are schemes.
    let created = api
        .post(
            "/api/v1/webhooks",
            &caller,
            &json!({"url": "HTTP://127.0.0.1:9/x", "events": ["job.failed"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let unknown_event = api
        .post(
            "/api/v1/webhooks",
            &caller,
            &json!({"url": "http://127.0.0.1:9/x", "events": ["job.exploded"]}),
        )
        .await;
    assert_eq!(unknown_event.status(), 422);
}

async fn a_settled_validation_is_delivered_as_validation_finished(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let owner = api.new_tenant();
    let created = api
        .post(
            "/api/v1/webhooks",
            &owner,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["validation.finished"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let webhook: Value = created.json().await.unwrap();
    let job = api.create_job(&owner, &job_body()).await;
    let job_id = uuid::Uuid::parse_str(job["id"].as_str().unwrap()).unwrap();
    // What the API and the last validator do: start a validation, settle it.
    let validation = uuid::Uuid::new_v4();
    api.exec_both(
        "INSERT INTO validations (id, tenant_id, job_id, status, ranges_total, created_by)
         VALUES ($1, $2, $3, 'running', 3, 'test')",
        &[validation.into(), (&owner.tenant).into(), job_id.into()],
    )
    .await;
    let path = format!(
        "/api/v1/webhooks/{}/deliveries",
        webhook["id"].as_str().unwrap()
    );
    let before: Value = api.get(&path, &owner).await.json().await.unwrap();
    assert_eq!(before["items"], json!([]), "nothing while it runs");
    api.exec(
        "UPDATE validations SET status = 'failed', mismatched = 1, checked_at = now() WHERE id = $1",
        &format!("UPDATE validations SET status = 'failed', mismatched = 1, checked_at = {SQLITE_NOW} WHERE id = $1"),
        &[validation.into()],
    )
    .await;
    let after: Value = api.get(&path, &owner).await.json().await.unwrap();
    let delivery = &after["items"][0];
    assert_eq!(delivery["event_type"], "validation.finished", "{after}");
    assert_eq!(delivery["payload"]["data"]["status"], "failed");
    assert_eq!(delivery["payload"]["data"]["mismatched_ranges"], 1);
    assert_eq!(delivery["payload"]["data"]["job_id"], job_id.to_string());
    // A job event the webhook did not ask for is not delivered.
    let cancel = api
        .post(&format!("/api/v1/jobs/{job_id}/cancel"), &owner, &json!({}))
        .await;
    assert_eq!(cancel.status(), 200);
    let last: Value = api.get(&path, &owner).await.json().await.unwrap();
    assert_eq!(last["items"].as_array().unwrap().len(), 1, "{last}");
}

freight_api::on_both_backends!(
    a_finished_job_is_delivered_signed_and_retried_until_accepted,
    webhooks_are_the_tenants_own,
    webhook_urls_pass_the_connection_policy,
    a_settled_validation_is_delivered_as_validation_finished,
);
