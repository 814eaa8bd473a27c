//! Replies: the signed `CommandResult` for each way a command can end, and the messages
//! that carry a reply on the stream.

use super::admit::{Admitted, NotRun};
use super::CommandContext;
use crate::agent::exec::Outcome;
use crate::crypto::digest::sha256;
use crate::proto::agent::{
    agent_message, AgentMessage, CommandOutput, CommandResult, CommandStatus, OutputStream,
    RunCommand, MAX_OUTPUT_CHUNK,
};

/// A result and the output it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The signed result.
    pub result: CommandResult,
    /// Kept stdout.
    pub stdout: Vec<u8>,
    /// Kept stderr.
    pub stderr: Vec<u8>,
}

impl Reply {
    /// The messages that carry it: stdout chunks, stderr chunks (each ≤ `MAX_OUTPUT_CHUNK`,
    /// offsets counted per stream), then the result. The same reply always gives the same
    /// messages.
    pub fn messages(&self) -> impl Iterator<Item = AgentMessage> + '_ {
        let id = &self.result.command_id;
        chunks(id, OutputStream::Stdout, &self.stdout)
            .chain(chunks(id, OutputStream::Stderr, &self.stderr))
            .map(agent_message::Kind::CommandOutput)
            .chain(std::iter::once(agent_message::Kind::CommandResult(
                self.result.clone(),
            )))
            .map(|kind| AgentMessage { kind: Some(kind) })
    }
}

/// `data` as `CommandOutput` chunks, made one at a time as they are sent.
fn chunks<'a>(
    command_id: &'a str,
    stream: OutputStream,
    data: &'a [u8],
) -> impl Iterator<Item = CommandOutput> + 'a {
    data.chunks(MAX_OUTPUT_CHUNK)
        .scan(0u64, move |offset, chunk| {
            let out = CommandOutput {
                command_id: command_id.to_string(),
                stream: stream as i32,
                offset: *offset,
                data: chunk.to_vec(),
            };
            *offset += chunk.len() as u64;
            Some(out)
        })
}

pub(super) fn refusal(ctx: &CommandContext, run: &RunCommand, why: NotRun) -> Reply {
    let NotRun { status, message } = why;
    tracing::warn!(command_id = %run.command_id, ?status, %message, "command not run");
    not_run(ctx, run, status, message, None)
}

/// A signed result for a command that did not run (now), without output.
pub(super) fn not_run(
    ctx: &CommandContext,
    run: &RunCommand,
    status: CommandStatus,
    message: String,
    command_sha256: Option<Vec<u8>>,
) -> Reply {
    let now = ctx.now_ms();
    let empty = sha256(b"").to_vec();
    let result = CommandResult {
        command_id: run.command_id.clone(),
        status: status as i32,
        exit_code: -1,
        signal: 0,
        started_ms: now,
        finished_ms: now,
        stdout_len: 0,
        stderr_len: 0,
        truncated: false,
        message,
        command_sha256: command_sha256.unwrap_or_else(|| sha256(run.command.as_bytes()).to_vec()),
        stdout_sha256: empty.clone(),
        stderr_sha256: empty,
        signature: Vec::new(),
    };
    Reply {
        result: ctx.sign(result),
        stdout: Vec::new(),
        stderr: Vec::new(),
    }
}

pub(super) fn finished(
    ctx: &CommandContext,
    run: &RunCommand,
    o: Outcome,
    admitted: &Admitted,
) -> Reply {
    let mut message = admitted.notes.clone();
    if o.truncated {
        message.extend(admitted.cap_note.clone());
    }
    message.extend(o.notes);
    let result = CommandResult {
        command_id: run.command_id.clone(),
        status: o.status as i32,
        exit_code: o.exit_code,
        signal: o.signal,
        started_ms: o.started_ms,
        finished_ms: o.finished_ms,
        stdout_len: o.stdout.len() as u64,
        stderr_len: o.stderr.len() as u64,
        truncated: o.truncated,
        message: message.join("; "),
        command_sha256: sha256(run.command.as_bytes()).to_vec(),
        stdout_sha256: sha256(&o.stdout).to_vec(),
        stderr_sha256: sha256(&o.stderr).to_vec(),
        signature: Vec::new(),
    };
    Reply {
        result: ctx.sign(result),
        stdout: o.stdout,
        stderr: o.stderr,
    }
}

/// The answer for an id whose output was dropped: how it ended, with empty output, marked
/// truncated when it had output. Deterministic, so every re-send is the same.
pub(super) fn without_output(
    ctx: &CommandContext,
    mut result: CommandResult,
    acked: bool,
) -> Reply {
    let empty = sha256(b"").to_vec();
    result.truncated |= result.stdout_len > 0 || result.stderr_len > 0;
    result.stdout_len = 0;
    result.stderr_len = 0;
    result.stdout_sha256.clone_from(&empty);
    result.stderr_sha256 = empty;
    let why = if acked {
        "its output was dropped after the appliance acknowledged the result"
    } else {
        "its output was dropped: the result was not acknowledged within the journal's bounds"
    };
    result.message = [result.message.as_str(), why]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("; ");
    Reply {
        result: ctx.sign(result),
        stdout: Vec::new(),
        stderr: Vec::new(),
    }
}
