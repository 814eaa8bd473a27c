//! `tundra serve`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};

use crate::app::{self, Core, Listeners, OpenMode};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;

/// Initializes the data dir if needed, then serves until SIGTERM or SIGINT.
pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let clock: SharedClock = Arc::new(SystemClock);
    let core = tokio::task::spawn_blocking(move || Core::open(config, clock, OpenMode::Initialize))
        .await
        .context("while opening the data dir")??;
    super::init::print_report(&core);
    let listeners = Listeners::bind(&core.config).await?;
    println!("Panel: {}/", core.config.public_origin());
    super::init::print_setup_code(&core).await?;
    app::run(Arc::new(core), listeners, shutdown_signal()?).await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves with the signal's name at the first SIGTERM or SIGINT.
pub fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = String>> {
    let mut term = signal(SignalKind::terminate()).context("while installing signal handlers")?;
    let mut int = signal(SignalKind::interrupt()).context("while installing signal handlers")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM".to_string(),
            _ = int.recv() => "SIGINT".to_string(),
        }
    })
}
