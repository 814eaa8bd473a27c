//! The agent's command queue, alive across sessions: dedups commands already in hand,
//! classifies arrivals in order (journal, local policy), runs at most [`MAX_RUNNING`] at
//! once — the rest wait in arrival order — and sends every reply to whichever session is
//! live when it is ready. A command outlives the stream it came on: if the stream ends, it
//! finishes, its result stays in the journal, and it goes out on the next stream.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Semaphore};

use super::command::{deliver, prepare, CommandContext, Job, Outbox, Prepared};
use crate::proto::agent::{AgentMessage, CommandAck, RunCommand};

/// Commands that run at the same time.
pub const MAX_RUNNING: usize = 8;

/// Commands in hand at once (classifying, waiting, running, sending); more are dropped
/// unjournaled, and the appliance sends them again after the next reconnect.
pub const MAX_PENDING: usize = 1024;

/// How often the journal's time bounds are applied when nothing else writes to it.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

type Ids = Arc<Mutex<HashSet<String>>>;

/// The queue. Dropping it stops taking commands; those in hand still finish.
pub struct Dispatcher {
    ctx: Arc<CommandContext>,
    in_hand: Ids,
    arrivals: mpsc::UnboundedSender<(RunCommand, Claim)>,
    session: watch::Sender<Option<mpsc::Sender<AgentMessage>>>,
}

impl Dispatcher {
    /// Starts the queue's tasks on the current runtime.
    pub fn start(ctx: Arc<CommandContext>) -> Self {
        let (session, following) = watch::channel(None);
        let outbox = Outbox::follow(following);
        let (arrivals, arrived) = mpsc::unbounded_channel();
        let (ready_tx, ready) = mpsc::unbounded_channel();
        tokio::spawn(classify(
            Arc::clone(&ctx),
            arrived,
            ready_tx,
            outbox.clone(),
        ));
        tokio::spawn(start_in_order(Arc::clone(&ctx), ready, outbox));
        Self {
            ctx,
            in_hand: Arc::default(),
            arrivals,
            session,
        }
    }

    /// Replies go to `tx` from now on (a session is up).
    pub fn attach(&self, tx: mpsc::Sender<AgentMessage>) {
        self.session.send_replace(Some(tx));
    }

    /// No session: replies wait in the journal.
    pub fn detach(&self) {
        self.session.send_replace(None);
    }

    /// Takes a `RunCommand` from the stream; never blocks. A command already in hand is
    /// ignored (its reply is coming).
    pub fn run_command(&self, run: RunCommand) {
        let id = run.command_id.clone();
        match Claim::take(&self.in_hand, &id) {
            Ok(claim) => {
                // The receiver lives as long as the classifier task, which ends only after
                // this sender is dropped.
                let _ = self.arrivals.send((run, claim));
            }
            Err(Busy::InHand) => {
                tracing::debug!(command_id = %id, "command already in hand; ignoring the repeat");
            }
            Err(Busy::Full) => {
                tracing::warn!(command_id = %id, limit = MAX_PENDING, "too many commands in hand; dropping this one (the appliance sends it again after a reconnect)");
            }
        }
    }

    /// Takes a `CommandAck`: the journal drops the output it keeps for that command.
    pub fn ack(&self, ack: CommandAck) {
        let journal = Arc::clone(&self.ctx.journal);
        let now = super::exec::unix_ms(&*self.ctx.clock);
        tokio::spawn(async move {
            let id = ack.command_id;
            let key = id.clone();
            match tokio::task::spawn_blocking(move || journal.ack(&key, now)).await {
                Ok(Ok(true)) => tracing::debug!(command_id = %id, "result acknowledged"),
                Ok(Ok(false)) => {
                    tracing::debug!(command_id = %id, "acknowledgement for no stored result")
                }
                Ok(Err(e)) => {
                    tracing::warn!(command_id = %id, error = %e, "could not apply an acknowledgement")
                }
                Err(e) => {
                    tracing::warn!(command_id = %id, error = %e, "acknowledgement task failed")
                }
            }
        });
    }
}

/// Arrivals in order: each is looked up and checked, then answered or queued to run.
async fn classify(
    ctx: Arc<CommandContext>,
    mut arrived: mpsc::UnboundedReceiver<(RunCommand, Claim)>,
    ready: mpsc::UnboundedSender<(Job, Claim)>,
    outbox: Outbox,
) {
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.tick().await; // the first tick is immediate; the journal was pruned when opened
    loop {
        tokio::select! {
            next = arrived.recv() => {
                let Some((run, claim)) = next else { break };
                match prepare(&ctx, run).await {
                    Prepared::Answer(reply) => {
                        let outbox = outbox.clone();
                        tokio::spawn(async move {
                            deliver(&outbox, &reply).await;
                            drop(claim);
                        });
                    }
                    Prepared::Run(job) => {
                        let _ = ready.send((job, claim));
                    }
                    Prepared::Nothing => {}
                }
            }
            _ = prune.tick() => {
                let journal = Arc::clone(&ctx.journal);
                let now = super::exec::unix_ms(&*ctx.clock);
                let _ = tokio::task::spawn_blocking(move || journal.prune(now)).await;
            }
        }
    }
}

/// Runs queued jobs, at most [`MAX_RUNNING`] at once, in queue order (the semaphore is
/// fair and this loop asks for one permit at a time).
async fn start_in_order(
    ctx: Arc<CommandContext>,
    mut ready: mpsc::UnboundedReceiver<(Job, Claim)>,
    outbox: Outbox,
) {
    let slots = Arc::new(Semaphore::new(MAX_RUNNING));
    while let Some((job, claim)) = ready.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let (ctx, outbox) = (Arc::clone(&ctx), outbox.clone());
        tokio::spawn(async move {
            job.run(&ctx, &outbox).await;
            drop(slot);
            drop(claim);
        });
    }
}

enum Busy {
    InHand,
    Full,
}

/// A command id in hand; released when dropped (also if its task is cancelled).
struct Claim {
    id: String,
    ids: Ids,
}

impl Claim {
    fn take(ids: &Ids, id: &str) -> Result<Self, Busy> {
        let mut set = ids.lock().unwrap_or_else(|e| e.into_inner());
        if set.contains(id) {
            return Err(Busy::InHand);
        }
        if set.len() >= MAX_PENDING {
            return Err(Busy::Full);
        }
        set.insert(id.to_string());
        Ok(Self {
            id: id.to_string(),
            ids: Arc::clone(ids),
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

#[cfg(test)]
impl Dispatcher {
    /// Commands in hand now.
    fn in_hand(&self) -> usize {
        self.in_hand.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests;
