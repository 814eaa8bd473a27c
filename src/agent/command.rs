//! One command from the appliance, from `RunCommand` to the signed `CommandResult`:
//! journal first (a known id is answered from the journal, never run again), then the local
//! policy in `agent.toml` (re-read for every command), then [`exec`](super::exec), then the
//! journaled result is sent as `CommandOutput` chunks and one `CommandResult`.
//!
//! File access (journal, `agent.toml`, `/etc/passwd`) runs in `spawn_blocking`: the agent's
//! runtime has one thread, which also carries the control stream and heartbeats.

mod admit;
mod reply;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::exec::{self, unix_ms};
use super::journal::{Entry, Journal};
use super::state::Loaded;
use crate::clock::SharedClock;
use crate::crypto::digest::sha256;
use crate::proto::agent::{
    AgentMessage, CommandResult, CommandStatus, RunCommand, COMMAND_RESULT_DOMAIN,
};

use admit::admit_off_thread;
pub use reply::Reply;
use reply::{finished, not_run, refusal, without_output};

/// The longest `command_id` accepted (it is the journal key; the appliance's ids are short).
pub const MAX_COMMAND_ID: usize = 256;

/// What handling a command needs; shared by every command and every session.
pub struct CommandContext {
    /// The idempotency journal.
    pub journal: Arc<Journal>,
    /// `agent.toml`, read again for each command.
    pub config_path: PathBuf,
    /// The identity that signs results, and the agent id they name.
    pub loaded: Arc<Loaded>,
    /// Wall time for `started_ms`/`finished_ms` and the journal's bounds.
    pub clock: SharedClock,
}

impl CommandContext {
    pub(super) fn now_ms(&self) -> i64 {
        unix_ms(&*self.clock)
    }

    /// Signs `result` with the identity key over `CommandResult::payload`.
    pub(super) fn sign(&self, mut result: CommandResult) -> CommandResult {
        let payload = result.payload(&self.loaded.enrollment.agent_id);
        result.signature = self
            .loaded
            .identity
            .sign(COMMAND_RESULT_DOMAIN, &payload)
            .to_vec();
        result
    }
}

/// Where replies go: the live session's stream, replaced at each reconnect (`None` while
/// disconnected). A reply interrupted by a reconnect is sent again, whole, on the new stream.
#[derive(Debug, Clone)]
pub struct Outbox(watch::Receiver<Option<mpsc::Sender<AgentMessage>>>);

impl Outbox {
    /// An outbox that always sends to `tx`.
    pub fn to(tx: mpsc::Sender<AgentMessage>) -> Self {
        Self(watch::channel(Some(tx)).1)
    }

    /// An outbox following `rx` (see [`super::dispatch::Dispatcher`]).
    pub(super) fn follow(rx: watch::Receiver<Option<mpsc::Sender<AgentMessage>>>) -> Self {
        Self(rx)
    }
}

/// What to do with an arriving command.
#[derive(Debug)]
pub enum Prepared {
    /// Send this (a journaled result again, or an answer without running anything).
    Answer(Reply),
    /// Run it (when a slot is free).
    Run(Job),
    /// Nothing can be said now (the journal could not be read); the appliance asks again.
    Nothing,
}

/// A command that may run.
#[derive(Debug)]
pub struct Job {
    run: RunCommand,
}

/// Handles one `RunCommand` start to end, sending its reply to `outbox`. (The dispatcher
/// adds the in-process dedup and the concurrency limit around the same steps.)
pub async fn handle_run_command(ctx: &CommandContext, run: RunCommand, outbox: &Outbox) {
    match prepare(ctx, run).await {
        Prepared::Answer(reply) => {
            deliver(outbox, &reply).await;
        }
        Prepared::Run(job) => job.run(ctx, outbox).await,
        Prepared::Nothing => {}
    }
}

/// Decides what an arriving command gets: the journal's answer for a known id, a refusal
/// (journaled, so the id keeps its answer), or a [`Job`].
pub async fn prepare(ctx: &CommandContext, run: RunCommand) -> Prepared {
    if run.command_id.is_empty() || run.command_id.len() > MAX_COMMAND_ID {
        // Not journaled: an id that cannot be a key cannot be deduplicated either.
        let message = format!("command_id must be 1 to {MAX_COMMAND_ID} bytes");
        return Prepared::Answer(not_run(ctx, &run, CommandStatus::Refused, message, None));
    }
    let journal = Arc::clone(&ctx.journal);
    let id = run.command_id.clone();
    let entry = match blocking(move || journal.lookup(&id)).await {
        Ok(Ok(entry)) => entry,
        Ok(Err(e)) => {
            tracing::error!(command_id = %run.command_id, error = %e, "cannot read the command journal; not running the command");
            return Prepared::Nothing;
        }
        Err(e) => {
            tracing::error!(command_id = %run.command_id, error = %e, "command journal lookup failed");
            return Prepared::Nothing;
        }
    };
    match entry {
        Entry::Unknown => {}
        Entry::Finished {
            result,
            stdout,
            stderr,
        } => {
            tracing::info!(command_id = %run.command_id, "command already ran; sending its result again");
            return Prepared::Answer(Reply {
                result,
                stdout,
                stderr,
            });
        }
        Entry::Forgotten { result, acked } => {
            tracing::info!(command_id = %run.command_id, acked, "command already ran; its output is no longer kept");
            return Prepared::Answer(without_output(ctx, result, acked));
        }
        Entry::Started {
            started_ms,
            command_sha256,
            damaged,
        } => {
            let message = match damaged {
                None => "the agent stopped while this command ran; it was not run again".into(),
                Some(why) => format!(
                    "its journal entry is damaged ({why}); it may have run and was not run again"
                ),
            };
            let digest = (!command_sha256.is_empty()).then_some(command_sha256);
            let mut reply = not_run(ctx, &run, CommandStatus::Interrupted, message, digest);
            if started_ms > 0 {
                reply.result.started_ms = started_ms;
                reply.result = ctx.sign(reply.result);
            }
            tracing::warn!(command_id = %run.command_id, "command was interrupted by an agent restart; answering INTERRUPTED");
            return Prepared::Answer(record(ctx, reply).await);
        }
    }
    match admit_off_thread(ctx, &run).await {
        Ok(_) => Prepared::Run(Job { run }),
        Err(refused) => Prepared::Answer(record(ctx, refusal(ctx, &run, refused)).await),
    }
}

impl Job {
    /// Runs the command — after checking `agent.toml` again, since it may have changed while
    /// the job waited — journals its result and sends it.
    pub async fn run(self, ctx: &CommandContext, outbox: &Outbox) {
        if let Some(reply) = self.execute(ctx).await {
            deliver(outbox, &reply).await;
        }
    }

    async fn execute(self, ctx: &CommandContext) -> Option<Reply> {
        let run = self.run;
        let admitted = match admit_off_thread(ctx, &run).await {
            Ok(admitted) => admitted,
            Err(refused) => return Some(record(ctx, refusal(ctx, &run, refused)).await),
        };
        let spec = &admitted.spec;
        let digest = sha256(run.command.as_bytes());
        let started_ms = ctx.now_ms();
        let journal = Arc::clone(&ctx.journal);
        let (id, request) = (run.command_id.clone(), run.request_id.clone());
        let why = match blocking(move || journal.begin(&id, &request, &digest, started_ms)).await {
            Ok(Ok(true)) => None,
            Ok(Ok(false)) => {
                tracing::warn!(command_id = %run.command_id, "command is already in the journal (another agent on this state dir?); not running it");
                return None;
            }
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e),
        };
        if let Some(why) = why {
            // Fail closed: a command that could not be recorded as started does not run.
            tracing::error!(command_id = %run.command_id, error = %why, "cannot journal the command; not running it");
            let message = format!("could not record it in the agent's command journal: {why}");
            return Some(not_run(
                ctx,
                &run,
                CommandStatus::FailedToStart,
                message,
                None,
            ));
        }
        tracing::info!(command_id = %run.command_id, request_id = %run.request_id, user = %spec.run_as.name, "running command");
        let outcome = exec::execute(spec, &*ctx.clock).await;
        let reply = finished(ctx, &run, outcome, &admitted);
        tracing::info!(
            command_id = %run.command_id,
            status = ?reply.result.status(),
            exit_code = reply.result.exit_code,
            signal = reply.result.signal,
            ms = reply.result.finished_ms.saturating_sub(reply.result.started_ms),
            "command ended"
        );
        Some(record(ctx, reply).await)
    }
}

/// Sends `reply` through `outbox`: `true` once every message was handed to a live stream.
/// If the stream ends midway and a new one is already up, the whole reply goes there; if
/// none is, it stays in the journal for the appliance to ask again.
pub async fn deliver(outbox: &Outbox, reply: &Reply) -> bool {
    enum Sent {
        All,
        Closed,
        Swapped,
    }
    let mut watch = outbox.0.clone();
    loop {
        let current = watch.borrow_and_update().clone();
        let Some(tx) = current else {
            return false;
        };
        let mut sent = Sent::All;
        for msg in reply.messages() {
            tokio::select! {
                r = tx.send(msg) => if r.is_err() {
                    sent = Sent::Closed;
                    break;
                },
                () = changed(&mut watch) => {
                    sent = Sent::Swapped;
                    break;
                }
            }
        }
        match sent {
            Sent::All => return true,
            Sent::Swapped => continue,
            Sent::Closed if watch.has_changed().unwrap_or(false) => continue,
            Sent::Closed => return false,
        }
    }
}

async fn changed(watch: &mut watch::Receiver<Option<mpsc::Sender<AgentMessage>>>) {
    if watch.changed().await.is_err() {
        // Nobody can replace the stream any more.
        std::future::pending::<()>().await;
    }
}

/// Journals `reply` as its command's result and hands it back. A failure is logged: the
/// reply is still sent, and after a restart the command reads as started-no-result
/// (answered INTERRUPTED).
async fn record(ctx: &CommandContext, reply: Reply) -> Reply {
    let journal = Arc::clone(&ctx.journal);
    let now = ctx.now_ms();
    // Shared with the blocking task rather than copied: the output can be 16 MiB.
    let shared = Arc::new(reply);
    let r = Arc::clone(&shared);
    let done = blocking(move || {
        journal.finish(&r.result.command_id, &r.result, &r.stdout, &r.stderr, now)
    })
    .await;
    let error = match done {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(e),
    };
    if let Some(error) = error {
        tracing::error!(command_id = %shared.result.command_id, %error, "could not journal a command result");
    }
    // The task has dropped its handle by the time it is joined.
    Arc::try_unwrap(shared).unwrap_or_else(|still_shared| (*still_shared).clone())
}

/// Runs blocking file work on tokio's blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("journal task failed: {e}"))
}

#[cfg(test)]
mod latency;
#[cfg(test)]
mod tests;
