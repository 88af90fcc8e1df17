//! Knobs of one worker process's dispatch machinery.

use std::time::Duration;

/// Production defaults, written once: [`DispatchConfig::new`] and the
/// binary's settings (flags and environment) both read them.
pub mod defaults {
    pub const QUEUE_NAME: &str = "freight:batches";
    pub const CONCURRENCY: u16 = 4;
    pub const LEASE_MS: u64 = 30_000;
    pub const RECONCILE_INTERVAL_MS: u64 = 2_000;
    pub const REDISPATCH_AFTER_MS: u64 = 60_000;
    pub const RETRY_BACKOFF_MS: u64 = 2_000;
    pub const HEARTBEAT_MS: u64 = 5_000;
    pub const SHUTDOWN_GRACE_SECONDS: u64 = 30;
}

/// How a worker process dispatches and runs batches. Every field has a
/// production default ([`DispatchConfig::new`]); tests shorten the timings.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Unique per process; the `workers` row id and the lease owner prefix.
    pub worker_id: String,
    pub host: String,
    /// Redis queue (apalis namespace), set on producer and consumer alike.
    pub queue_name: String,
    /// Batches this process copies at the same time.
    pub concurrency: usize,
    /// A batch (or job) lease lasts this long; it is renewed every third.
    pub lease_ttl: Duration,
    /// The reconciler runs at least this often (it is also woken by job
    /// changes in Postgres and by batches finishing here).
    pub reconcile_interval: Duration,
    /// A pending batch pushed to Redis this long ago and still unclaimed is
    /// presumed lost by Redis and pushed again.
    pub redispatch_after: Duration,
    /// First retry delay after a transient failure; doubles per attempt.
    pub retry_backoff_base: Duration,
    pub retry_backoff_max: Duration,
    /// A batch whose worker died this many times ends failed.
    pub max_lost_leases: i32,
    /// Worker heartbeat period (`workers.last_seen`).
    pub heartbeat_interval: Duration,
    /// How often an idle consumer polls Redis for a message.
    pub fetch_interval: Duration,
    /// After shutdown, in-flight batches get this long to finish before
    /// they are rolled back and their leases released.
    pub shutdown_grace: Duration,
}

impl DispatchConfig {
    pub fn new(queue_name: impl Into<String>, concurrency: usize) -> Self {
        let host = host_name();
        let pid = std::process::id();
        let short = uuid::Uuid::new_v4().simple().to_string();
        Self {
            worker_id: format!("{host}-{pid}-{}", &short[..8]),
            host,
            queue_name: queue_name.into(),
            concurrency: concurrency.max(1),
            lease_ttl: Duration::from_millis(defaults::LEASE_MS),
            reconcile_interval: Duration::from_millis(defaults::RECONCILE_INTERVAL_MS),
            redispatch_after: Duration::from_millis(defaults::REDISPATCH_AFTER_MS),
            retry_backoff_base: Duration::from_millis(defaults::RETRY_BACKOFF_MS),
            retry_backoff_max: Duration::from_secs(300),
            max_lost_leases: 3,
            heartbeat_interval: Duration::from_millis(defaults::HEARTBEAT_MS),
            fetch_interval: Duration::from_millis(25),
            shutdown_grace: Duration::from_secs(defaults::SHUTDOWN_GRACE_SECONDS),
        }
    }

    /// Delay before attempt `failed_attempts + 1`: exponential, capped,
    /// with up to 20 % jitter so that batches failing together spread out.
    pub fn backoff(&self, failed_attempts: i32) -> Duration {
        let exp = u32::try_from(failed_attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(0);
        let base = self.retry_backoff_base.saturating_mul(1u32 << exp);
        let capped = base.min(self.retry_backoff_max);
        let jitter_permille = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 200 / 255;
        capped + capped.mul_f64(jitter_permille as f64 / 1000.0)
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut config = DispatchConfig::new("q", 1);
        config.retry_backoff_base = Duration::from_secs(1);
        config.retry_backoff_max = Duration::from_secs(5);
        let within =
            |d: Duration, secs: f64| d.as_secs_f64() >= secs && d.as_secs_f64() <= secs * 1.21;
        assert!(within(config.backoff(1), 1.0));
        assert!(within(config.backoff(2), 2.0));
        assert!(within(config.backoff(3), 4.0));
        assert!(within(config.backoff(4), 5.0));
        assert!(within(config.backoff(40), 5.0));
    }
}
