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
    if core.report.created.is_empty() {
        // Idempotent: an initialized dir is left as it is; serve prints a code at start.
        let identity = std::sync::Arc::clone(&core.identity);
        if tokio::task::spawn_blocking(move || identity.setup_pending()).await?? {
            println!(
                "No team exists yet: `tundra serve` prints a one-time setup code when it starts."
            );
        }
    } else {
        print_setup_code(&core).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// While no team exists, issues and prints a fresh one-time setup code (never in a URL).
pub async fn print_setup_code(core: &Core) -> anyhow::Result<()> {
    let identity = std::sync::Arc::clone(&core.identity);
    let code = tokio::task::spawn_blocking(move || identity.issue_setup_code())
        .await
        .context("while issuing the setup code")??;
    if let Some(code) = code {
        println!(
            "Setup: open {}/setup and enter the one-time code {} (valid 1 hour; the next start prints a new one).",
            core.config.public_origin(),
            code.expose()
        );
    }
    Ok(())
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
