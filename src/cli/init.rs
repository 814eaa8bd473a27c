//! `tundra init`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::app::{Core, OpenMode};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;

/// Initializes the data dir; on an initialized one changes nothing and says so.
pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let clock: SharedClock = Arc::new(SystemClock);
    let core = tokio::task::spawn_blocking(move || Core::open(config, clock, OpenMode::Initialize))
        .await
        .context("while initializing the data dir")??;
    print_report(&core);
    Ok(ExitCode::SUCCESS)
}

/// Prints what init made (or that nothing changed) and the fingerprints to note down.
pub fn print_report(core: &Core) {
    let r = &core.report;
    if r.created.is_empty() {
        println!(
            "Data dir {} is already initialized; nothing changed.",
            core.dir.root().display()
        );
    } else {
        println!("Initialized {}:", core.dir.root().display());
        for c in &r.created {
            println!("  created {c}");
        }
        println!(
            "Keep an offline copy of {}: without it the store cannot be read.",
            core.dir.master_key().display()
        );
    }
    println!("Panel certificate SHA-256: {}", r.panel_cert_sha256);
    println!("Agent CA SHA-256:          {}", r.agent_ca_sha256);
    println!("Audit public key:          {}", r.audit_public_key);
}
