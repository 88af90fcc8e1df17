//! `freight worker`: runs the migration engine's workers until `shutdown`.
//! (Owned by the engine work; see worker/.)

use crate::settings::Settings;

pub async fn run(
    _settings: &Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::warn!("the migration engine is not built yet: jobs stay queued");
    shutdown.await;
    Ok(())
}
