//! `tundra agent run`: dial the rendezvous addresses in turn, prove identity with a signed
//! hello, heartbeat every interval, and reconnect with backoff and jitter when the stream
//! ends. While the appliance is unreachable nothing queues up: heartbeats are produced only
//! on a live stream, so memory stays flat however long the outage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use super::backoff::Backoff;
use super::command::CommandContext;
use super::config::AgentConfig;
use super::dispatch::Dispatcher;
use super::health::Health;
use super::journal::Journal;
use super::pin::{parse_pin, PinnedCa};
use super::state::{Loaded, StateDir};
use super::{AgentError, CONFIG_FILE, VERSION};
use crate::clock::{SharedClock, SystemClock};
use crate::crypto::random;
use crate::proto::agent::rendezvous_client::RendezvousClient;
use crate::proto::agent::{
    agent_message, server_message, AgentMessage, Heartbeat, Hello, HELLO_DOMAIN, PROTOCOL_VERSION,
};

/// `tundra agent run` settings.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Delay before the first retry; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// The longest delay between attempts.
    pub max_backoff: Duration,
    /// The version reported (tests pretend to be older agents).
    pub version: String,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            version: VERSION.into(),
        }
    }
}

/// Why `run` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Asked to stop.
    Shutdown,
}

/// How one connection ended.
enum Ended {
    /// The stream was up and then ended (or never came up): retry.
    Retry(String),
    /// The connection had been healthy for a while: retry from the shortest delay.
    RetryFresh(String),
    /// The agent was refused for good (revoked).
    Refused(String),
    /// Shutdown was requested.
    Shutdown,
}

/// Runs until `stop` turns true. Returns an error only for what retrying cannot fix:
/// missing or damaged state, an invalid `agent.toml`, or `UPDATE_REQUIRED`.
pub async fn run(
    state: &StateDir,
    opts: RunOptions,
    mut stop: watch::Receiver<bool>,
) -> Result<Stopped, AgentError> {
    let loaded = Arc::new(state.load()?);
    let config = AgentConfig::load(&state.file(CONFIG_FILE))?;
    let servers = if config.servers.is_empty() {
        loaded.enrollment.rendezvous.clone()
    } else {
        config.servers.clone()
    };
    if servers.is_empty() {
        return Err(AgentError::Corrupt {
            path: state.file("enrollment.json"),
            message: "no rendezvous address".into(),
        });
    }
    let tls = Arc::new(client_tls(&loaded)?);
    let clock: SharedClock = Arc::new(SystemClock);
    let journal = open_journal(state, &clock).await?;
    // Outlives each session: commands keep running across reconnects.
    let commands = Dispatcher::start(Arc::new(CommandContext {
        journal,
        config_path: state.file(CONFIG_FILE),
        loaded: Arc::clone(&loaded),
        clock,
    }));
    let mut backoff = Backoff::new(opts.min_backoff, opts.max_backoff);
    let mut next = 0usize;
    tracing::info!(agent = %loaded.enrollment.agent_id, ?servers, "agent starting");
    loop {
        let addr = &servers[next % servers.len()];
        let ended = tokio::select! {
            _ = stop.wait_for(|s| *s) => Ended::Shutdown,
            e = session(addr, &loaded, &tls, &opts, &commands) => match e {
                Ok(ended) => ended,
                Err(AgentError::UpdateRequired { min_version }) => {
                    return Err(AgentError::UpdateRequired { min_version })
                }
                Err(e) => Ended::Retry(e.to_string()),
            },
        };
        let reason = match ended {
            Ended::Shutdown => return Ok(Stopped::Shutdown),
            Ended::RetryFresh(r) => {
                backoff.reset();
                r
            }
            Ended::Retry(r) | Ended::Refused(r) => {
                next += 1;
                r
            }
        };
        let jitter = f64::from(u32::from_le_bytes(random::bytes::<4>())) / f64::from(u32::MAX);
        let delay = backoff.next_delay(jitter);
        tracing::warn!(server = %addr, %reason, retry_in_ms = delay.as_millis() as u64, "agent connection ended");
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return Ok(Stopped::Shutdown),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Opens the command journal off the runtime thread (it scans and prunes a directory).
async fn open_journal(state: &StateDir, clock: &SharedClock) -> Result<Arc<Journal>, AgentError> {
    let dir = state.path().to_owned();
    let now = super::exec::unix_ms(&**clock);
    match tokio::task::spawn_blocking(move || Journal::open(&dir, now)).await {
        Ok(journal) => journal.map(Arc::new),
        Err(e) => Err(AgentError::Io {
            path: state.file(super::journal::DIR),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

fn client_tls(loaded: &Loaded) -> Result<rustls::ClientConfig, AgentError> {
    let crypto = |e: &dyn std::fmt::Display| AgentError::Crypto(e.to_string());
    let pin = parse_pin(&loaded.enrollment.ca_sha256)
        .ok_or_else(|| AgentError::Crypto("enrollment.json: bad ca_sha256".into()))?;
    let cert =
        CertificateDer::from_pem_slice(loaded.cert_pem.as_bytes()).map_err(|e| crypto(&e))?;
    let key = PrivateKeyDer::from_pem_slice(loaded.mtls_key_pem.expose().as_bytes())
        .map_err(|e| crypto(&e))?;
    let mut config = rustls::ClientConfig::builder_with_provider(crate::crypto::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| crypto(&e))?
        .dangerous()
        .with_custom_certificate_verifier(PinnedCa::new(pin))
        .with_client_auth_cert(vec![cert], key)
        .map_err(|e| crypto(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

async fn channel(addr: &str, tls: &Arc<rustls::ClientConfig>) -> Result<Channel, AgentError> {
    let unreachable = |message: String| AgentError::Unreachable {
        server: addr.to_string(),
        message,
    };
    let (host, _) = addr
        .rsplit_once(':')
        .ok_or_else(|| unreachable("not host:port".into()))?;
    let host = host.trim_matches(['[', ']']).to_string();
    let name = ServerName::try_from(host).map_err(|e| unreachable(e.to_string()))?;
    let connector = TlsConnector::from(Arc::clone(tls));
    let target = addr.to_string();
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| unreachable(e.to_string()))?
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    endpoint
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, name, target) = (connector.clone(), name.clone(), target.clone());
            async move {
                let tcp = TcpStream::connect(target.as_str()).await?;
                let _ = tcp.set_nodelay(true);
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| unreachable(format!("{e}: {}", source_chain(&e))))
}

/// A gRPC channel to `addr` with the enrolled identity in `state` (for tools and tests that
/// speak the protocol themselves).
pub async fn channel_for(state: &StateDir, addr: &str) -> Result<Channel, AgentError> {
    let loaded = state.load()?;
    channel(addr, &Arc::new(client_tls(&loaded)?)).await
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(": ")
}

/// A fresh hello for the enrolled agent, signed with its identity key.
pub fn signed_hello(loaded: &Loaded, version: &str) -> Hello {
    let mut h = Hello {
        protocol_version: PROTOCOL_VERSION,
        agent_id: loaded.enrollment.agent_id.clone(),
        agent_version: version.to_string(),
        timestamp_ms: (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
        nonce: random::bytes::<16>().to_vec(),
        signature: Vec::new(),
    };
    h.signature = loaded.identity.sign(HELLO_DOMAIN, &h.payload()).to_vec();
    h
}

/// One connection: hello, then heartbeats and commands until the stream ends.
async fn session(
    addr: &str,
    loaded: &Loaded,
    tls: &Arc<rustls::ClientConfig>,
    opts: &RunOptions,
    commands: &Dispatcher,
) -> Result<Ended, AgentError> {
    let channel = channel(addr, tls).await?;
    let mut client = RendezvousClient::new(channel).max_decoding_message_size(1 << 20);
    let (tx, rx) = mpsc::channel::<AgentMessage>(4);
    let first = AgentMessage {
        kind: Some(agent_message::Kind::Hello(signed_hello(
            loaded,
            &opts.version,
        ))),
    };
    let _ = tx.send(first).await;
    let mut inbound = match client.connect(ReceiverStream::new(rx)).await {
        Ok(r) => r.into_inner(),
        Err(status) if status.code() == tonic::Code::PermissionDenied => {
            return Ok(Ended::Refused(format!("refused: {}", status.message())))
        }
        Err(status) => {
            return Ok(Ended::Retry(format!(
                "{}: {}",
                status.code(),
                status.message()
            )))
        }
    };
    let interval = match inbound.message().await {
        Ok(Some(msg)) => match msg.kind {
            Some(server_message::Kind::Welcome(w)) => w.heartbeat_interval_s.clamp(1, 3600),
            Some(server_message::Kind::UpdateRequired(u)) => {
                tracing::error!(min_version = %u.min_version, message = %u.message, "update required");
                return Err(AgentError::UpdateRequired {
                    min_version: u.min_version,
                });
            }
            Some(_) | None => return Ok(Ended::Retry("unexpected first message".into())),
        },
        Ok(None) => return Ok(Ended::Retry("stream closed before welcome".into())),
        Err(status) => {
            return Ok(Ended::Retry(format!(
                "{}: {}",
                status.code(),
                status.message()
            )))
        }
    };
    tracing::info!(server = %addr, "connected");
    commands.attach(tx.clone());
    let up_since = Instant::now();
    let mut health = Health::new();
    let mut tick = tokio::time::interval(Duration::from_secs(interval.into()));
    let ended = loop {
        tokio::select! {
            _ = tick.tick() => {
                let hb = AgentMessage {
                    kind: Some(agent_message::Kind::Heartbeat(Heartbeat {
                        timestamp_ms: (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
                        metrics: Some(health.sample()),
                    })),
                };
                if tx.send(hb).await.is_err() {
                    break "request stream closed".to_string();
                }
            }
            msg = inbound.message() => match msg {
                Ok(Some(msg)) => match msg.kind {
                    Some(server_message::Kind::RunCommand(run)) => commands.run_command(run),
                    Some(server_message::Kind::CommandAck(ack)) => commands.ack(ack),
                    Some(_) | None => {}
                },
                Ok(None) => break "the appliance closed the stream".to_string(),
                Err(status) => break format!("{}: {}", status.code(), status.message()),
            },
        }
    };
    // Replies in flight go to the next session (or wait in the journal until it asks).
    commands.detach();
    if up_since.elapsed() > Duration::from_secs(30) {
        Ok(Ended::RetryFresh(ended))
    } else {
        Ok(Ended::Retry(ended))
    }
}
