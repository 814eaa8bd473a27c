//! The `Connect` control stream: hello first (checked by the fleet), then heartbeats in and
//! control messages out until either side ends it or the agent is revoked.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::hub::{Control, Hub};
use crate::audit::AuditContext;
use crate::clock::SharedClock;
use crate::fleet::{Fleet, HandshakeRefusal, Sample, HEARTBEAT_INTERVAL_SECS};
use crate::model::{Actor, AgentId};
use crate::policy::Buckets;
use crate::proto::agent::{
    agent_message, rendezvous_server, server_message, AgentMessage, Metrics, ServerMessage,
    UpdateRequired, Welcome, PROTOCOL_VERSION,
};
use tokio_stream::StreamExt;

/// How long an agent has to send its hello after the TLS handshake.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Control messages queued to one agent at most.
const CONTROL_QUEUE: usize = 16;

/// Who is on the other end of a connection (set by the listener from the TLS session).
#[derive(Debug, Clone)]
pub(super) struct Peer {
    /// The agent id in the client certificate's CN.
    pub agent: String,
    /// The source address.
    pub addr: SocketAddr,
}

/// The gRPC service.
pub(super) struct Rendezvous {
    pub fleet: Arc<Fleet>,
    pub hub: Arc<Hub>,
    pub clock: SharedClock,
    /// Hellos per agent: a burst of 6, then one every 10 s.
    pub per_agent: Mutex<Buckets<String>>,
}

fn audit_ctx(peer: &Peer) -> AuditContext {
    AuditContext {
        source_ip: Some(peer.addr.ip()),
        ..AuditContext::actor(Actor::Agent(peer.agent.clone()))
    }
}

impl From<Metrics> for Sample {
    fn from(m: Metrics) -> Self {
        Sample {
            cpu_percent: m.cpu_percent.clamp(0.0, 100.0),
            memory_used_bytes: m.memory_used_bytes,
            memory_total_bytes: m.memory_total_bytes,
            disk_used_bytes: m.disk_used_bytes,
            disk_total_bytes: m.disk_total_bytes,
            net_rx_bytes_per_s: m.net_rx_bytes_per_s,
            net_tx_bytes_per_s: m.net_tx_bytes_per_s,
            load: [m.load1, m.load5, m.load15]
                .map(|l| if l.is_finite() { l.max(0.0) } else { 0.0 }),
            uptime_s: m.uptime_s,
        }
    }
}

type Outbound = tokio_stream::adapters::Map<
    ReceiverStream<Control>,
    fn(Control) -> Result<ServerMessage, Status>,
>;

fn outbound(rx: mpsc::Receiver<Control>) -> Outbound {
    ReceiverStream::new(rx).map(Control::into_item as fn(Control) -> Result<ServerMessage, Status>)
}

fn one_message(msg: server_message::Kind) -> Outbound {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(Control::Message(ServerMessage { kind: Some(msg) }));
    outbound(rx)
}

#[tonic::async_trait]
impl rendezvous_server::Rendezvous for Rendezvous {
    type ConnectStream = Outbound;

    async fn connect(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Outbound>, Status> {
        let peer = request
            .extensions()
            .get::<Peer>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no hello within 10 s"))??;
        let Some(AgentMessage {
            kind: Some(agent_message::Kind::Hello(hello)),
        }) = first
        else {
            return Err(Status::invalid_argument(
                "the first message must be a hello",
            ));
        };
        let ctx = audit_ctx(&peer);
        let now = self.clock.now().unix_timestamp() as f64;
        let allowed = self
            .per_agent
            .lock()
            .map(|mut b| b.allow(&peer.agent, now))
            .unwrap_or(false);
        let fleet = Arc::clone(&self.fleet);
        let agent = peer.agent.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            if !allowed {
                fleet.refused(&ctx, &agent, &HandshakeRefusal::RateLimited)?;
                return Ok(Err(HandshakeRefusal::RateLimited));
            }
            fleet.accept_hello(&ctx, &agent, &hello)
        })
        .await
        .map_err(|_| Status::internal("handshake task failed"))?
        .map_err(|e| {
            tracing::error!(error = %e, "agent handshake could not be recorded");
            Status::unavailable("the appliance could not record the handshake")
        })?;
        let accepted = match outcome {
            Ok(a) => a,
            Err(HandshakeRefusal::UpdateRequired { min_version }) => {
                let msg = server_message::Kind::UpdateRequired(UpdateRequired {
                    message: format!(
                        "this agent is older than {min_version}; update it and restart it"
                    ),
                    min_version,
                });
                return Ok(Response::new(one_message(msg)));
            }
            Err(HandshakeRefusal::RateLimited) => {
                return Err(Status::resource_exhausted("too many handshakes; back off"))
            }
            Err(r) => return Err(Status::permission_denied(r.code())),
        };
        let (tx, rx) = mpsc::channel(CONTROL_QUEUE);
        let welcome = server_message::Kind::Welcome(Welcome {
            protocol_version: PROTOCOL_VERSION,
            heartbeat_interval_s: HEARTBEAT_INTERVAL_SECS,
        });
        let _ = tx.try_send(Control::Message(ServerMessage {
            kind: Some(welcome),
        }));
        let conn = self.hub.register(&accepted.agent, tx);
        tracing::debug!(agent = %accepted.agent, addr = %peer.addr, "agent connected");
        if let Some(events) = self.hub.events() {
            events.connected(&accepted.agent, conn);
        }
        tokio::spawn(read_inbound(
            Arc::clone(&self.hub),
            accepted.agent,
            conn,
            inbound,
        ));
        Ok(Response::new(outbound(rx)))
    }
}

/// Reads heartbeats until the stream ends, fails, goes quiet for three intervals, or the
/// connection is replaced or revoked.
async fn read_inbound(
    hub: Arc<Hub>,
    agent: AgentId,
    conn: u64,
    mut inbound: Streaming<AgentMessage>,
) {
    let quiet = Duration::from_secs(3 * u64::from(HEARTBEAT_INTERVAL_SECS));
    loop {
        let msg = match tokio::time::timeout(quiet, inbound.message()).await {
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => break,
        };
        let sample = match msg.kind {
            Some(agent_message::Kind::Heartbeat(h)) => h.metrics.map(Sample::from),
            Some(agent_message::Kind::CommandOutput(o)) => {
                if let Some(events) = hub.events() {
                    events.command_output(&agent, o);
                }
                continue;
            }
            Some(agent_message::Kind::CommandResult(r)) => {
                if let Some(events) = hub.events() {
                    events.command_result(&agent, r);
                }
                continue;
            }
            // A second hello or an unknown message: ignored (the protocol is additive).
            _ => None,
        };
        if !hub.heartbeat(&agent, conn, sample) {
            break;
        }
    }
    hub.unregister(&agent, conn);
    tracing::debug!(agent = %agent, "agent disconnected");
}
