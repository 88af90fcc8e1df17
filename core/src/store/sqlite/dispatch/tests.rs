//! The dispatch traits on a temp SQLite file: what workers race for is
//! won once. Races run on two stores opened on the same file (two writer
//! connections, as two processes would have), so they test `BEGIN
//! IMMEDIATE` and the busy timeout, not only the in-process pool queue.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::join_all;

use crate::ids::TenantId;
use crate::job::{BatchStatus, JobStatus};
use crate::plan::{CopyMode, PlanReport, TablePlan};
use crate::secrets::SecretBox;
use crate::store::dispatch::*;
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::tests::{TempStore, audit, spec, temp_store};
use crate::store::{
    BatchFilter, DeliveryFilter, DeliveryStatus, NewWebhook, Store, ValidationStatus,
};
use crate::webhooks::WebhookEventType;
use crate::work::{BatchOutcome, JobPlan, PlannedBatch, RangeCheck, RangeSide, RejectedRecord};

const TTL: Duration = Duration::from_secs(60);

/// The temp store and a second store on the same file.
async fn two_stores() -> (TempStore, Arc<SqliteStore>) {
    let temp = temp_store().await;
    let other = SqliteStore::open(
        temp.store.path(),
        2,
        SecretBox::from_key_material("test-key"),
    )
    .await
    .unwrap();
    (temp, Arc::new(other))
}

fn plan(batches: usize) -> JobPlan {
    JobPlan {
        report: PlanReport {
            tables: vec![TablePlan {
                table_name: "orders".into(),
                key_columns: vec!["id".into()],
                copy_mode: CopyMode::KeyRanges,
                rows_estimate: 1000,
                batch_count: i64::try_from(batches).unwrap(),
                target_ddl: Vec::new(),
                warnings: vec!["decimal(40) read as text".into()],
            }],
            total_rows_estimate: 1000,
            total_batches: i64::try_from(batches).unwrap(),
            warnings: Vec::new(),
        },
        batches: (0..batches)
            .map(|i| PlannedBatch {
                table_name: "orders".into(),
                key_start: (i > 0).then(|| serde_json::json!([i * 100])),
                key_end: (i + 1 < batches).then(|| serde_json::json!([(i + 1) * 100])),
            })
            .collect(),
    }
}

/// A running job of `tenant` with `batches` planned batches.
async fn planned_job(store: &SqliteStore, tenant: &TenantId, batches: usize) -> JobRef {
    store.create_job(tenant, &spec(), &audit()).await.unwrap();
    let started = store.start_queued_job().await.unwrap().unwrap();
    assert_eq!(&started.job.tenant, tenant);
    let job = store
        .claim_job_to_plan("planner", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job, started.job);
    let stored = store
        .store_plan(&job, "planner", &plan(batches))
        .await
        .unwrap();
    assert_eq!(stored, PlanStored::Stored { batches });
    job
}

async fn batch_refs(store: &SqliteStore, job: &JobRef) -> Vec<BatchRef> {
    store
        .list_batches(&job.tenant, job.job_id, &BatchFilter::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|b| BatchRef {
            batch_id: b.id,
            job_id: job.job_id,
            tenant: job.tenant.clone(),
        })
        .collect()
}

#[tokio::test]
async fn concurrent_claimers_of_one_batch_never_both_win() {
    let (temp, other) = two_stores().await;
    let store = Arc::new(temp.store.clone());
    let tenant = TenantId::parse("acme").unwrap();
    let job = planned_job(&store, &tenant, 20).await;
    for batch in batch_refs(&store, &job).await {
        // Eight claimers on two connections for every batch.
        let claims = join_all((0..8).map(|i| {
            let store = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            let batch = batch.clone();
            tokio::spawn(async move {
                store
                    .claim_batch(&batch, &format!("worker-{i}"), TTL)
                    .await
                    .unwrap()
            })
        }))
        .await;
        let winners: Vec<ClaimedBatch> = claims.into_iter().filter_map(|c| c.unwrap()).collect();
        assert_eq!(
            winners.len(),
            1,
            "exactly one claim of {:?}",
            batch.batch_id
        );
        assert_eq!(winners[0].attempts, 1);
    }
    let running = store
        .list_batches(
            &tenant,
            job.job_id,
            &BatchFilter {
                status: Some(BatchStatus::Running),
                ..BatchFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(running.total, Some(20));
}

#[tokio::test]
async fn concurrent_dispatch_windows_hand_out_each_batch_once() {
    let (temp, other) = two_stores().await;
    let store = Arc::new(temp.store.clone());
    let tenant = TenantId::parse("acme").unwrap();
    let job = planned_job(&store, &tenant, 30).await;
    let takes = join_all((0..6).map(|i| {
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tokio::spawn(async move {
            store
                .take_dispatchable(7, Duration::from_secs(300))
                .await
                .unwrap()
        })
    }))
    .await;
    let taken: Vec<BatchRef> = takes.into_iter().flat_map(|t| t.unwrap()).collect();
    let unique: HashSet<_> = taken.iter().map(|b| b.batch_id).collect();
    assert_eq!(unique.len(), taken.len(), "no batch handed out twice");
    assert_eq!(taken.len(), 30, "6 x 7 asked, 30 exist");
    assert!(
        taken
            .iter()
            .all(|b| b.job_id == job.job_id && b.tenant == tenant)
    );
    let state = store
        .dispatch_state(Duration::from_secs(300), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(state.outstanding, 30);
    assert!(
        store
            .take_dispatchable(5, Duration::from_secs(300))
            .await
            .unwrap()
            .is_empty(),
        "all recently dispatched"
    );
    store.undispatch(&taken[..3]).await.unwrap();
    assert_eq!(
        store
            .take_dispatchable(5, Duration::from_secs(300))
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn jobs_take_turns_in_the_dispatch_window() {
    let temp = temp_store().await;
    let store = &temp.store;
    let a = planned_job(store, &TenantId::parse("a").unwrap(), 4).await;
    let b = planned_job(store, &TenantId::parse("b").unwrap(), 4).await;
    let taken = store
        .take_dispatchable(4, Duration::from_secs(300))
        .await
        .unwrap();
    let jobs: Vec<_> = taken.iter().map(|t| t.job_id).collect();
    assert_eq!(jobs, [a.job_id, b.job_id, a.job_id, b.job_id]);
}

#[tokio::test]
async fn one_job_lease_for_concurrent_planners() {
    let (temp, other) = two_stores().await;
    let store = Arc::new(temp.store.clone());
    let tenant = TenantId::parse("acme").unwrap();
    store.create_job(&tenant, &spec(), &audit()).await.unwrap();
    let starts = join_all((0..4).map(|i| {
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tokio::spawn(async move { store.start_queued_job().await.unwrap() })
    }))
    .await;
    assert_eq!(
        starts
            .into_iter()
            .filter(|s| s.as_ref().unwrap().is_some())
            .count(),
        1
    );
    let claims = join_all((0..6).map(|i| {
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tokio::spawn(async move {
            store
                .claim_job_to_plan(&format!("planner-{i}"), TTL)
                .await
                .unwrap()
        })
    }))
    .await;
    let won: Vec<usize> = claims
        .into_iter()
        .enumerate()
        .filter(|(_, c)| c.as_ref().unwrap().is_some())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(won.len(), 1);
    let job = JobRef {
        job_id: store
            .list_jobs(&tenant, &Default::default())
            .await
            .unwrap()
            .items[0]
            .id,
        tenant: tenant.clone(),
    };
    // Only the holder may store the plan.
    let loser = format!("planner-{}", (won[0] + 1) % 6);
    assert_eq!(
        store.store_plan(&job, &loser, &plan(2)).await.unwrap(),
        PlanStored::Discarded
    );
    assert!(!store.renew_job_lease(&job, &loser, TTL).await.unwrap());
    let winner = format!("planner-{}", won[0]);
    assert!(store.renew_job_lease(&job, &winner, TTL).await.unwrap());
    assert_eq!(
        store.store_plan(&job, &winner, &plan(2)).await.unwrap(),
        PlanStored::Stored { batches: 2 }
    );
    let detail = store.get_job(&tenant, job.job_id).await.unwrap();
    assert_eq!(detail.batches.pending, 2);
    assert_eq!(detail.plan_warnings, ["orders: decimal(40) read as text"]);
    assert_eq!(detail.job.rows_estimated, 1000);
}

#[tokio::test]
async fn an_expired_lease_is_taken_back_and_the_old_owner_stores_nothing() {
    let temp = temp_store().await;
    let store = &temp.store;
    let tenant = TenantId::parse("acme").unwrap();
    let job = planned_job(store, &tenant, 1).await;
    let batch = batch_refs(store, &job).await.remove(0);
    let first = store
        .claim_batch(&batch, "dead-worker", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let expired = store.expire_leases(3).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].new_status, BatchStatus::Pending);
    assert_eq!(expired[0].previous_owner.as_deref(), Some("dead-worker"));
    assert!(
        store
            .complete_batch(&first, "dead-worker", &BatchOutcome::default())
            .await
            .unwrap()
            .is_none(),
        "the lease is gone"
    );
    assert_eq!(
        store
            .fail_attempt(&first, "dead-worker", "late", None, &[])
            .await
            .unwrap(),
        AttemptFailed::LeaseLost
    );
    let second = store
        .claim_batch(&batch, "worker-2", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.attempts, 2);
    assert_eq!(second.lost_leases, 1);
    // A transient failure: pending again after a backoff, announced as a
    // failed attempt.
    let rejected = [RejectedRecord {
        key: serde_json::json!([7]),
        column: Some("amount".into()),
        message: "out of range".into(),
    }];
    assert_eq!(
        store
            .fail_attempt(
                &second,
                "worker-2",
                "connection reset",
                Some(Duration::from_secs(30)),
                &rejected,
            )
            .await
            .unwrap(),
        AttemptFailed::WillRetry
    );
    let due = store.next_due_in().await.unwrap().unwrap();
    assert!(
        due > Duration::from_secs(25) && due <= Duration::from_secs(30),
        "{due:?}"
    );
    assert!(
        store
            .claim_batch(&batch, "worker-3", TTL)
            .await
            .unwrap()
            .is_none(),
        "not due yet"
    );
    let events = store.job_events(&tenant, job.job_id, 0, 100).await.unwrap();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.kind == crate::store::JobEventKind::BatchFailed)
        .collect();
    assert_eq!(failed.len(), 2, "lease lost, then the failed attempt");
    assert_eq!(failed[1].data["error"], "connection reset");
    assert_eq!(failed[1].data["final"], false);
    let logs = store
        .list_logs(
            &tenant,
            job.job_id,
            &crate::store::LogFilter {
                min_level: Some(crate::job::LogLevel::Error),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(logs.items.len(), 1);
    assert_eq!(logs.items[0].record_key, Some(serde_json::json!([7])));
    assert_eq!(logs.items[0].column_name.as_deref(), Some("amount"));
}

#[tokio::test]
async fn a_job_runs_to_completion_and_its_webhook_delivery_is_claimed_once() {
    let (temp, other) = two_stores().await;
    let store = Arc::new(temp.store.clone());
    let tenant = TenantId::parse("acme").unwrap();
    let hook = store
        .create_webhook(
            &tenant,
            &NewWebhook {
                url: "http://127.0.0.1:9/hook".into(),
                events: vec![WebhookEventType::parse("job.completed").unwrap()],
            },
            &audit(),
        )
        .await
        .unwrap();
    let mut wakeups = store.watch_jobs().await.unwrap();
    let job = planned_job(&store, &tenant, 3).await;
    tokio::time::timeout(Duration::from_secs(5), wakeups.next())
        .await
        .unwrap()
        .unwrap();
    for batch in batch_refs(&store, &job).await {
        let claimed = store.claim_batch(&batch, "w", TTL).await.unwrap().unwrap();
        let outcome = BatchOutcome {
            rows_read: 10,
            rows_written: 10,
            verified: Some(true),
            ..BatchOutcome::default()
        };
        assert_eq!(
            store.complete_batch(&claimed, "w", &outcome).await.unwrap(),
            Some(BatchStatus::Completed)
        );
    }
    let finishing = store.claim_job_to_finish("w", TTL).await.unwrap().unwrap();
    assert!(store.claim_job_to_finish("x", TTL).await.unwrap().is_none());
    assert_eq!(
        store
            .finalize_job(&finishing, "w", Some(Ok(vec!["index skipped".into()])))
            .await
            .unwrap(),
        Some(JobStatus::Completed)
    );
    let detail = store.get_job(&tenant, job.job_id).await.unwrap();
    assert_eq!(detail.job.status, JobStatus::Completed);
    assert_eq!(detail.job.rows_written, 30);
    assert!(detail.plan_warnings.contains(&"index skipped".to_owned()));

    // The outbox row was written with the status change; two senders
    // racing for it: one gets it.
    let claims = join_all((0..4).map(|i| {
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tokio::spawn(async move {
            let owner = format!("sender-{i}");
            let claimed = store.claim_deliveries(&owner, TTL, 10).await.unwrap();
            claimed.into_iter().map(move |d| (owner.clone(), d))
        })
    }))
    .await;
    let claimed: Vec<(String, ClaimedDelivery)> =
        claims.into_iter().flat_map(|c| c.unwrap()).collect();
    assert_eq!(claimed.len(), 1);
    let (owner, delivery) = &claimed[0];
    assert_eq!(delivery.payload["type"], "job.completed");
    assert_eq!(delivery.payload["data"]["rows_written"], 30);
    assert_eq!(delivery.attempt, 1);
    assert_eq!(delivery.webhook, hook.webhook.id);
    let delivered = DeliveryAttempt {
        status: DeliveryStatus::Delivered,
        http_status: Some(204),
        error: None,
        retry_in: Duration::ZERO,
    };
    let status = async || {
        store
            .list_webhook_deliveries(&tenant, hook.webhook.id, &DeliveryFilter::default())
            .await
            .unwrap()
            .items[0]
            .status
    };
    store
        .record_delivery(delivery.id, "not-the-owner", &delivered)
        .await
        .unwrap();
    assert_eq!(status().await, DeliveryStatus::Pending, "not its lease");
    store
        .record_delivery(delivery.id, owner, &delivered)
        .await
        .unwrap();
    assert_eq!(status().await, DeliveryStatus::Delivered);
    assert!(
        store
            .claim_deliveries("late", TTL, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn validation_ranges_are_claimed_once_and_settle_the_validation() {
    let (temp, other) = two_stores().await;
    let store = Arc::new(temp.store.clone());
    let tenant = TenantId::parse("acme").unwrap();
    let job = planned_job(&store, &tenant, 4).await;
    for batch in batch_refs(&store, &job).await {
        let claimed = store.claim_batch(&batch, "w", TTL).await.unwrap().unwrap();
        store
            .complete_batch(&claimed, "w", &BatchOutcome::default())
            .await
            .unwrap();
    }
    let finishing = store.claim_job_to_finish("w", TTL).await.unwrap().unwrap();
    store.finalize_job(&finishing, "w", None).await.unwrap();
    let mut wakeups = store.watch_jobs().await.unwrap();
    store
        .start_validation(&tenant, job.job_id, &audit())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), wakeups.next())
        .await
        .unwrap()
        .unwrap();

    let claims = join_all((0..8).map(|i| {
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tokio::spawn(async move {
            let owner = format!("validator-{i}");
            let claimed = store.claim_validation_range(&owner, TTL).await.unwrap();
            (owner, claimed)
        })
    }))
    .await;
    let claimed: Vec<(String, ClaimedRange)> = claims
        .into_iter()
        .filter_map(|c| {
            let (owner, claimed) = c.unwrap();
            claimed.map(|c| (owner, c))
        })
        .collect();
    assert_eq!(claimed.len(), 4, "one claim per range");
    let ranges: HashSet<_> = claimed.iter().map(|(_, c)| c.range.batch_id).collect();
    assert_eq!(ranges.len(), 4);
    for (i, (owner, range)) in claimed.iter().enumerate() {
        assert!(
            !store
                .record_range(range, "intruder", &check(true))
                .await
                .unwrap()
        );
        assert!(
            store
                .record_range(range, owner, &check(i != 0))
                .await
                .unwrap()
        );
        assert!(store.settle_validations().await.unwrap().len() <= 1);
    }
    let detail = store.get_job(&tenant, job.job_id).await.unwrap();
    let validation = detail.validation.unwrap();
    assert_eq!(validation.status, ValidationStatus::Failed);
    assert_eq!(validation.mismatched_batches, [claimed[0].1.range.batch_id]);
}

fn check(matched: bool) -> RangeCheck {
    let side = RangeSide {
        rows: 10,
        checksum: u128::from(u64::MAX) * 3,
    };
    RangeCheck {
        source: side,
        target: if matched {
            side
        } else {
            RangeSide { rows: 9, ..side }
        },
        matched,
        detail: "compared".into(),
    }
}

#[tokio::test]
async fn cancelling_settles_pending_batches_and_heartbeats_count_slots() {
    let temp = temp_store().await;
    let store = &temp.store;
    let tenant = TenantId::parse("acme").unwrap();
    let job = planned_job(store, &tenant, 3).await;
    let batch = batch_refs(store, &job).await.remove(0);
    let claimed = store.claim_batch(&batch, "w", TTL).await.unwrap().unwrap();
    let cancelled = store
        .cancel_job(&tenant, job.job_id, &audit())
        .await
        .unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelling);
    assert!(
        store.settle_cancelling().await.unwrap().is_empty(),
        "one still runs"
    );
    assert!(store.release_batch(&claimed, "w").await.unwrap());
    let settled = store.settle_cancelling().await.unwrap();
    assert_eq!(settled, std::slice::from_ref(&job));
    assert_eq!(
        store.inactive_jobs(&[job.job_id]).await.unwrap(),
        [job.job_id]
    );
    assert_eq!(store.unsuccessful_batches(&job).await.unwrap(), 3);

    let beat = WorkerBeat {
        id: "worker-1".into(),
        host: "h".into(),
        pid: 1,
        concurrency: 4,
        in_flight: 1,
        rows_processed: 10,
    };
    store.heartbeat(&beat).await.unwrap();
    store.heartbeat(&beat).await.unwrap();
    let state = store
        .dispatch_state(Duration::from_secs(60), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(state.live_slots, 4);
    store.mark_stopped(&beat).await.unwrap();
    let state = store
        .dispatch_state(Duration::from_secs(60), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(state.live_slots, 0);
    store
        .log(&job, None, crate::job::LogLevel::Info, "a line")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_wake_up_stream_fires_on_create_and_cancel_and_not_on_lease_renewals() {
    let temp = temp_store().await;
    let store = &temp.store;
    let tenant = TenantId::parse("acme").unwrap();
    let mut wakeups = store.watch_jobs().await.unwrap();
    let next = async |w: &mut futures::stream::BoxStream<'static, ()>| {
        tokio::time::timeout(Duration::from_millis(300), w.next())
            .await
            .ok()
            .flatten()
    };
    let created = store.create_job(&tenant, &spec(), &audit()).await.unwrap();
    assert!(next(&mut wakeups).await.is_some(), "insert");
    store.start_queued_job().await.unwrap().unwrap();
    assert!(next(&mut wakeups).await.is_some(), "queued -> running");
    let job = store.claim_job_to_plan("p", TTL).await.unwrap().unwrap();
    assert!(store.renew_job_lease(&job, "p", TTL).await.unwrap());
    assert!(
        next(&mut wakeups).await.is_none(),
        "a lease is not a change of state"
    );
    store
        .cancel_job(&tenant, created.id, &audit())
        .await
        .unwrap();
    assert!(next(&mut wakeups).await.is_some(), "cancel");
}

/// `freight dev` restarted after a `kill -9` on the same data directory
/// (holding its lock, so the earlier process is gone): what that process
/// held is handed out at the next pass, not after its leases run out.
#[tokio::test]
async fn a_take_over_ends_the_leases_and_workers_of_earlier_processes_at_once() {
    let temp = temp_store().await;
    let store = &temp.store;
    let tenant = TenantId::parse("acme").unwrap();
    let copying = planned_job(store, &tenant, 2).await;
    let batch = batch_refs(store, &copying).await.remove(0);
    // The dead process: a batch, a job lease (finishing another job) and
    // a live worker row, all good for an hour.
    let hour = Duration::from_secs(3600);
    store
        .claim_batch(&batch, "dead-worker", hour)
        .await
        .unwrap()
        .unwrap();
    let finishing = planned_job(store, &tenant, 1).await;
    let last = batch_refs(store, &finishing).await.remove(0);
    let claimed = store
        .claim_batch(&last, "dead-worker", hour)
        .await
        .unwrap()
        .unwrap();
    store
        .complete_batch(&claimed, "dead-worker", &BatchOutcome::default())
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_job_to_finish("dead-worker", hour)
            .await
            .unwrap(),
        Some(finishing.clone())
    );
    store
        .heartbeat(&WorkerBeat {
            id: "dead-worker".into(),
            host: "h".into(),
            pid: 1,
            concurrency: 4,
            in_flight: 1,
            rows_processed: 0,
        })
        .await
        .unwrap();
    assert!(store.expire_leases(3).await.unwrap().is_empty());
    assert!(
        store
            .claim_job_to_finish("new", hour)
            .await
            .unwrap()
            .is_none()
    );

    let taken = store.take_over_from_earlier_processes().await.unwrap();
    assert_eq!(
        taken,
        crate::store::sqlite::TakenOver {
            workers: 1,
            batches: 1,
            jobs: 1,
            other_leases: 0,
        }
    );
    let expired = store.expire_leases(3).await.unwrap();
    assert_eq!(expired.len(), 1, "the batch is handed out again");
    assert_eq!(expired[0].batch, batch);
    assert_eq!(expired[0].new_status, BatchStatus::Pending);
    assert_eq!(
        store.claim_job_to_finish("new", hour).await.unwrap(),
        Some(finishing),
        "the job lease is free"
    );
    let state = store
        .dispatch_state(Duration::from_secs(60), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        state.live_slots, 0,
        "the dead worker's slots no longer count"
    );
}
