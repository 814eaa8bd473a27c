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
    let mut term = signal(SignalKind::terminate()).context("while installing signal handlers")?;
    let mut int = signal(SignalKind::interrupt()).context("while installing signal handlers")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM".to_string(),
            _ = int.recv() => "SIGINT".to_string(),
        }
    };
    app::run(Arc::new(core), listeners, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}
