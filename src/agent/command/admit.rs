//! The local policy re-check: `agent.toml` is read again for every command, so edits apply
//! without a restart and a broken file refuses commands instead of running them with stale
//! settings.

use std::path::Path;
use std::time::Duration;

use super::{blocking, CommandContext};
use crate::agent::config::AgentConfig;
use crate::agent::exec::{RunAs, Spec};
use crate::proto::agent::{CommandStatus, RunCommand};

/// A command `agent.toml` lets run, and how.
pub(super) struct Admitted {
    pub(super) spec: Spec,
    /// What the result's message says in any case (e.g. a clamped timeout).
    pub(super) notes: Vec<String>,
    /// What it says if output was dropped because of the local cap.
    pub(super) cap_note: Option<String>,
}

/// Why a command does not run: `REFUSED` (policy) or `FAILED_TO_START`.
pub(super) struct NotRun {
    pub(super) status: CommandStatus,
    pub(super) message: String,
}

fn refused(message: String) -> NotRun {
    NotRun {
        status: CommandStatus::Refused,
        message,
    }
}

pub(super) async fn admit_off_thread(
    ctx: &CommandContext,
    run: &RunCommand,
) -> Result<Admitted, NotRun> {
    let (run, path) = (run.clone(), ctx.config_path.clone());
    blocking(move || admit(&run, &path))
        .await
        .unwrap_or_else(|message| {
            Err(NotRun {
                status: CommandStatus::FailedToStart,
                message,
            })
        })
}

/// The local policy for `run` under `agent.toml` at `path` (reads it and `/etc/passwd`).
fn admit(run: &RunCommand, path: &Path) -> Result<Admitted, NotRun> {
    if run.command.trim().is_empty() {
        return Err(refused("the command is empty".into()));
    }
    if run.command.contains('\0') {
        return Err(refused("the command contains a NUL byte".into()));
    }
    // Stale settings are no fallback: a broken file refuses commands until it is fixed.
    let config = AgentConfig::load(path)
        .map_err(|e| refused(format!("{e} (commands are refused until it is fixed)")))?;
    if !config.commands {
        return Err(refused(format!("commands = false in {}", path.display())));
    }
    let mut notes = Vec::new();
    let max_s = config.command_timeout_max_s;
    let asked_s = u64::from(run.timeout_s);
    // 0 is proto3's "not set": the local maximum applies.
    let timeout_s = if asked_s == 0 {
        max_s
    } else if asked_s > max_s {
        notes.push(format!(
            "timeout_s {asked_s} clamped to command_timeout_max_s = {max_s} in {}",
            path.display()
        ));
        max_s
    } else {
        asked_s
    };
    let max_bytes = config.command_output_max_bytes;
    let cap = match run.output_cap_bytes {
        0 => max_bytes,
        asked => asked.min(max_bytes),
    };
    let cap_note = (run.output_cap_bytes > max_bytes).then(|| {
        format!(
            "output capped at command_output_max_bytes = {max_bytes} in {}",
            path.display()
        )
    });
    let run_as =
        RunAs::for_this_host(config.run_as.as_deref(), path).map_err(|message| NotRun {
            status: CommandStatus::FailedToStart,
            message,
        })?;
    Ok(Admitted {
        spec: Spec {
            command: run.command.clone(),
            run_as,
            timeout: Duration::from_secs(timeout_s),
            output_cap: usize::try_from(cap).unwrap_or(usize::MAX),
        },
        notes,
        cap_note,
    })
}
