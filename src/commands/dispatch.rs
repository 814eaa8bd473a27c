//! Handing commands to agents and taking their results back.
//!
//! A queued command is sent on its agent's control stream as soon as it may run, and again
//! whenever the agent (re)connects until its result is stored — the agent keys its journal
//! by command id, so a command sent twice still runs once and its stored result is replayed.
//! Output arrives in chunks with offsets and is kept once per byte, up to the command's cap;
//! the result must be signed by the agent's identity key and match the output's digests.
//! The result, the sealed output and the audit record land in one transaction, and only then
//! is the agent told it may forget its copy (`CommandAck`).

use std::sync::Arc;

use super::rows::{CommandRow, CommandStatus, ResultInfo};
use super::service::lock;
use super::submit::queue_key;
use super::{CommandError, Commands};
use crate::audit::{AuditContext, AuditEvent};
use crate::crypto::digest::sha256;
use crate::model::{Actor, AgentId};
use crate::proto::agent::{
    server_message, CommandAck, CommandOutput, CommandResult, CommandStatus as WireStatus,
    OutputStream, RunCommand, ServerMessage, COMMAND_RESULT_DOMAIN, MAX_OUTPUT_CHUNK,
};
use crate::rendezvous::AgentEvents;
use crate::store::Table;

/// How often a result whose output did not arrive whole is asked for again (the agent
/// replays it from its journal) before what did arrive is stored as it is.
const MAX_REPLAYS: u8 = 2;

/// A command handed to a live connection, with its output so far.
#[derive(Debug)]
pub(crate) struct Inflight {
    agent: AgentId,
    conn: u64,
    cap: u64,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    replays: u8,
}

/// What became of a result.
enum Stored {
    /// Stored (now or before): the agent may forget its copy.
    Done,
    /// Refused (audited); nothing changed.
    Refused,
    /// Output is missing: ask the agent to send it all again.
    Replay(Box<CommandRow>),
}

impl Inflight {
    fn kept(&self) -> u64 {
        (self.stdout.len() + self.stderr.len()) as u64
    }

    /// Keeps the bytes of `o` not seen before, within the cap.
    fn take(&mut self, o: &CommandOutput) {
        let room = self.cap.saturating_sub(self.kept());
        let buf = match OutputStream::try_from(o.stream) {
            Ok(OutputStream::Stdout) => &mut self.stdout,
            Ok(OutputStream::Stderr) => &mut self.stderr,
            Err(_) => return,
        };
        let have = buf.len() as u64;
        let end = o.offset.saturating_add(o.data.len() as u64);
        if o.offset > have || end <= have {
            return; // a gap (an earlier chunk was lost: the replay fills it) or a repeat
        }
        let new = &o.data[usize::try_from(have - o.offset).unwrap_or(usize::MAX)..];
        let n = new.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        buf.extend_from_slice(&new[..n]);
    }
}

fn run_message(row: &CommandRow) -> ServerMessage {
    ServerMessage {
        kind: Some(server_message::Kind::RunCommand(RunCommand {
            command_id: row.id.clone(),
            command: row.command.clone(),
            timeout_s: row.timeout_s,
            output_cap_bytes: row.output_cap,
            request_id: row.request_id.clone(),
        })),
    }
}

impl Commands {
    /// Hands a queued command to its agent if it is connected (otherwise it waits for the
    /// agent's next connect). Cheap and non-blocking: called right after the command's
    /// transaction commits.
    pub(super) fn deliver(&self, row: &CommandRow) {
        let Some(conn) = self.hub.connection(&row.agent) else {
            return;
        };
        if !self.hand_over(row, conn) {
            return; // already handed to this connection
        }
        if !self.hub.send(&row.agent, run_message(row)) {
            // The queue was full or the agent left: the sweep or its next connect retries.
            self.take_back(&row.id, conn);
        }
    }

    /// Notes that `row` is being handed to connection `conn`; `false` if it already was.
    /// Output already received is kept: a command that ran across a reconnect sends the
    /// rest (or all of it again) on the new stream, and each byte is kept once.
    fn hand_over(&self, row: &CommandRow, conn: u64) -> bool {
        let mut inflight = lock(&self.inflight);
        match inflight.get_mut(&row.id) {
            Some(f) if f.conn == conn => false,
            Some(f) => {
                f.conn = conn;
                true
            }
            None => {
                inflight.insert(
                    row.id.clone(),
                    Inflight {
                        agent: row.agent.clone(),
                        conn,
                        cap: row.output_cap,
                        stdout: Vec::new(),
                        stderr: Vec::new(),
                        replays: 0,
                    },
                );
                true
            }
        }
    }

    /// Forgets that `id` was handed to `conn` (sending failed), keeping any output.
    fn take_back(&self, id: &str, conn: u64) {
        if let Some(f) = lock(&self.inflight).get_mut(id) {
            if f.conn == conn {
                f.conn = 0;
            }
        }
    }

    /// Whether a command is in the hands of a connected agent right now.
    pub fn is_running(&self, id: &str) -> bool {
        lock(&self.inflight)
            .get(id)
            .is_some_and(|f| self.hub.connection(&f.agent) == Some(f.conn))
    }

    /// The queued commands of `agent`, oldest first, that have not expired.
    pub(super) fn queued_for(&self, agent: &AgentId) -> Result<Vec<CommandRow>, CommandError> {
        let now = self.now_ms();
        self.store.read(|tx| {
            let prefix = format!("{agent}/");
            let mut out = Vec::new();
            for (key, ()) in tx.rows::<()>(Table::AgentQueue, &prefix)? {
                let Some(id) = key.rsplit('/').next() else {
                    continue;
                };
                if let Some(row) = tx.row::<CommandRow>(Table::Commands, id)? {
                    let live = row.queue_expires_ms.is_none_or(|e| e > now);
                    if row.status == CommandStatus::Queued && live {
                        out.push(row);
                    }
                }
            }
            Ok(out)
        })
    }

    /// Sends every queued command of a (re)connected agent, oldest first, waiting for room
    /// on its stream instead of dropping any.
    async fn redeliver(self: Arc<Self>, agent: AgentId, conn: u64) {
        let this = Arc::clone(&self);
        let id = agent.clone();
        let rows = match tokio::task::spawn_blocking(move || this.queued_for(&id)).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::warn!(agent = %agent, error = %e, "could not read the agent's queue");
                return;
            }
            Err(_) => return,
        };
        for row in rows {
            if !self.hand_over(&row, conn) {
                continue;
            }
            if !self.hub.send_wait(&agent, run_message(&row)).await {
                self.take_back(&row.id, conn);
                return;
            }
            self.notify(&row.id);
        }
    }

    /// Checks and stores a result; `Ok(true)` when the agent may forget its copy.
    fn store_result(&self, agent: &AgentId, r: &CommandResult) -> Result<Stored, CommandError> {
        let id = r.command_id.as_str();
        // Only this agent's own command: a result naming another agent's command must not
        // disturb that command's output.
        let inflight = {
            let mut all = lock(&self.inflight);
            match all.get(id) {
                Some(f) if f.agent == *agent => all.remove(id),
                _ => None,
            }
        };
        let refuse = |row: Option<&CommandRow>, reason: &str| -> Result<Stored, CommandError> {
            let ctx = AuditContext {
                team: row.map(|r| r.team.clone()),
                ..AuditContext::actor(Actor::Agent(agent.0.clone()))
            };
            let event = AuditEvent::CommandResultRefused {
                command: id.chars().take(40).collect(),
                agent: agent.0.clone(),
                reason: reason.into(),
            };
            self.audit.append_denial(&self.store, &ctx, &event)?;
            Ok(Stored::Refused)
        };
        let row = self
            .store
            .read(|tx| tx.row::<CommandRow>(Table::Commands, id))?;
        let Some(row) = row.filter(|row| row.agent == *agent) else {
            return refuse(None, "not_this_agents_command");
        };
        if row.result.is_some() {
            return Ok(Stored::Done); // stored before; the agent missed the ack
        }
        // A command that expired in the queue may still have reached the agent before an
        // appliance restart: its late result is the truth and is kept. Anything else that
        // never passed the pipeline cannot have a result.
        let was_sent = row.status == CommandStatus::Queued
            || (row.status == CommandStatus::Expired && row.queue_expires_ms.is_some());
        if !was_sent {
            return refuse(Some(&row), "not_approved");
        }
        let signed = self.fleet.identity_key(agent).is_some_and(|key| {
            <[u8; 64]>::try_from(r.signature.as_slice()).is_ok_and(|sig| {
                key.verify(COMMAND_RESULT_DOMAIN, &r.payload(&agent.0), &sig)
                    .is_ok()
            })
        });
        if !signed || r.command_sha256 != sha256(row.command.as_bytes()) {
            let reason = if signed {
                "command_mismatch"
            } else {
                "bad_signature"
            };
            return refuse(Some(&row), reason);
        }
        let (stdout, stderr, replays) = inflight
            .map(|f| (f.stdout, f.stderr, f.replays))
            .unwrap_or_default();
        let complete = stdout.len() as u64 == r.stdout_len
            && stderr.len() as u64 == r.stderr_len
            && sha256(&stdout).as_slice() == r.stdout_sha256.as_slice()
            && sha256(&stderr).as_slice() == r.stderr_sha256.as_slice();
        if !complete && replays < MAX_REPLAYS {
            // Chunks were lost (they came before the appliance knew the command, e.g. right
            // after its restart): the agent's journal has them all; ask for them again.
            lock(&self.inflight).insert(
                row.id.clone(),
                Inflight {
                    agent: agent.clone(),
                    conn: self.hub.connection(agent).unwrap_or(0),
                    cap: row.output_cap,
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                    replays: replays + 1,
                },
            );
            return Ok(Stored::Replay(Box::new(row)));
        }
        let status = match WireStatus::try_from(r.status) {
            Ok(WireStatus::Exited) => CommandStatus::Completed,
            Ok(WireStatus::TimedOut) => CommandStatus::TimedOut,
            Ok(WireStatus::Refused) => CommandStatus::Refused,
            Ok(WireStatus::FailedToStart) => CommandStatus::Failed,
            Ok(WireStatus::Interrupted) | Err(_) => CommandStatus::Interrupted,
        };
        let exited = status == CommandStatus::Completed && r.signal == 0;
        let now = self.now_ms();
        let result = ResultInfo {
            exit_code: exited.then_some(r.exit_code),
            signal: (r.signal != 0).then_some(r.signal),
            started_ms: r.started_ms,
            finished_ms: r.finished_ms,
            stdout_len: stdout.len() as u64,
            stderr_len: stderr.len() as u64,
            truncated: r.truncated,
            message: r.message.chars().take(1000).collect(),
            stdout_sha256: hex::encode(&r.stdout_sha256),
            stderr_sha256: hex::encode(&r.stderr_sha256),
            agent_signature: hex::encode(&r.signature),
            output_complete: complete,
            stored_ms: now,
        };
        let sealed = super::output::seal(&self.sealer, id, &stdout, &stderr);
        self.store.write(|tx| {
            let Some(mut row) = tx.row::<CommandRow>(Table::Commands, id)? else {
                return Err(CommandError::NotFound);
            };
            if row.result.is_some() {
                return Ok(());
            }
            tx.delete_row(Table::AgentQueue, &queue_key(&row))?;
            tx.put_command_output(id, &sealed)?;
            row.status = status;
            row.result = Some(result.clone());
            row.updated_ms = now;
            tx.put_row(Table::Commands, id, &row)?;
            let ctx = AuditContext {
                team: Some(row.team.clone()),
                request_id: Some(row.request_id.clone()),
                command: Some(row.command.clone()),
                ..AuditContext::actor(Actor::Agent(agent.0.clone()))
            };
            let event = AuditEvent::CommandFinished {
                command: row.id.clone(),
                agent: agent.0.clone(),
                status: status.as_str().into(),
                exit_code: result.exit_code,
                signal: result.signal,
                truncated: result.truncated,
                stdout_sha256: result.stdout_sha256.clone(),
                stderr_sha256: result.stderr_sha256.clone(),
                agent_signature: result.agent_signature.clone(),
            };
            self.audit.append(tx, &ctx, &event)?;
            Ok(())
        })?;
        Ok(Stored::Done)
    }
}

impl AgentEvents for Commands {
    fn connected(&self, agent: &AgentId, conn: u64) {
        let Some(this) = self.myself() else {
            return;
        };
        tokio::spawn(this.redeliver(agent.clone(), conn));
    }

    fn command_output(&self, agent: &AgentId, output: CommandOutput) {
        if output.data.len() > MAX_OUTPUT_CHUNK {
            return;
        }
        if let Some(f) = lock(&self.inflight).get_mut(&output.command_id) {
            if f.agent == *agent {
                f.take(&output);
            }
        }
    }

    fn command_result(&self, agent: &AgentId, result: CommandResult) {
        let Some(this) = self.myself() else {
            return;
        };
        let agent = agent.clone();
        tokio::spawn(async move {
            let id = result.command_id.clone();
            let worker = Arc::clone(&this);
            let who = agent.clone();
            let stored =
                tokio::task::spawn_blocking(move || worker.store_result(&who, &result)).await;
            match stored {
                Ok(Ok(Stored::Replay(row))) => {
                    tracing::debug!(command = %id, "output incomplete; asking the agent again");
                    this.hub.send_wait(&agent, run_message(&row)).await;
                }
                Ok(Ok(Stored::Done)) => {
                    this.notify(&id);
                    let ack = ServerMessage {
                        kind: Some(server_message::Kind::CommandAck(CommandAck {
                            command_id: id.clone(),
                        })),
                    };
                    this.hub.send_wait(&agent, ack).await;
                }
                Ok(Ok(Stored::Refused)) => {}
                Ok(Err(e)) => {
                    tracing::error!(command = %id, error = %e, "could not store a command result")
                }
                Err(e) => tracing::error!(command = %id, error = %e, "result task failed"),
            }
        });
    }
}
