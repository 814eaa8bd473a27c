//! Live agent connections: one entry per connected agent with its latest health, the sender
//! of its control stream, and the heartbeat samples not yet written to the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use tokio::sync::mpsc;
use tonic::Status;

use crate::clock::SharedClock;
use crate::fleet::{Fleet, Sample, HEARTBEAT_INTERVAL_SECS};
use crate::model::AgentId;
use crate::proto::agent::{CommandOutput, CommandResult, ServerMessage};

/// An agent with no heartbeat for this long counts as offline.
pub const OFFLINE_AFTER_SECS: i64 = 3 * HEARTBEAT_INTERVAL_SECS as i64;
/// Unwritten samples kept at most; beyond it the oldest are dropped (the store is slow or
/// gone, and memory must stay bounded).
const MAX_PENDING: usize = 200_000;

/// What the hub puts on an agent's control stream: a message, or the end of the stream
/// with a status. (Small on purpose: every live agent's queue holds a block of these.)
#[derive(Debug)]
pub enum Control {
    /// A message to the agent.
    Message(ServerMessage),
    /// Close the stream with this code and reason.
    Close(tonic::Code, &'static str),
}

impl Control {
    /// As the gRPC stream item.
    pub fn into_item(self) -> Result<ServerMessage, Status> {
        match self {
            Control::Message(m) => Ok(m),
            Control::Close(code, reason) => Err(Status::new(code, reason)),
        }
    }
}

/// The sending half of an agent's control stream.
pub type ControlTx = mpsc::Sender<Control>;

/// What the hub passes on from agents to the service that asked for it (the command
/// pipeline). Called on the connection's own task: implementations must not block — hand
/// store work to a blocking thread.
pub trait AgentEvents: Send + Sync {
    /// `agent` completed its handshake on connection `conn` (a new number each time).
    fn connected(&self, agent: &AgentId, conn: u64);
    /// A piece of a command's output arrived from `agent`.
    fn command_output(&self, agent: &AgentId, output: CommandOutput);
    /// A command's result arrived from `agent`.
    fn command_result(&self, agent: &AgentId, result: CommandResult);
}

struct Live {
    conn: u64,
    since: i64,
    last_heartbeat: Option<i64>,
    latest: Option<Sample>,
    tx: ControlTx,
}

/// What the panel and API show about an agent's connection.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LiveStatus {
    /// Connected and heartbeating.
    pub online: bool,
    /// Unix seconds the current connection was accepted.
    pub connected_since: Option<i64>,
    /// Unix seconds of the last heartbeat.
    pub last_heartbeat: Option<i64>,
    /// The last reported health.
    pub latest: Option<Sample>,
}

/// The live connections.
pub struct Hub {
    fleet: Arc<Fleet>,
    clock: SharedClock,
    next_conn: AtomicU64,
    live: Mutex<HashMap<AgentId, Live>>,
    pending: Mutex<Vec<(AgentId, u64, Sample)>>,
    /// Held weakly: the receiver owns the hub, not the other way round.
    events: OnceLock<Weak<dyn AgentEvents>>,
}

impl Hub {
    /// An empty hub.
    pub fn new(fleet: Arc<Fleet>, clock: SharedClock) -> Arc<Self> {
        Arc::new(Self {
            fleet,
            clock,
            next_conn: AtomicU64::new(1),
            live: Mutex::new(HashMap::new()),
            pending: Mutex::new(Vec::new()),
            events: OnceLock::new(),
        })
    }

    /// Names the receiver of agent events (once; later calls are ignored).
    pub fn set_events(&self, events: Weak<dyn AgentEvents>) {
        let _ = self.events.set(events);
    }

    pub(super) fn events(&self) -> Option<Arc<dyn AgentEvents>> {
        self.events.get().and_then(Weak::upgrade)
    }

    /// Queues `msg` on `agent`'s control stream without waiting; `false` when the agent is
    /// not connected or its queue is full (the caller retries later).
    pub fn send(&self, agent: &AgentId, msg: ServerMessage) -> bool {
        lock(&self.live)
            .get(agent)
            .is_some_and(|l| l.tx.try_send(Control::Message(msg)).is_ok())
    }

    /// Queues `msg` on `agent`'s control stream, waiting while its queue is full; `false`
    /// when the agent is not connected (or went away meanwhile).
    pub async fn send_wait(&self, agent: &AgentId, msg: ServerMessage) -> bool {
        let tx = lock(&self.live).get(agent).map(|l| l.tx.clone());
        match tx {
            Some(tx) => tx.send(Control::Message(msg)).await.is_ok(),
            None => false,
        }
    }

    /// The number of `agent`'s current connection, when it is connected.
    pub fn connection(&self, agent: &AgentId) -> Option<u64> {
        lock(&self.live).get(agent).map(|l| l.conn)
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// Registers a new control stream for `agent`, closing an older one of the same agent.
    /// Returns the connection's number.
    pub(super) fn register(&self, agent: &AgentId, tx: ControlTx) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let live = Live {
            conn,
            since: self.now(),
            last_heartbeat: None,
            latest: None,
            tx,
        };
        let old = lock(&self.live).insert(agent.clone(), live);
        if let Some(old) = old {
            let _ = old.tx.try_send(Control::Close(
                tonic::Code::Aborted,
                "replaced by a newer connection",
            ));
        }
        conn
    }

    /// Forgets connection `conn` of `agent` (if it is still the current one) and records
    /// when the agent was last seen.
    pub(super) fn unregister(&self, agent: &AgentId, conn: u64) {
        let removed = {
            let mut live = lock(&self.live);
            match live.get(agent) {
                Some(l) if l.conn == conn => live.remove(agent).is_some(),
                _ => false,
            }
        };
        if removed {
            if let Err(e) = self.fleet.mark_disconnected(agent, self.now()) {
                tracing::warn!(agent = %agent, error = %e, "could not record disconnect");
            }
        }
    }

    /// Records a heartbeat; `false` when `conn` is no longer the agent's connection.
    pub(super) fn heartbeat(&self, agent: &AgentId, conn: u64, sample: Option<Sample>) -> bool {
        let now = self.now();
        {
            let mut live = lock(&self.live);
            let Some(l) = live.get_mut(agent).filter(|l| l.conn == conn) else {
                return false;
            };
            l.last_heartbeat = Some(now);
            if sample.is_some() {
                l.latest = sample;
            }
        }
        if let Some(s) = sample {
            let mut pending = lock(&self.pending);
            if pending.len() >= MAX_PENDING {
                pending.drain(..MAX_PENDING / 10);
            }
            pending.push((agent.clone(), now.max(0) as u64, s));
        }
        true
    }

    /// Closes `agent`'s control stream with `code` and `reason`.
    pub fn kick(&self, agent: &AgentId, code: tonic::Code, reason: &'static str) {
        if let Some(l) = lock(&self.live).remove(agent) {
            let _ = l.tx.try_send(Control::Close(code, reason));
        }
    }

    /// `agent`'s connection state.
    pub fn status(&self, agent: &AgentId) -> LiveStatus {
        let now = self.now();
        lock(&self.live)
            .get(agent)
            .map_or_else(LiveStatus::default, |l| {
                let fresh = l.last_heartbeat.unwrap_or(l.since);
                LiveStatus {
                    online: now - fresh <= OFFLINE_AFTER_SECS,
                    connected_since: Some(l.since),
                    last_heartbeat: l.last_heartbeat,
                    latest: l.latest,
                }
            })
    }

    /// Writes the pending heartbeat samples to the store (one transaction).
    pub fn flush(&self) -> Result<usize, crate::fleet::FleetError> {
        let batch = std::mem::take(&mut *lock(&self.pending));
        let n = batch.len();
        self.fleet.record_samples(&batch)?;
        Ok(n)
    }

    /// Closes the streams of agents the fleet revokes, as it revokes them; returns when the
    /// fleet is gone.
    pub async fn follow_revocations(self: Arc<Self>) {
        let mut rx = self.fleet.subscribe_revocations();
        loop {
            match rx.recv().await {
                Ok(agent) => self.kick(&agent, tonic::Code::PermissionDenied, "agent deactivated"),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Missed some: re-check every live agent against the fleet.
                    let ids: Vec<AgentId> = lock(&self.live).keys().cloned().collect();
                    for id in ids {
                        if !self.fleet.is_active(&id) {
                            self.kick(&id, tonic::Code::PermissionDenied, "agent deactivated");
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
