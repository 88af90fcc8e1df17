//! Dispatch on both control planes (PostgreSQL + Redis, and `freight dev`'s
//! SQLite + apalis-sqlite: every test runs once on each, see
//! `on_both_backends!`) with a stand-in data plane: a faithful idempotent
//! batch copy (delete range + insert, one transaction) between two tables
//! of a scratch PostgreSQL database, with fault injection. Tests the
//! leases, the reconciler, retries, cancellation, shutdown and recovery
//! from dead workers and a lost queue, independent of the connectors.

mod engine_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use engine_support::*;
use freight_core::TenantId;
use freight_core::connection::{ConnectionConfig, DatabaseKind, Secret};
use freight_core::ids::JobId;
use freight_core::job::{BatchStatus, JobSpec, JobStatus, LogLevel};
use freight_core::plan::{CopyMode, PlanReport, TablePlan};
use freight_core::store::RetryRequest;
use freight_worker::dispatch::DataPlane;
use freight_worker::engine::{
    BatchOutcome, BatchToRun, EngineError, JobContext, JobPlan, PlannedBatch, RangeCheck,
    RangeSide, RangeToValidate, RejectedRecord,
};
use serde_json::json;
use sqlx::postgres::PgPool;

const WAIT: Duration = Duration::from_secs(60);

/// Copies `src` to `dst` in id ranges; rows whose `v` starts with `bad` are
/// rejected like constraint violations.
struct FakePlane {
    pool: PgPool,
    /// Simulated work per batch, so that a job is observable mid-way.
    work: Duration,
    /// Transient failures still to inject, by batch lower bound.
    transient: Mutex<HashMap<i64, u32>>,
    runs: AtomicUsize,
    finished: AtomicUsize,
    /// Times the engine was told to drop a job's state (pools).
    released: AtomicUsize,
    /// Range comparisons wait for a permit here.
    compare_gate: tokio::sync::Semaphore,
    /// Fired when a comparison starts.
    comparing: tokio::sync::Notify,
    /// Comparisons fail as a refused connection does (permanently).
    refuse_comparisons: AtomicBool,
}

impl FakePlane {
    fn new(pool: PgPool, work: Duration) -> Self {
        Self {
            pool,
            work,
            transient: Mutex::new(HashMap::new()),
            runs: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            compare_gate: tokio::sync::Semaphore::new(tokio::sync::Semaphore::MAX_PERMITS),
            comparing: tokio::sync::Notify::new(),
            refuse_comparisons: AtomicBool::new(false),
        }
    }

    fn fail_transiently(&self, lower_bound: i64, times: u32) {
        self.transient
            .lock()
            .expect("lock")
            .insert(lower_bound, times);
    }
}

fn bound(value: &Option<serde_json::Value>) -> Option<i64> {
    value
        .as_ref()
        .and_then(|v| v.get(0))
        .and_then(|v| v.as_i64())
}

fn transient(e: sqlx::Error) -> EngineError {
    EngineError::Transient(e.to_string())
}

impl DataPlane for FakePlane {
    async fn plan(&self, job: &JobContext) -> Result<JobPlan, EngineError> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM src ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(transient)?;
        let size = job.batch_size as usize;
        let starts: Vec<i64> = ids.chunks(size).map(|c| c[0]).collect();
        let batches: Vec<PlannedBatch> = starts
            .iter()
            .enumerate()
            .map(|(i, start)| PlannedBatch {
                table_name: "src".into(),
                key_start: (i > 0).then(|| json!([start])),
                key_end: starts.get(i + 1).map(|end| json!([end])),
            })
            .collect();
        let rows = i64::try_from(ids.len()).unwrap_or(0);
        Ok(JobPlan {
            report: PlanReport {
                tables: vec![TablePlan {
                    table_name: "src".into(),
                    key_columns: vec!["id".into()],
                    copy_mode: CopyMode::KeyRanges,
                    rows_estimate: rows,
                    batch_count: i64::try_from(batches.len()).unwrap_or(0),
                    target_ddl: vec![],
                    warnings: vec!["v: text kept as text".into()],
                }],
                total_rows_estimate: rows,
                total_batches: i64::try_from(batches.len()).unwrap_or(0),
                warnings: vec![],
            },
            batches,
        })
    }

    async fn run_batch(
        &self,
        job: &JobContext,
        batch: &BatchToRun,
    ) -> Result<BatchOutcome, EngineError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let lo = bound(&batch.key_start).unwrap_or(i64::MIN);
        let hi = bound(&batch.key_end).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await.map_err(transient)?;
        sqlx::query("DELETE FROM dst WHERE id >= $1 AND id < $2")
            .bind(lo)
            .bind(hi)
            .execute(&mut *tx)
            .await
            .map_err(transient)?;
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, v FROM src WHERE id >= $1 AND id < $2 ORDER BY id")
                .bind(lo)
                .bind(hi)
                .fetch_all(&mut *tx)
                .await
                .map_err(transient)?;
        let (bad, good): (Vec<_>, Vec<_>) = rows.iter().partition(|(_, v)| v.starts_with("bad"));
        let ids: Vec<i64> = good.iter().map(|(id, _)| *id).collect();
        let values: Vec<&str> = good.iter().map(|(_, v)| v.as_str()).collect();
        sqlx::query("INSERT INTO dst (id, v) SELECT * FROM UNNEST($1::int8[], $2::text[])")
            .bind(&ids)
            .bind(&values)
            .execute(&mut *tx)
            .await
            .map_err(transient)?;
        // The work happens inside the target transaction: cancelling or
        // crashing now leaves nothing behind.
        tokio::time::sleep(self.work).await;
        let inject = {
            let mut transient = self.transient.lock().expect("lock");
            match transient.get_mut(&lo) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    true
                }
                _ => false,
            }
        };
        if inject {
            return Err(EngineError::Transient(
                "connection reset by peer (injected)".into(),
            ));
        }
        if bad.len() as u64 > batch.record_error_budget {
            return Err(EngineError::Permanent(format!(
                "{} bad records exceed the job's error budget",
                bad.len()
            )));
        }
        tx.commit().await.map_err(transient)?;
        Ok(BatchOutcome {
            rows_read: i64::try_from(rows.len()).unwrap_or(0),
            rows_written: i64::try_from(good.len()).unwrap_or(0),
            rejected: bad
                .iter()
                .map(|(id, _)| RejectedRecord {
                    key: json!([id]),
                    column: Some("v".into()),
                    message: "value starts with bad".into(),
                })
                .collect(),
            verified: job.verify.then_some(true),
            verify_detail: job.verify.then(|| "row counts and checksums match".into()),
        })
    }

    async fn finish_job(&self, _job: &JobContext) -> Result<Vec<String>, EngineError> {
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(vec![])
    }

    async fn release_job(&self, _job: JobId) {
        self.released.fetch_add(1, Ordering::SeqCst);
    }

    async fn validate_range(
        &self,
        _job: &JobContext,
        range: &RangeToValidate,
    ) -> Result<RangeCheck, EngineError> {
        self.comparing.notify_one();
        let _permit = self
            .compare_gate
            .acquire()
            .await
            .map_err(|e| EngineError::Permanent(e.to_string()))?;
        if self.refuse_comparisons.load(Ordering::SeqCst) {
            return Err(EngineError::Permanent(
                "connecting to the target: connection not allowed (stand-in)".into(),
            ));
        }
        let side = RangeSide {
            rows: 1,
            checksum: 1,
        };
        Ok(RangeCheck {
            source: side,
            target: side,
            matched: true,
            detail: format!("{} compared (stand-in)", range.table_name),
        })
    }
}

struct Fixture {
    /// Freight's store and queue: the backend under test.
    control: TestBackend,
    store: TestStore,
    data: PgPool,
    data_url: String,
    tenant: TenantId,
}

impl Fixture {
    async fn new(backend: Backend, rows: i64) -> Self {
        let control = TestBackend::new(backend).await;
        let data_url = fresh_database("freight_fake_data").await;
        let data = PgPool::connect(&data_url).await.expect("data db");
        sqlx::query("CREATE TABLE src (id bigint PRIMARY KEY, v text NOT NULL)")
            .execute(&data)
            .await
            .expect("src");
        sqlx::query("CREATE TABLE dst (id bigint PRIMARY KEY, v text NOT NULL)")
            .execute(&data)
            .await
            .expect("dst");
        // Gaps in the keys: ids 1, 3, 5, ...
        sqlx::query("INSERT INTO src SELECT 2 * g - 1, 'row ' || g FROM generate_series(1, $1) g")
            .bind(rows)
            .execute(&data)
            .await
            .expect("fill src");
        Self {
            store: control.store.clone(),
            control,
            data,
            data_url,
            tenant: tenant(&format!(
                "t{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            )),
        }
    }

    fn plane(&self, work: Duration) -> Arc<FakePlane> {
        Arc::new(FakePlane::new(self.data.clone(), work))
    }

    async fn create_job(&self, batch_size: u32, max_retries: u32, max_record_errors: u64) -> JobId {
        let config = ConnectionConfig {
            kind: DatabaseKind::Postgresql,
            url: Some(Secret::new(self.data_url.clone())),
            host: None,
            port: None,
            database: None,
            user: None,
            password: None,
            schema: None,
        };
        let spec = JobSpec {
            name: Some("dispatch test".into()),
            source_config: config.clone(),
            target_config: config,
            tables: vec!["src".into()],
            exclude_tables: vec![],
            batch_size,
            max_retries,
            max_record_errors,
            verify: true,
            key_columns: Default::default(),
            nul_characters: Default::default(),
            zero_dates: Default::default(),
            identifiers: Default::default(),
            started_by: "engine-test".into(),
        };
        self.store
            .create_job(&self.tenant, &spec, &audit())
            .await
            .expect("create job")
            .id
    }

    async fn assert_target_equals_source(&self) {
        let diff: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ((SELECT * FROM src EXCEPT ALL SELECT * FROM dst)
                                   UNION ALL (SELECT * FROM dst EXCEPT ALL SELECT * FROM src)) d",
        )
        .fetch_one(&self.data)
        .await
        .expect("compare");
        assert_eq!(diff, 0, "target differs from source");
    }

    async fn cleanup(self) {
        self.data.close().await;
        drop_postgres_database(&self.data_url).await;
        self.control.cleanup().await;
    }

    async fn target_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM dst")
            .fetch_one(&self.data)
            .await
            .expect("count")
    }
}

async fn a_job_is_planned_dispatched_and_completed_by_two_workers(backend: Backend) {
    let fx = Fixture::new(backend, 95).await;
    let plane = fx.plane(Duration::from_millis(5));
    let w1 = InProcessWorker::start(&fx.control, plane.clone(), fx.control.config(2));
    let w2 = InProcessWorker::start(&fx.control, plane.clone(), fx.control.config(2));
    let job_id = fx.create_job(10, 3, 0).await;

    let detail = wait_for_status(&fx.store, &fx.tenant, job_id, WAIT, JobStatus::Completed).await;
    fx.assert_target_equals_source().await;
    assert_eq!(detail.batches.total, 10);
    assert_eq!(detail.batches.completed, 10);
    assert_eq!(detail.job.rows_written, 95);
    assert_eq!(detail.job.rows_estimated, 95);
    assert_eq!(
        detail.plan_warnings,
        vec!["src: v: text kept as text".to_owned()]
    );
    assert!(detail.job.started_at.is_some() && detail.job.finished_at.is_some());
    let all = batches(&fx.store, &fx.tenant, job_id).await;
    assert!(
        all.iter()
            .all(|b| b.attempts == 1 && b.verified == Some(true)),
        "{all:?}"
    );
    assert_eq!(
        plane.runs.load(Ordering::SeqCst),
        10,
        "each batch ran exactly once"
    );
    assert_eq!(
        plane.finished.load(Ordering::SeqCst),
        1,
        "indexes built once"
    );

    // Both workers report themselves, then stop cleanly.
    let store = fx.store.clone();
    let ids = [w1.worker_id.clone(), w2.worker_id.clone()];
    eventually(
        WAIT,
        "both workers report the rows they copied",
        move || {
            let store = store.clone();
            let ids = ids.clone();
            async move {
                let workers = store.live_workers().await.expect("live workers");
                ids.iter().all(|id| workers.iter().any(|w| &w.id == id))
                    && workers.iter().map(|w| w.rows_processed).sum::<i64>() == 95
            }
        },
    )
    .await;
    w1.stop().await.expect("clean stop");
    w2.stop().await.expect("clean stop");
    let workers = fx.store.live_workers().await.expect("live workers");
    assert!(
        workers.is_empty(),
        "stopped workers are not live: {workers:?}"
    );
    let status = fx.store.worker_status(&fx.tenant).await.expect("status");
    assert_eq!(status.live_workers, 0);
    fx.cleanup().await;
}

async fn each_pass_queues_the_dispatch_window_and_the_last_finishes_the_job(backend: Backend) {
    let fx = Fixture::new(backend, 95).await;
    let plane = fx.plane(Duration::ZERO);
    // Two slots: a window of eight queued batches.
    let worker = stepper(&fx.control, plane.clone(), fx.control.config(2));
    let job_id = fx.create_job(10, 3, 0).await;

    worker.maintain_once().await.expect("first pass");
    let detail = job(&fx.store, &fx.tenant, job_id).await;
    assert_eq!(detail.job.status, JobStatus::Running);
    assert_eq!(detail.batches.total, 10, "planned in the pass");
    assert_eq!(worker.queued(), 8, "the window, not the whole job");
    assert_eq!(worker.run_queued(8).await, 8);
    assert_eq!(
        job(&fx.store, &fx.tenant, job_id).await.batches.completed,
        8
    );

    worker.maintain_once().await.expect("second pass");
    assert_eq!(worker.queued(), 2, "the rest");
    assert_eq!(worker.run_queued(usize::MAX).await, 2);
    assert_eq!(
        job(&fx.store, &fx.tenant, job_id).await.job.status,
        JobStatus::Running,
        "finished only by a pass"
    );

    worker.maintain_once().await.expect("third pass");
    let detail = job(&fx.store, &fx.tenant, job_id).await;
    assert_eq!(detail.job.status, JobStatus::Completed);
    assert_eq!(detail.job.rows_written, 95);
    assert_eq!(plane.runs.load(Ordering::SeqCst), 10);
    assert_eq!(plane.finished.load(Ordering::SeqCst), 1);
    fx.assert_target_equals_source().await;
    // Nothing is left to do: another pass queues nothing.
    worker.maintain_once().await.expect("idle pass");
    assert_eq!(worker.queued(), 0);
    fx.cleanup().await;
}

async fn a_cancel_between_passes_cancels_every_batch_not_yet_run(backend: Backend) {
    let fx = Fixture::new(backend, 200).await;
    let plane = fx.plane(Duration::ZERO);
    let worker = stepper(&fx.control, plane.clone(), fx.control.config(2));
    let job_id = fx.create_job(10, 3, 0).await;
    worker.maintain_once().await.expect("plan and queue");
    assert_eq!(worker.run_queued(3).await, 3);

    fx.store
        .cancel_job(&fx.tenant, job_id, &audit())
        .await
        .expect("cancel");
    // The five batches still queued find their job cancelling.
    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("drained");
    let detail = job(&fx.store, &fx.tenant, job_id).await;
    assert_eq!(detail.job.status, JobStatus::Cancelled);
    let all = batches(&fx.store, &fx.tenant, job_id).await;
    assert_eq!(count_status(&all, BatchStatus::Completed), 3, "{all:?}");
    assert_eq!(count_status(&all, BatchStatus::Cancelled), 17, "{all:?}");
    assert_eq!(plane.runs.load(Ordering::SeqCst), 3);
    assert_eq!(fx.target_rows().await, 30);
    assert_eq!(plane.finished.load(Ordering::SeqCst), 0);
    fx.cleanup().await;
}

async fn the_store_wakes_dispatch_when_a_job_is_created_or_cancelled(backend: Backend) {
    use futures::StreamExt as _;

    let fx = Fixture::new(backend, 1).await;
    let mut changes = fx.store.dispatch().watch_jobs().await.expect("watch");
    let job_id = fx.create_job(10, 0, 0).await;
    tokio::time::timeout(WAIT, changes.next())
        .await
        .expect("woken by the new job")
        .expect("stream open");
    fx.store
        .cancel_job(&fx.tenant, job_id, &audit())
        .await
        .expect("cancel");
    tokio::time::timeout(WAIT, changes.next())
        .await
        .expect("woken by the cancel")
        .expect("stream open");
    drop(changes);
    fx.cleanup().await;
}

async fn a_job_being_validated_keeps_its_engine_state_until_the_comparison_ends(backend: Backend) {
    let fx = Fixture::new(backend, 20).await;
    let plane = fx.plane(Duration::ZERO);
    let worker = stepper(&fx.control, plane.clone(), fx.control.config(2));
    let job_id = fx.create_job(10, 0, 0).await;
    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("drained");
    // Finishing the job, and the pass after it, drop what the engine held.
    worker.maintain_once().await.expect("pass");
    let released = plane.released.load(Ordering::SeqCst);
    assert!(released >= 1);

    fx.store
        .start_validation(&fx.tenant, job_id, &audit())
        .await
        .expect("validate");
    let permits = plane.compare_gate.available_permits();
    plane.compare_gate.forget_permits(permits);
    let compare = worker.validate_once();
    let pass_meanwhile = async {
        plane.comparing.notified().await;
        // A reconciler pass while a range of the (ended) job is compared.
        worker.maintain_once().await.expect("pass");
        let during = plane.released.load(Ordering::SeqCst);
        plane.compare_gate.add_permits(permits);
        during
    };
    let (compared, during) = tokio::join!(compare, pass_meanwhile);
    assert_eq!(compared.expect("validation pass"), 2);
    assert_eq!(during, released, "pools kept while comparing");
    let validation = job(&fx.store, &fx.tenant, job_id)
        .await
        .validation
        .expect("validated");
    assert_eq!(
        validation.status,
        freight_core::store::ValidationStatus::Passed
    );
    // Once the comparison is over, the next pass releases them again.
    worker.maintain_once().await.expect("pass");
    assert_eq!(plane.released.load(Ordering::SeqCst), released + 1);
    fx.cleanup().await;
}

/// A validation whose ranges cannot be compared says why, not only which.
async fn a_validation_that_cannot_compare_says_why(backend: Backend) {
    let fx = Fixture::new(backend, 20).await;
    let plane = fx.plane(Duration::ZERO);
    let worker = stepper(&fx.control, plane.clone(), fx.control.config(2));
    let job_id = fx.create_job(10, 0, 0).await;
    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("drained");
    plane.refuse_comparisons.store(true, Ordering::SeqCst);
    fx.store
        .start_validation(&fx.tenant, job_id, &audit())
        .await
        .expect("validate");
    assert_eq!(worker.validate_once().await.expect("validation pass"), 2);
    let validation = job(&fx.store, &fx.tenant, job_id)
        .await
        .validation
        .expect("validated");
    assert_eq!(
        validation.status,
        freight_core::store::ValidationStatus::Failed
    );
    assert_eq!(validation.mismatched_batches.len(), 2);
    let error = validation.error.expect("the reason is reported");
    assert!(error.contains("connection not allowed"), "{error}");

    // Compared again, and matching: passed, with no error.
    plane.refuse_comparisons.store(false, Ordering::SeqCst);
    fx.store
        .start_validation(&fx.tenant, job_id, &audit())
        .await
        .expect("validate again");
    worker.validate_once().await.expect("validation pass");
    let validation = job(&fx.store, &fx.tenant, job_id)
        .await
        .validation
        .expect("validated");
    assert_eq!(
        validation.status,
        freight_core::store::ValidationStatus::Passed
    );
    assert_eq!(validation.error, None);
    fx.cleanup().await;
}

async fn cancel_mid_job_leaves_no_half_written_batch(backend: Backend) {
    let fx = Fixture::new(backend, 200).await;
    let plane = fx.plane(Duration::from_millis(150));
    let worker = InProcessWorker::start(&fx.control, plane, fx.control.config(2));
    let job_id = fx.create_job(10, 3, 0).await;
    wait_for_job(
        &fx.store,
        &fx.tenant,
        job_id,
        WAIT,
        "two batches done",
        |d| d.batches.completed >= 2,
    )
    .await;

    fx.store
        .cancel_job(&fx.tenant, job_id, &audit())
        .await
        .expect("cancel");
    let detail = wait_for_status(&fx.store, &fx.tenant, job_id, WAIT, JobStatus::Cancelled).await;

    let all = batches(&fx.store, &fx.tenant, job_id).await;
    let completed = count_status(&all, BatchStatus::Completed);
    let cancelled = count_status(&all, BatchStatus::Cancelled);
    assert_eq!(
        completed + cancelled,
        20,
        "every batch completed or cancelled: {all:?}"
    );
    assert!(cancelled > 0 && completed < 20);
    // Exactly the completed batches' rows are in the target: none half-written.
    let written: i64 = all
        .iter()
        .filter(|b| b.status == BatchStatus::Completed)
        .map(|b| b.rows_written)
        .sum();
    assert_eq!(fx.target_rows().await, written);
    assert_eq!(detail.job.rows_written, written);
    worker.stop().await.expect("clean stop");
    fx.cleanup().await;
}

async fn bad_records_fail_their_batches_and_a_retry_after_fixing_them_completes(backend: Backend) {
    let fx = Fixture::new(backend, 50).await;
    sqlx::query("UPDATE src SET v = 'bad ' || id WHERE id IN (7, 61)")
        .execute(&fx.data)
        .await
        .expect("break rows");
    let plane = fx.plane(Duration::from_millis(1));
    let worker = stepper(&fx.control, plane, fx.control.config(2));
    let job_id = fx.create_job(10, 2, 0).await;

    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("drained");
    let detail = job(&fx.store, &fx.tenant, job_id).await;
    assert_eq!(detail.job.status, JobStatus::Failed);
    assert_eq!(detail.batches.failed, 2);
    assert_eq!(detail.batches.completed, 3);
    assert!(
        detail
            .job
            .error_summary
            .as_deref()
            .unwrap_or("")
            .contains("2 of 5 batches failed")
    );
    let all = batches(&fx.store, &fx.tenant, job_id).await;
    assert!(
        all.iter()
            .filter(|b| b.status == BatchStatus::Failed)
            .all(|b| b.attempts == 1),
        "permanent errors are not retried: {all:?}"
    );

    sqlx::query("UPDATE src SET v = 'fixed' WHERE v LIKE 'bad%'")
        .execute(&fx.data)
        .await
        .expect("fix");
    let outcome = fx
        .store
        .retry_job(
            &fx.tenant,
            job_id,
            &RetryRequest {
                max_retries: 2,
                batch_ids: vec![],
            },
            &audit(),
        )
        .await
        .expect("retry");
    assert_eq!(outcome.batches_retried, 2);
    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("drained");
    assert_eq!(
        job(&fx.store, &fx.tenant, job_id).await.job.status,
        JobStatus::Completed
    );
    fx.assert_target_equals_source().await;
    fx.cleanup().await;
}

async fn rejected_records_within_the_budget_are_logged_and_the_rest_written(backend: Backend) {
    let fx = Fixture::new(backend, 40).await;
    sqlx::query("UPDATE src SET v = 'bad ' || id WHERE id IN (3, 45)")
        .execute(&fx.data)
        .await
        .expect("break rows");
    let plane = fx.plane(Duration::from_millis(1));
    let worker = stepper(&fx.control, plane, fx.control.config(2));
    let job_id = fx.create_job(10, 2, 5).await;

    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("drained");
    let detail = job(&fx.store, &fx.tenant, job_id).await;
    assert_eq!(detail.job.status, JobStatus::CompletedWithErrors);
    assert_eq!(detail.job.rows_rejected, 2);
    assert_eq!(detail.job.rows_written, 38);
    assert_eq!(detail.batches.completed_with_errors, 2);
    let logs = logs(&fx.store, &fx.tenant, job_id).await;
    let mut keys: Vec<_> = logs
        .iter()
        .filter(|l| l.record_key.is_some())
        .map(|l| {
            (
                l.record_key.clone(),
                l.table_name.clone(),
                l.column_name.clone(),
                l.level,
            )
        })
        .collect();
    keys.sort_by_key(|k| k.0.as_ref().map(|v| v.to_string()));
    assert_eq!(
        keys,
        vec![
            (
                Some(json!([3])),
                Some("src".into()),
                Some("v".into()),
                LogLevel::Error
            ),
            (
                Some(json!([45])),
                Some("src".into()),
                Some("v".into()),
                LogLevel::Error
            ),
        ]
    );
    fx.cleanup().await;
}

async fn transient_failures_are_retried_with_backoff_counted_in_the_store(backend: Backend) {
    let fx = Fixture::new(backend, 30).await;
    let plane = fx.plane(Duration::from_millis(1));
    plane.fail_transiently(21, 2); // second batch: fails twice, then works
    plane.fail_transiently(41, 9); // third batch: never within 3 attempts
    let worker = stepper(&fx.control, plane.clone(), fx.control.config(2));
    let job_id = fx.create_job(10, 2, 0).await;

    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("drained");
    let detail = job(&fx.store, &fx.tenant, job_id).await;
    assert_eq!(detail.job.status, JobStatus::Failed);
    let all = batches(&fx.store, &fx.tenant, job_id).await;
    let by_seq = |seq: i32| all.iter().find(|b| b.seq == seq).expect("batch");
    assert_eq!(
        (by_seq(0).status, by_seq(0).attempts),
        (BatchStatus::Completed, 1)
    );
    assert_eq!(
        (by_seq(1).status, by_seq(1).attempts),
        (BatchStatus::Completed, 3)
    );
    assert_eq!(
        (by_seq(2).status, by_seq(2).attempts),
        (BatchStatus::Failed, 3)
    );
    assert!(
        by_seq(2)
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("injected")
    );
    assert_eq!(detail.batches.failed, 1);
    let retries = logs(&fx.store, &fx.tenant, job_id)
        .await
        .into_iter()
        .filter(|l| l.level == LogLevel::Warn && l.message.contains("retrying in"))
        .count();
    assert_eq!(retries, 4, "two retries of each failing batch");

    // The batch that ran out of attempts succeeds on a retry of the job.
    plane.fail_transiently(41, 0);
    fx.store
        .retry_job(
            &fx.tenant,
            job_id,
            &RetryRequest {
                max_retries: 0,
                batch_ids: vec![],
            },
            &audit(),
        )
        .await
        .expect("retry");
    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("drained");
    assert_eq!(
        job(&fx.store, &fx.tenant, job_id).await.job.status,
        JobStatus::Completed
    );
    fx.assert_target_equals_source().await;
    fx.cleanup().await;
}

async fn a_dead_workers_batches_are_taken_over_after_their_leases_expire(backend: Backend) {
    let fx = Fixture::new(backend, 100).await;
    let plane = fx.plane(Duration::ZERO);
    let worker = stepper(&fx.control, plane, fx.control.config(2));
    let job_id = fx.create_job(10, 0, 0).await;
    worker.maintain_once().await.expect("plan and queue");
    assert_eq!(worker.run_queued(2).await, 2);
    // A worker that died holding two leases (its target transactions rolled
    // back with its connections): the batches look running, nobody renews.
    let taken = fx
        .control
        .exec_for_job(
            "UPDATE batches SET status = 'running', lease_owner = 'ghost/1', attempts = attempts + 1,
                    lease_expires_at = now() + interval '1 hour'
             WHERE id IN (SELECT id FROM batches WHERE job_id = $1 AND status = 'pending' ORDER BY seq LIMIT 2)",
            "UPDATE batches SET status = 'running', lease_owner = 'ghost/1', attempts = attempts + 1,
                    lease_expires_at = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '+1 hour')
             WHERE id IN (SELECT id FROM batches WHERE job_id = $1 AND status = 'pending' ORDER BY seq LIMIT 2)",
            job_id,
        )
        .await;
    assert_eq!(taken, 2);

    // While their leases last, every other batch is done and those two wait.
    for _ in 0..3 {
        worker.maintain_once().await.expect("pass");
        while worker.run_queued(usize::MAX).await > 0 {}
    }
    let detail = job(&fx.store, &fx.tenant, job_id).await;
    assert_eq!(detail.job.status, JobStatus::Running);
    assert_eq!(
        (detail.batches.completed, detail.batches.running),
        (8, 2),
        "a leased batch is not taken over"
    );

    // Their leases run out (the clock is moved, not waited for): taken over.
    let expired = fx
        .control
        .exec_for_job(
            "UPDATE batches SET lease_expires_at = now() - interval '1 second'
             WHERE job_id = $1 AND lease_owner = 'ghost/1'",
            "UPDATE batches SET lease_expires_at = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-1 second')
             WHERE job_id = $1 AND lease_owner = 'ghost/1'",
            job_id,
        )
        .await;
    assert_eq!(expired, 2);
    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("drained");
    let detail = job(&fx.store, &fx.tenant, job_id).await;
    assert_eq!(detail.job.status, JobStatus::Completed);
    fx.assert_target_equals_source().await;
    assert_eq!(detail.batches.completed, 10);
    let taken_over: Vec<_> = batches(&fx.store, &fx.tenant, job_id)
        .await
        .into_iter()
        .filter(|b| b.attempts == 2)
        .collect();
    assert_eq!(
        taken_over.len(),
        2,
        "with max_retries 0, a dead worker's attempt does not use up the batch"
    );
    let lost = logs(&fx.store, &fx.tenant, job_id)
        .await
        .iter()
        .filter(|l| l.message.contains("lease expired"))
        .count();
    assert_eq!(lost, 2);
    fx.cleanup().await;
}

async fn batches_lost_by_the_queue_are_dispatched_again(backend: Backend) {
    let fx = Fixture::new(backend, 300).await;
    let plane = fx.plane(Duration::from_millis(40));
    let mut config = fx.control.config(2);
    // Recovery must not wait for the "presumed lost" timeout: the reset is
    // noticed on the next pass.
    config.redispatch_after = Duration::from_secs(600);
    let worker = InProcessWorker::start(&fx.control, plane, config);
    let job_id = fx.create_job(10, 0, 0).await;
    wait_for_job(
        &fx.store,
        &fx.tenant,
        job_id,
        WAIT,
        "some batches done",
        |d| d.batches.completed >= 3,
    )
    .await;
    let deleted = fx.control.flush_queue().await;
    assert!(deleted > 0, "the queue had messages to lose");

    let detail = wait_for_status(&fx.store, &fx.tenant, job_id, WAIT, JobStatus::Completed).await;
    fx.assert_target_equals_source().await;
    assert_eq!(detail.batches.completed, 30);
    worker.stop().await.expect("clean stop");
    fx.cleanup().await;
}

async fn shutdown_finishes_in_flight_batches_and_leaves_the_rest_pending(backend: Backend) {
    let fx = Fixture::new(backend, 100).await;
    let plane = fx.plane(Duration::from_millis(300));
    let worker = InProcessWorker::start(&fx.control, plane.clone(), fx.control.config(2));
    let job_id = fx.create_job(10, 0, 0).await;
    wait_for_job(
        &fx.store,
        &fx.tenant,
        job_id,
        WAIT,
        "batches running",
        |d| d.batches.running > 0,
    )
    .await;

    worker.stop().await.expect("clean stop");
    let all = batches(&fx.store, &fx.tenant, job_id).await;
    assert_eq!(
        count_status(&all, BatchStatus::Running),
        0,
        "nothing left running: {all:?}"
    );
    assert!(count_status(&all, BatchStatus::Completed) >= 1);
    assert!(count_status(&all, BatchStatus::Pending) >= 1);
    let written: i64 = all.iter().map(|b| b.rows_written).sum();
    assert_eq!(
        fx.target_rows().await,
        written,
        "only completed batches are in the target"
    );

    let next = InProcessWorker::start(&fx.control, plane, fx.control.config(2));
    wait_for_status(&fx.store, &fx.tenant, job_id, WAIT, JobStatus::Completed).await;
    fx.assert_target_equals_source().await;
    next.stop().await.expect("clean stop");
    fx.cleanup().await;
}

async fn shutdown_past_the_grace_period_rolls_back_and_releases_batches(backend: Backend) {
    let fx = Fixture::new(backend, 40).await;
    let plane = fx.plane(Duration::from_secs(20));
    let mut config = fx.control.config(2);
    config.shutdown_grace = Duration::from_millis(300);
    let worker = InProcessWorker::start(&fx.control, plane.clone(), config);
    let job_id = fx.create_job(10, 0, 0).await;
    wait_for_job(
        &fx.store,
        &fx.tenant,
        job_id,
        WAIT,
        "batches running",
        |d| d.batches.running == 2,
    )
    .await;

    worker.stop().await.expect("clean stop");
    let all = batches(&fx.store, &fx.tenant, job_id).await;
    assert_eq!(
        count_status(&all, BatchStatus::Pending),
        4,
        "released, not lost: {all:?}"
    );
    assert!(
        all.iter().all(|b| b.attempts == 0),
        "a rolled-back attempt is not counted: {all:?}"
    );
    assert_eq!(fx.target_rows().await, 0);
    fx.cleanup().await;
}

async fn a_job_with_nothing_to_copy_completes_right_after_planning(backend: Backend) {
    let fx = Fixture::new(backend, 0).await;
    let plane = fx.plane(Duration::ZERO);
    let worker = stepper(&fx.control, plane.clone(), fx.control.config(1));
    let job_id = fx.create_job(10, 0, 0).await;
    // One pass starts, plans and (nothing to copy) completes the job.
    worker.maintain_once().await.expect("pass");
    let detail = job(&fx.store, &fx.tenant, job_id).await;
    assert_eq!(detail.job.status, JobStatus::Completed);
    assert_eq!(detail.batches.total, 0);
    assert_eq!(
        plane.finished.load(Ordering::SeqCst),
        1,
        "target tables finished once"
    );
    assert_eq!(plane.runs.load(Ordering::SeqCst), 0);
    assert_eq!(worker.queued(), 0);
    fx.cleanup().await;
}

async fn concurrent_jobs_take_turns(backend: Backend) {
    let fx = Fixture::new(backend, 200).await;
    let plane = fx.plane(Duration::from_millis(20));
    let big = fx.create_job(10, 0, 0).await;
    let small = fx.create_job(50, 0, 0).await;
    // One slot: the dispatch window is four batches a pass.
    let worker = stepper(&fx.control, plane, fx.control.config(1));
    worker
        .drain(&[small], DRAIN_PASSES)
        .await
        .expect("small drained");
    assert_eq!(
        job(&fx.store, &fx.tenant, small).await.job.status,
        JobStatus::Completed
    );
    // Two passes alternated the jobs (four batches each); the pass that
    // finished the small job queued the big one's next four. Without turns
    // the big job's 20 batches would all have gone first.
    let big_now = job(&fx.store, &fx.tenant, big).await;
    assert_eq!(
        big_now.batches.completed, 8,
        "the small job did not wait for the big one: {:?}",
        big_now.batches
    );
    worker
        .drain(&[big], DRAIN_PASSES)
        .await
        .expect("big drained");
    assert_eq!(
        job(&fx.store, &fx.tenant, big).await.job.status,
        JobStatus::Completed
    );
    fx.assert_target_equals_source().await;
    fx.cleanup().await;
}

freight_api::on_both_backends!(
    multi_thread;
    a_job_is_planned_dispatched_and_completed_by_two_workers,
    each_pass_queues_the_dispatch_window_and_the_last_finishes_the_job,
    a_cancel_between_passes_cancels_every_batch_not_yet_run,
    the_store_wakes_dispatch_when_a_job_is_created_or_cancelled,
    a_job_being_validated_keeps_its_engine_state_until_the_comparison_ends,
    a_validation_that_cannot_compare_says_why,
    cancel_mid_job_leaves_no_half_written_batch,
    bad_records_fail_their_batches_and_a_retry_after_fixing_them_completes,
    rejected_records_within_the_budget_are_logged_and_the_rest_written,
    transient_failures_are_retried_with_backoff_counted_in_the_store,
    a_dead_workers_batches_are_taken_over_after_their_leases_expire,
    batches_lost_by_the_queue_are_dispatched_again,
    shutdown_finishes_in_flight_batches_and_leaves_the_rest_pending,
    shutdown_past_the_grace_period_rolls_back_and_releases_batches,
    a_job_with_nothing_to_copy_completes_right_after_planning,
    concurrent_jobs_take_turns,
);

/// Measures what dispatch itself costs per batch (claim, lease, outcome,
/// queue round trip) with a data plane that copies one row per batch. On
/// PostgreSQL + Redis only: it samples the Redis list's length.
/// `cargo test --test engine_dispatch -- --ignored --nocapture dispatch_overhead`
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement, not a check"]
async fn dispatch_overhead() {
    let fx = Fixture::new(Backend::Postgres, 1_000).await;
    let plane = fx.plane(Duration::ZERO);
    let mut config = fx.control.config(4);
    config.reconcile_interval = Duration::from_secs(2);
    let worker = InProcessWorker::start(&fx.control, plane, config);
    let started = std::time::Instant::now();
    let job_id = fx.create_job(1, 0, 0).await;
    wait_for_job(&fx.store, &fx.tenant, job_id, WAIT, "planned", |d| {
        d.batches.total > 0
    })
    .await;
    let planned = started.elapsed();
    let queue_key = format!("{}:active", fx.control.queue_name);
    let sampler = tokio::spawn(async move {
        let client = redis::Client::open(redis_url()).expect("redis");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        let mut samples = Vec::new();
        for _ in 0..400 {
            let n: i64 = redis::cmd("LLEN")
                .arg(&queue_key)
                .query_async(&mut conn)
                .await
                .unwrap_or(-1);
            samples.push(n);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        samples
    });
    wait_for_status(&fx.store, &fx.tenant, job_id, WAIT, JobStatus::Completed).await;
    let samples = sampler.await.expect("sampler");
    let zero = samples.iter().filter(|n| **n == 0).count();
    println!(
        "queue length samples: {} zero of {}, mean {:.1}",
        zero,
        samples.len(),
        samples.iter().sum::<i64>() as f64 / samples.len() as f64
    );
    let total = started.elapsed();
    let run = total - planned;
    println!(
        "1000 one-row batches, concurrency 4: planned+stored in {planned:?}, ran in {run:?} = {:.0} batches/s ({:.2} ms per batch per slot)",
        1000.0 / run.as_secs_f64(),
        run.as_secs_f64() * 1000.0 * 4.0 / 1000.0
    );
    fx.assert_target_equals_source().await;
    worker.stop().await.expect("clean stop");
}
