//! Accept loops for the HTTPS and plain-HTTP listeners: connection caps, TLS handshake
//! timeout, header-read and idle timeouts, HTTP/1.1 + HTTP/2, and graceful draining.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::idle::IdleTimeout;
use super::limiter::ConnLimiter;

/// How a listener speaks.
#[derive(Clone)]
pub enum Transport {
    /// TLS (the panel and API).
    Tls(TlsAcceptor),
    /// Plain HTTP/1.1 (only the redirect listener).
    Plain,
}

/// Timeouts and caps of one listener.
#[derive(Debug, Clone)]
pub struct ListenerLimits {
    /// Time to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time to send a complete request head.
    pub header_read_timeout: Duration,
    /// Time with no bytes moving before the connection is closed.
    pub idle_timeout: Duration,
    /// Time open requests get to finish once shutdown starts.
    pub grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` turns true, then drains open connections
/// for up to `limits.grace`.
pub async fn serve(
    listener: TcpListener,
    transport: Transport,
    router: Router,
    limits: ListenerLimits,
    limiter: Arc<ConnLimiter>,
    mut shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(builder(&limits, &transport));
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(permit) = limiter.try_acquire(peer.ip()) else {
            tracing::debug!(%peer, "connection cap reached; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = router
            .clone()
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let svc = TowerToHyperService::new(svc);
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let transport = transport.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let stream = IdleTimeout::new(stream, limits.idle_timeout);
            match transport {
                Transport::Plain => serve_conn(stream, &builder, svc, watcher, peer).await,
                Transport::Tls(acceptor) => {
                    match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => serve_conn(tls, &builder, svc, watcher, peer).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period ended with connections still open");
    }
}

async fn serve_conn<I, S>(
    io: I,
    builder: &Builder<TokioExecutor>,
    svc: TowerToHyperService<S>,
    watcher: Watcher,
    peer: SocketAddr,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<http::Request<Incoming>, Response = axum::response::Response>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

fn builder(limits: &ListenerLimits, transport: &Transport) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(64 * 1024);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(100)
        .max_header_list_size(64 * 1024)
        .keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20));
    match transport {
        Transport::Plain => b.http1_only(),
        Transport::Tls(_) => b,
    }
}
