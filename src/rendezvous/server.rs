//! The agent port's accept loop: source-address filter before any TLS byte, connection cap,
//! per-address handshake rate, TLS 1.3 with a required agent certificate and a handshake
//! timeout, then HTTP/2 (gRPC) with small windows — an idle agent should cost the appliance
//! little memory.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::hub::Hub;
use super::service::{Peer, Rendezvous};
use super::verifier::AgentVerifier;
use crate::clock::SharedClock;
use crate::crypto::issue;
use crate::crypto::x509::CertAndKey;
use crate::fleet::Fleet;
use crate::policy::Buckets;
use crate::proto::agent::rendezvous_server::RendezvousServer;

/// The agent port's settings.
#[derive(Debug, Clone)]
pub struct RendezvousSettings {
    /// Source networks allowed to connect at all.
    pub trusted: Vec<IpNet>,
    /// Time to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Connections held at most.
    pub max_connections: u32,
    /// TLS handshakes one source address may start per minute (also its burst).
    pub handshakes_per_ip_per_min: u32,
}

/// Largest gRPC message accepted from an agent.
const MAX_MESSAGE: usize = 64 * 1024;

/// The rustls config of the agent port: TLS 1.3 only, ALPN h2, the CA-issued `cert`, and
/// a required client certificate checked by [`AgentVerifier`].
pub fn tls_config(
    fleet: &Arc<Fleet>,
    cert: &CertAndKey,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let ca_der = CertificateDer::from_pem_slice(fleet.ca_pem().as_bytes())
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let leaf = CertificateDer::from(cert.cert_der.clone());
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.expose().as_bytes())
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let verifier = AgentVerifier::new(ca_der.clone(), Arc::clone(fleet))?;
    let mut config = ServerConfig::builder_with_provider(crate::crypto::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(vec![leaf, ca_der], key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    // Agents reconnect with a full handshake; tickets would only cost memory.
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Serves the rendezvous service on `listener` until `shutdown` turns true; live agent
/// connections are then dropped (agents reconnect to the next appliance process).
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    fleet: Arc<Fleet>,
    hub: Arc<Hub>,
    clock: SharedClock,
    settings: RendezvousSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let service = RendezvousServer::new(Rendezvous {
        fleet,
        hub,
        clock: clock.clone(),
        per_agent: Mutex::new(Buckets::new(6, 6, 100_000)),
    })
    .max_decoding_message_size(MAX_MESSAGE);
    let slots = Arc::new(Semaphore::new(settings.max_connections as usize));
    let per_ip = Arc::new(Mutex::new(Buckets::new(
        settings.handshakes_per_ip_per_min,
        settings.handshakes_per_ip_per_min,
        100_000,
    )));
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(8)
        .initial_stream_window_size(32 * 1024)
        .initial_connection_window_size(64 * 1024)
        .max_frame_size(16 * 1024)
        .max_send_buf_size(32 * 1024)
        .max_header_list_size(16 * 1024)
        .keep_alive_interval(Duration::from_secs(60))
        .keep_alive_timeout(Duration::from_secs(20));
    let builder = Arc::new(builder);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            a = listener.accept() => a,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "agent port accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let ip = canonical(addr.ip());
        if !settings.trusted.iter().any(|net| net.contains(&ip)) {
            tracing::debug!(%addr, "agent port: source outside trusted_agent_cidrs; closed");
            continue;
        }
        let now = clock.now().unix_timestamp() as f64;
        let within_rate = per_ip
            .lock()
            .map(|mut b| b.allow(&ip, now))
            .unwrap_or(false);
        if !within_rate {
            tracing::debug!(%addr, "agent port: handshake rate exceeded; closed");
            continue;
        }
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(%addr, "agent port: connection cap reached; closed");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = service.clone();
        let builder = Arc::clone(&builder);
        let timeout = settings.handshake_timeout;
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%addr, error = %e, "agent TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%addr, "agent TLS handshake timed out");
                    return;
                }
            };
            let agent = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| issue::common_name(c));
            let Some(agent) = agent else {
                return;
            };
            let peer = Peer { agent, addr };
            let svc = service.map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(peer.clone());
                req
            });
            let conn = builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(svc));
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::debug!(%addr, error = %e, "agent connection ended with an error");
                },
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }
}
