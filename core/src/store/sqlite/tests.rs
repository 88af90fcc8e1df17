//! What only the SQLite backend has to get right: its migrations table,
//! in-process event announcements, timestamps that sort as text. Its
//! behaviour as a `Store` is tested through the API, on both backends
//! (`tests/api`).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use futures::StreamExt;

use super::*;
use crate::tokens::Role;

/// A store on a new file, removed when the guard drops.
pub(super) struct TempStore {
    pub store: SqliteStore,
    dir: PathBuf,
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(super) async fn temp_store() -> TempStore {
    let dir = std::env::temp_dir().join(format!("freight-core-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(
        &dir.join("freight.db"),
        4,
        SecretBox::from_key_material("test-key"),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    TempStore { store, dir }
}

pub(super) fn audit() -> AuditInfo {
    AuditInfo {
        actor: "tester".into(),
        role: Role::Engineer,
        ip: None,
        user_agent: None,
    }
}

pub(super) fn spec() -> JobSpec {
    serde_json::from_value(serde_json::json!({
        "source_config": {"type": "mysql", "url": "mysql://app:pw-1@127.0.0.1:3306/shop"},
        "target_config": {"type": "postgresql", "url": "postgres://loader:pw-2@127.0.0.1/wh"},
        "started_by": "alice"
    }))
    .unwrap()
}

#[tokio::test]
async fn migrations_are_recorded_apart_from_sqlx_default_table_and_rerun_cleanly() {
    let temp = temp_store().await;
    temp.store.migrate().await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%migrations'",
    )
    .fetch_all(temp.store.reader())
    .await
    .unwrap();
    // apalis-sqlite's migrator owns `_sqlx_migrations`; ours never sees it.
    assert_eq!(tables, [MIGRATIONS_TABLE]);
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(temp.store.reader())
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(temp.store.writer())
        .await
        .unwrap();
    assert_eq!(foreign_keys, 1);
}

#[tokio::test]
async fn committed_status_changes_are_announced_to_watchers() {
    let temp = temp_store().await;
    let store = &temp.store;
    let tenant = TenantId::parse("acme").unwrap();
    let mut watch = store.watch_job_events().await.unwrap();
    let job = store.create_job(&tenant, &spec(), &audit()).await.unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap();
    assert_eq!(woke, Some(job.id), "the insert's status event");
    store.cancel_job(&tenant, job.id, &audit()).await.unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap();
    assert_eq!(woke, Some(job.id), "the cancel's status event");
    let events = store.job_events(&tenant, job.id, 0, 10).await.unwrap();
    let statuses: Vec<&str> = events
        .iter()
        .map(|e| e.data["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["queued", "cancelled"]);
    assert_eq!(events[1].data["previous_status"], "queued");
    // Another tenant sees none of it.
    let other = TenantId::parse("other").unwrap();
    assert!(
        store
            .job_events(&other, job.id, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.last_job_event(&other, job.id).await.unwrap(), 0);
}

#[tokio::test]
async fn a_rolled_back_change_writes_and_announces_nothing() {
    let temp = temp_store().await;
    let store = &temp.store;
    let tenant = TenantId::parse("acme").unwrap();
    let job = store.create_job(&tenant, &spec(), &audit()).await.unwrap();
    let mut watch = store.watch_job_events().await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    sqlx::query("UPDATE jobs SET status = 'running' WHERE id = $1")
        .bind(uuid_text(job.id.0))
        .execute(&mut *tx)
        .await
        .unwrap();
    drop(tx);
    assert_eq!(store.last_job_event(&tenant, job.id).await.unwrap(), 1);
    let nothing = tokio::time::timeout(Duration::from_millis(200), watch.next()).await;
    assert!(nothing.is_err(), "no wake-up for a rollback");
}

#[test]
fn stored_timestamps_sort_as_text_in_time_order() {
    let base = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let times = [
        base,
        base + chrono::Duration::microseconds(1),
        base + chrono::Duration::milliseconds(1),
        base + chrono::Duration::seconds(1),
    ];
    let texts: Vec<String> = times.iter().copied().map(timestamp).collect();
    assert_eq!(texts[0], "2026-01-01T00:00:00.000000Z");
    let mut sorted = texts.clone();
    sorted.sort();
    assert_eq!(sorted, texts);
}

#[tokio::test]
async fn a_sealed_config_opens_only_in_its_own_row() {
    let temp = temp_store().await;
    let store = &temp.store;
    let alice = TenantId::parse("alice").unwrap();
    let mallory = TenantId::parse("mallory").unwrap();
    let a = store.create_job(&alice, &spec(), &audit()).await.unwrap();
    let m = store.create_job(&mallory, &spec(), &audit()).await.unwrap();
    let (source, _) = store.job_connections(&alice, a.id).await.unwrap();
    assert!(source.secret_values().contains(&"pw-1".to_owned()));
    assert!(matches!(
        store.job_connections(&mallory, a.id).await,
        Err(StoreError::NotFound)
    ));
    sqlx::query(
        "UPDATE jobs SET source_config_sealed = a.source_config_sealed
         FROM jobs a WHERE jobs.id = $1 AND a.id = $2",
    )
    .bind(uuid_text(m.id.0))
    .bind(uuid_text(a.id.0))
    .execute(store.writer())
    .await
    .unwrap();
    assert!(matches!(
        store.job_connections(&mallory, m.id).await,
        Err(StoreError::Secret)
    ));
}

#[tokio::test]
async fn the_policy_refuses_the_store_file_by_any_path() {
    let temp = temp_store().await;
    let policy = crate::policy::ConnectionPolicy::for_local_user()
        .protect_database(temp.store.identity().unwrap());
    let tenant = TenantId::parse("acme").unwrap();
    let sqlite = |path: String| -> crate::connection::ConnectionConfig {
        serde_json::from_value(serde_json::json!({"type": "sqlite", "database": path})).unwrap()
    };
    let dir = temp.dir.display().to_string();
    let name = temp.dir.file_name().unwrap().to_string_lossy().into_owned();
    std::os::unix::fs::symlink(temp.store.path(), temp.dir.join("alias.db")).unwrap();
    for path in [
        format!("{dir}/freight.db"),
        format!("{dir}/./freight.db"),
        format!("{dir}/../{name}/freight.db"),
        format!("{dir}/alias.db"),
    ] {
        let refused = policy
            .vet("source_config", &tenant, &sqlite(path.clone()))
            .await;
        assert!(refused.is_err(), "{path} reached Freight's own file");
    }
    let other = policy
        .vet("source_config", &tenant, &sqlite(format!("{dir}/other.db")))
        .await;
    assert!(other.is_ok(), "{other:?}");
}
