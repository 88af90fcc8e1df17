//! Limits on planning, which connects to tenant databases and walks their
//! keys: at most a few plans per tenant at a time, each within a timeout.
//! Counted per API replica.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use freight_core::TenantId;

use crate::error::ApiError;

/// Defaults of [`PlanLimits`], written once (the process settings use
/// them too).
pub mod defaults {
    pub const CONCURRENT_PER_TENANT: u16 = 2;
    pub const TIMEOUT_SECONDS: u64 = 60;
}

#[derive(Debug, Clone, Copy)]
pub struct PlanLimits {
    /// Plans one tenant may run at the same time (`FREIGHT_MAX_CONCURRENT_PLANS`).
    pub concurrent_per_tenant: usize,
    /// How long one plan may take (`FREIGHT_PLAN_TIMEOUT_SECONDS`).
    pub timeout: Duration,
}

impl Default for PlanLimits {
    fn default() -> Self {
        Self {
            concurrent_per_tenant: usize::from(defaults::CONCURRENT_PER_TENANT),
            timeout: Duration::from_secs(defaults::TIMEOUT_SECONDS),
        }
    }
}

/// Plans running now, per tenant.
#[derive(Debug, Default)]
pub struct PlanSlots {
    limits: PlanLimits,
    running: Mutex<HashMap<TenantId, usize>>,
}

/// A plan's place; freed when dropped, however the plan ends.
#[derive(Debug)]
pub struct PlanSlot {
    slots: Arc<PlanSlots>,
    tenant: TenantId,
}

impl PlanSlots {
    pub fn new(limits: PlanLimits) -> Self {
        Self {
            limits,
            running: Mutex::default(),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.limits.timeout
    }

    /// A slot for `tenant`, or 429 when it already runs its maximum.
    pub fn acquire(self: &Arc<Self>, tenant: &TenantId) -> Result<PlanSlot, ApiError> {
        let max = self.limits.concurrent_per_tenant.max(1);
        let mut running = self
            .running
            .lock()
            .map_err(|_| ApiError::Internal("plan slots poisoned".into()))?;
        let count = running.entry(tenant.clone()).or_default();
        if *count >= max {
            return Err(ApiError::TooManyPlans(max));
        }
        *count += 1;
        Ok(PlanSlot {
            slots: self.clone(),
            tenant: tenant.clone(),
        })
    }
}

impl Drop for PlanSlot {
    fn drop(&mut self) {
        if let Ok(mut running) = self.slots.running.lock()
            && let Some(count) = running.get_mut(&self.tenant)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_tenant_runs_at_most_its_share_of_plans_and_slots_come_back() {
        let slots = Arc::new(PlanSlots::new(PlanLimits {
            concurrent_per_tenant: 2,
            timeout: Duration::from_secs(1),
        }));
        let acme = TenantId::parse("acme").unwrap();
        let other = TenantId::parse("other").unwrap();
        let first = slots.acquire(&acme).unwrap();
        let _second = slots.acquire(&acme).unwrap();
        assert!(matches!(
            slots.acquire(&acme),
            Err(ApiError::TooManyPlans(2))
        ));
        let _others = slots
            .acquire(&other)
            .expect("another tenant is not affected");
        drop(first);
        slots
            .acquire(&acme)
            .expect("a finished plan frees its slot");
    }
}
