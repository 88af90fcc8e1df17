//! What every handler can reach.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use freight_core::plan::Planner;
use freight_core::store::Store;
use freight_core::tokens::TokenKeys;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub planner: Arc<dyn Planner>,
    pub tokens: TokenKeys,
    pub redis: redis::Client,
    pub started_at: Instant,
    shutting_down: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        planner: Arc<dyn Planner>,
        tokens: TokenKeys,
        redis: redis::Client,
    ) -> Self {
        Self {
            store,
            planner,
            tokens,
            redis,
            started_at: Instant::now(),
            shutting_down: Arc::new(AtomicBool::new(false)),
        }
    }

    /// From now on `/ready` answers 503, so load balancers drain this replica.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}
