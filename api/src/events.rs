//! One listener per API process for job events, fanned out to every open
//! event stream: a stream wakes when its job changed, whichever process
//! (API replica or worker) made the change.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use freight_core::JobId;
use freight_core::store::Store;
use futures::StreamExt;
use tokio::sync::broadcast;

/// Defaults of the event streams, written once (the process settings use
/// them too).
pub mod defaults {
    /// A comment is sent on a stream that has been quiet this long, so
    /// proxies and clients keep an idle connection open.
    pub const KEEP_ALIVE_MS: u64 = 15_000;
}

/// Wakes event streams; cheap to clone.
#[derive(Clone)]
pub struct JobEventHub {
    sender: broadcast::Sender<JobId>,
    started: Arc<OnceLock<()>>,
}

impl Default for JobEventHub {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(1024);
        Self {
            sender,
            started: Arc::default(),
        }
    }
}

impl JobEventHub {
    /// Notifications of changed jobs from now on; the first subscriber
    /// starts the process's listener.
    pub fn subscribe(&self, store: &Arc<dyn Store>) -> broadcast::Receiver<JobId> {
        let receiver = self.sender.subscribe();
        self.started.get_or_init(|| {
            let sender = self.sender.clone();
            let store = store.clone();
            tokio::spawn(forward(store, sender));
        });
        receiver
    }
}

/// Forwards the store's notifications until the process ends, listening
/// again after a lost connection (streams poll every second meanwhile).
async fn forward(store: Arc<dyn Store>, sender: broadcast::Sender<JobId>) {
    loop {
        match store.watch_job_events().await {
            Ok(mut changes) => {
                while let Some(job) = changes.next().await {
                    // No subscriber right now is fine.
                    let _ = sender.send(job);
                }
                tracing::warn!("job event listener lost its connection; listening again");
            }
            Err(e) => tracing::warn!(error = %e, "job event listener could not start"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
