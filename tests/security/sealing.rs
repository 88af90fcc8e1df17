//! A sealed connection config opens only in its own row.

use serde_json::json;

use crate::common::{Arg, Backend};
use crate::support::{body, secure_api_on};

async fn a_sealed_config_moved_to_another_tenants_row_does_not_open(backend: Backend) {
    let api = secure_api_on(backend, |p| p).await;
    let alice = api.new_tenant();
    let mallory = api.new_tenant();
    let neighbour = freight_api::testing::fresh_database("freight_sec_seal").await;
    let config = |password: &str| json!({"type": "postgresql", "host": "127.0.0.1", "database": crate::support::database_name(&neighbour), "user": "postgres", "password": password});
    let alices = api
        .create_job(
            &alice,
            &body(config("alice-secret-pw"), config("alice-secret-pw")),
        )
        .await;
    let mallorys = api
        .create_job(&mallory, &body(config("m"), config("m")))
        .await;
    let alice_job: freight_core::JobId = serde_json::from_value(alices["id"].clone()).unwrap();
    let mallory_job: freight_core::JobId = serde_json::from_value(mallorys["id"].clone()).unwrap();
    let alice_tenant = freight_core::TenantId::parse(&alice.tenant).unwrap();
    let mallory_tenant = freight_core::TenantId::parse(&mallory.tenant).unwrap();

    let (source, _) = api
        .app
        .store
        .job_connections(&alice_tenant, alice_job)
        .await
        .unwrap();
    assert_eq!(source.password.unwrap().expose(), "alice-secret-pw");

    // Someone with write access to Freight's tables copies Alice's blobs
    // into Mallory's row.
    api.exec_both(
        "UPDATE jobs SET source_config_sealed = a.source_config_sealed, target_config_sealed = a.target_config_sealed
         FROM jobs a WHERE jobs.id = $1 AND a.id = $2",
        &[mallory_job.0.into(), alice_job.0.into()],
    )
    .await;
    let err = api
        .app
        .store
        .job_connections(&mallory_tenant, mallory_job)
        .await
        .unwrap_err();
    assert!(matches!(err, freight_core::StoreError::Secret), "{err:?}");
    // Source and target of one job are bound to their side too.
    api.exec_both(
        "UPDATE jobs SET source_config_sealed = target_config_sealed WHERE id = $1",
        &[alice_job.0.into()],
    )
    .await;
    assert!(
        api.app
            .store
            .job_connections(&alice_tenant, alice_job)
            .await
            .is_err()
    );
    // The worker's reader refuses it the same way.
    let job_ref = freight_core::store::dispatch::JobRef {
        job_id: mallory_job,
        tenant: mallory_tenant,
    };
    let err = api
        .app
        .store
        .dispatch()
        .job_settings(&job_ref)
        .await
        .unwrap_err();
    assert!(matches!(err, freight_core::StoreError::Secret), "{err:?}");
}

async fn configs_sealed_before_binding_are_resealed_at_start_and_views_masked(backend: Backend) {
    let api = secure_api_on(backend, |p| p).await;
    let alice = api.new_tenant();
    let neighbour = freight_api::testing::fresh_database("freight_sec_reseal").await;
    let url = format!("{neighbour}?password=qs-secret-77");
    let job = api
        .create_job(
            &alice,
            &body(
                json!({"type": "postgresql", "url": url}),
                json!({"type": "postgresql", "url": neighbour}),
            ),
        )
        .await;
    let job_id: freight_core::JobId = serde_json::from_value(job["id"].clone()).unwrap();
    let tenant = freight_core::TenantId::parse(&alice.tenant).unwrap();
    let secrets = api.app.store.secrets().clone();
    // Make the row look like one written before this version: unbound seal,
    // unmasked view.
    let legacy = |config: serde_json::Value| {
        let config: freight_core::connection::ConnectionConfig =
            serde_json::from_value(config).unwrap();
        secrets.seal(&serde_json::to_vec(&config).unwrap(), &[])
    };
    api.exec(
        "UPDATE jobs SET source_config_sealed = $2, target_config_sealed = $3, configs_sealed_version = 1,
                         source_config_view = jsonb_build_object('type', 'postgresql', 'url', $4::text)
         WHERE id = $1",
        "UPDATE jobs SET source_config_sealed = $2, target_config_sealed = $3, configs_sealed_version = 1,
                         source_config_view = json_object('type', 'postgresql', 'url', $4)
         WHERE id = $1",
        &[
            job_id.0.into(),
            Arg::Bytes(legacy(json!({"type": "postgresql", "url": url}))),
            Arg::Bytes(legacy(json!({"type": "postgresql", "url": neighbour}))),
            (&url).into(),
        ],
    )
    .await;
    assert!(
        api.app
            .store
            .job_connections(&tenant, job_id)
            .await
            .is_err(),
        "version 1 is not read"
    );
    api.app.store.migrate().await.unwrap();
    let (source, _) = api
        .app
        .store
        .job_connections(&tenant, job_id)
        .await
        .unwrap();
    assert_eq!(
        source.secret_values().first().map(String::as_str),
        Some("qs-secret-77")
    );
    let shown = api
        .get(&format!("/api/v1/jobs/{job_id}"), &alice)
        .await
        .text()
        .await
        .unwrap();
    assert!(!shown.contains("qs-secret-77"), "{shown}");
}

freight_api::on_both_backends!(
    a_sealed_config_moved_to_another_tenants_row_does_not_open,
    configs_sealed_before_binding_are_resealed_at_start_and_views_masked,
);
