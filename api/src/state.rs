//! What every handler can reach.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use freight_core::plan::Planner;
use freight_core::policy::ConnectionPolicy;
use freight_core::store::Store;
use freight_core::tokens::TokenKeys;

use crate::events::{self, JobEventHub};
use crate::plan_slots::{PlanLimits, PlanSlots};
use crate::rate_limit::{RateLimiter, RateLimits, WindowCounter};
use crate::routes::health::{Dependencies, DependencyProbe};

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub planner: Arc<dyn Planner>,
    pub tokens: TokenKeys,
    /// Redis of the installation (dispatch and shared rate-limit counters);
    /// `None` in the embedded mode (`freight dev`), where both live in
    /// this process.
    pub redis: Option<redis::Client>,
    pub started_at: Instant,
    /// `None`: no rate limits (tests, or both limits configured 0).
    pub rate_limiter: Option<Arc<RateLimiter>>,
    /// Concurrent plans per tenant and the plan timeout.
    pub plans: Arc<PlanSlots>,
    /// Wakes job event streams when their job changed.
    pub job_events: JobEventHub,
    /// How long an event stream stays quiet before a keep-alive comment.
    pub event_keep_alive: Duration,
    /// Checks webhook URLs (the planner applies the same policy to databases).
    pub connection_policy: Arc<ConnectionPolicy>,
    shutting_down: Arc<AtomicBool>,
    dependencies: Arc<DependencyProbe>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        planner: Arc<dyn Planner>,
        tokens: TokenKeys,
        redis: redis::Client,
    ) -> Self {
        Self::with_dispatch(store, planner, tokens, Some(redis))
    }

    /// The state of the embedded mode: no Redis; rate limits are counted in
    /// this process, which is the only replica.
    pub fn embedded(store: Arc<dyn Store>, planner: Arc<dyn Planner>, tokens: TokenKeys) -> Self {
        Self::with_dispatch(store, planner, tokens, None)
    }

    fn with_dispatch(
        store: Arc<dyn Store>,
        planner: Arc<dyn Planner>,
        tokens: TokenKeys,
        redis: Option<redis::Client>,
    ) -> Self {
        Self {
            store,
            planner,
            tokens,
            redis,
            started_at: Instant::now(),
            rate_limiter: None,
            plans: Arc::new(PlanSlots::new(PlanLimits::default())),
            job_events: JobEventHub::default(),
            event_keep_alive: Duration::from_millis(events::defaults::KEEP_ALIVE_MS),
            connection_policy: Arc::new(ConnectionPolicy::for_tenants()),
            shutting_down: Arc::new(AtomicBool::new(false)),
            dependencies: Arc::new(DependencyProbe::default()),
        }
    }

    /// Enforces `limits`, counted in this state's Redis under `namespace`
    /// (the installation's queue name, so installations sharing a Redis
    /// count separately), or in this process when there is no Redis.
    pub fn with_rate_limits(mut self, limits: RateLimits, namespace: &str) -> Self {
        let counter = match &self.redis {
            Some(redis) => WindowCounter::redis(redis.clone(), namespace),
            None => WindowCounter::in_process(),
        };
        self.rate_limiter = Some(Arc::new(RateLimiter::new(limits, counter)));
        self
    }

    /// The installation's connection policy, for webhook URLs.
    pub fn with_connection_policy(mut self, policy: ConnectionPolicy) -> Self {
        self.connection_policy = Arc::new(policy);
        self
    }

    /// Sends a keep-alive comment on event streams quiet for `interval`.
    pub fn with_event_keep_alive(mut self, interval: Duration) -> Self {
        self.event_keep_alive = interval;
        self
    }

    /// Bounds planning: concurrent plans per tenant, and their timeout.
    pub fn with_plan_limits(mut self, limits: PlanLimits) -> Self {
        self.plans = Arc::new(PlanSlots::new(limits));
        self
    }

    /// Whether the store and Redis (when used) answer, from a probe at
    /// most a second old; concurrent callers share one probe.
    pub async fn dependencies(&self) -> Dependencies {
        self.dependencies
            .check(self.store.as_ref(), self.redis.as_ref())
            .await
    }

    /// How many dependency probes this process has run (for tests).
    pub fn dependency_probes(&self) -> u64 {
        self.dependencies.probes_run()
    }

    /// From now on `/ready` answers 503, so load balancers drain this replica.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}
