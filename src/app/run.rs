//! Starting and stopping the appliance.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::{middleware, Extension, Router};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::audit_upkeep::AuditUpkeep;
use super::auth::{csrf_policy, SessionAuth};
use super::core::{Core, OpenMode};
use super::error::AppError;
use super::security::{self, SelfCheck};
use super::{control, notify::notify};
use crate::api::{self, ApiState};
use crate::audit::{AuditContext, AuditEvent};
use crate::clock::SharedClock;
use crate::commands::{self, CommandSettings, Commands};
use crate::config::Config;
use crate::fleet::HEARTBEAT_INTERVAL_SECS;
use crate::identity::Principal;
use crate::model::Actor;
use crate::panel::{self, ApplianceInfo, Panel, Templates};
use crate::rendezvous::{self, Hub, RendezvousSettings};
use crate::web::{self, ConnLimiter, ListenerLimits, Transport, WebPolicy};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The bound TCP listeners (bound before `run`, so tests can use port 0).
pub struct Listeners {
    /// HTTPS panel and API.
    pub panel: TcpListener,
    /// Plain-HTTP redirect.
    pub redirect: TcpListener,
    /// Agent rendezvous (gRPC over mutual TLS).
    pub agent: TcpListener,
}

impl Listeners {
    /// Binds the addresses in `config`.
    pub async fn bind(config: &Config) -> Result<Self, AppError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| AppError::Bind { addr, source })
        };
        Ok(Self {
            panel: bind(config.panel_addr).await?,
            redirect: bind(config.redirect_addr).await?,
            agent: bind(config.agent_addr).await?,
        })
    }
}

/// Serves until `shutdown` resolves (with the reason, e.g. `SIGTERM`), then drains and
/// returns.
pub async fn run(
    core: Arc<Core>,
    listeners: Listeners,
    shutdown: impl Future<Output = String>,
) -> Result<(), AppError> {
    let hub = Hub::new(Arc::clone(&core.fleet), core.clock.clone());
    let commands = command_service(&core, &hub)?;
    let checks = SelfCheck::new(
        Arc::clone(&core),
        local_addr(&listeners.panel)?,
        local_addr(&listeners.redirect)?,
    );
    let upkeep = AuditUpkeep::new(Arc::clone(&core));
    let services = Services {
        hub,
        commands,
        checks,
        upkeep,
    };
    run_until(core, services, listeners, shutdown, None).await
}

/// The services `run` builds on top of the opened core.
struct Services {
    hub: Arc<Hub>,
    commands: Arc<Commands>,
    checks: Arc<SelfCheck>,
    upkeep: Arc<AuditUpkeep>,
}

/// The command pipeline, registered with the hub as the receiver of agents' results.
fn command_service(core: &Core, hub: &Arc<Hub>) -> Result<Arc<Commands>, AppError> {
    let c = &core.config;
    Commands::new(
        Arc::clone(&core.store),
        Arc::clone(&core.audit),
        Arc::clone(&core.fleet),
        Arc::clone(hub),
        core.clock.clone(),
        &core.master,
        core.key_version,
        CommandSettings {
            rate_per_hour: c.command_rate_limit_per_hour,
            output_max_bytes: c.command_output_max_bytes,
            queue_ttl_secs: c.command_queue_ttl_secs,
            default_timeout_s: c.command_default_timeout_secs,
        },
    )
    .map_err(|e| AppError::Task(format!("command pipeline: {e}")))
}

async fn run_until(
    core: Arc<Core>,
    services: Services,
    listeners: Listeners,
    shutdown: impl Future<Output = String>,
    ready: Option<oneshot::Sender<()>>,
) -> Result<(), AppError> {
    let Services {
        hub,
        commands,
        checks,
        upkeep,
    } = services;
    let config = &core.config;
    let templates = Arc::new(Templates::load()?);
    let (cert, key) = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => (core.dir.panel_cert(), core.dir.panel_key()),
    };
    let agent_cert = core
        .fleet
        .server_certificate(&config.served_names())
        .map_err(|e| AppError::Task(format!("agent port certificate: {e}")))?;
    let enroll = web::tls::EnrollIdentity {
        chain: vec![
            CertificateDer::from(agent_cert.cert_der.clone()),
            CertificateDer::from_pem_slice(core.fleet.ca_pem().as_bytes())
                .map_err(|e| AppError::Task(format!("agent CA: {e}")))?,
        ],
        key: PrivateKeyDer::from_pem_slice(agent_cert.key_pem.expose().as_bytes())
            .map_err(|e| AppError::Task(format!("agent port key: {e}")))?,
    };
    let tls = TlsAcceptor::from(web::tls::server_config(&cert, &key, Some(enroll))?);
    let agent_tls = rendezvous::tls_config(&core.fleet, &agent_cert)
        .map_err(|e| AppError::Task(format!("agent port TLS: {e}")))?;
    let socket_path = core.dir.control_socket();
    let control_listener = control::bind(&socket_path).await?;

    let panel_state = Arc::new(Panel {
        clock: core.clock.clone(),
        identity: Arc::clone(&core.identity),
        templates: Arc::clone(&templates),
        info: ApplianceInfo {
            panel_cert_sha256: core.report.panel_cert_sha256.clone(),
            agent_ca_sha256: core.report.agent_ca_sha256.clone(),
        },
        fleet: Arc::clone(&core.fleet),
        hub: Arc::clone(&hub),
        commands: Arc::clone(&commands),
        enroll_server: config.public_origin(),
        security: checks.clone(),
        webhooks: Arc::clone(&core.webhooks),
    });
    let https_policy = Arc::new(WebPolicy {
        allowed_hosts: Some(
            config
                .served_names()
                .iter()
                .map(|n| n.to_ascii_lowercase())
                .collect(),
        ),
        renderer: templates.clone(),
    });
    let api_state = Arc::new(ApiState {
        identity: Arc::clone(&core.identity),
        fleet: Arc::clone(&core.fleet),
        hub: Arc::clone(&hub),
        commands: Arc::clone(&commands),
        webhooks: Arc::clone(&core.webhooks),
        clock: core.clock.clone(),
        enroll_server: config.public_origin(),
    });
    let authenticator: web::Authenticator<Principal> = web::Authenticator(Arc::new(SessionAuth {
        identity: Arc::clone(&core.identity),
    }));
    let https = Router::new()
        .merge(api::routes(api_state))
        .merge(panel::routes(panel_state))
        .fallback(|| async { web::HttpError::not_found() })
        .layer(DefaultBodyLimit::max(web::MAX_BODY_BYTES))
        .layer(Extension(authenticator))
        .layer(middleware::from_fn_with_state(
            Arc::new(csrf_policy(&core)),
            web::csrf,
        ))
        .layer(middleware::from_fn_with_state(https_policy, web::harden));
    let redirect_policy = Arc::new(WebPolicy {
        allowed_hosts: None,
        renderer: templates,
    });
    let redirect = web::redirect_router(config.public_origin())
        .layer(middleware::from_fn_with_state(redirect_policy, web::harden));

    let limits = ListenerLimits {
        handshake_timeout: Duration::from_secs(config.tls_handshake_timeout_secs),
        header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
        idle_timeout: Duration::from_secs(config.idle_timeout_secs),
        grace: Duration::from_secs(config.shutdown_grace_secs),
    };
    let limiter = || ConnLimiter::new(config.max_connections_per_ip, config.max_connections);
    let (stop_tx, stop_rx) = watch::channel(false);

    append(
        &core,
        AuditEvent::ApplianceStarted {
            version: env!("CARGO_PKG_VERSION").into(),
        },
    )
    .await?;

    let tasks = vec![
        tokio::spawn(web::serve(
            listeners.panel,
            Transport::Tls(tls),
            https,
            limits.clone(),
            limiter(),
            stop_rx.clone(),
        )),
        tokio::spawn(web::serve(
            listeners.redirect,
            Transport::Plain,
            redirect,
            limits,
            limiter(),
            stop_rx.clone(),
        )),
        tokio::spawn(control::serve(
            control_listener,
            socket_path,
            Arc::clone(&core),
            stop_rx.clone(),
        )),
        tokio::spawn(security::schedule(
            checks,
            config.self_check_interval_secs,
            stop_rx.clone(),
        )),
        tokio::spawn(rendezvous::serve(
            listeners.agent,
            agent_tls,
            Arc::clone(&core.fleet),
            Arc::clone(&hub),
            core.clock.clone(),
            RendezvousSettings {
                trusted: config.trusted_agent_cidrs.clone(),
                handshake_timeout: Duration::from_secs(config.tls_handshake_timeout_secs),
                max_connections: config.max_agent_connections,
                handshakes_per_ip_per_min: config.agent_handshakes_per_ip_per_min,
            },
            stop_rx.clone(),
        )),
        tokio::spawn(commands::schedule(Arc::clone(&commands), stop_rx.clone())),
        tokio::spawn(Arc::clone(&upkeep).run(stop_rx.clone())),
        tokio::spawn(crate::webhooks::schedule(
            Arc::clone(&core.webhooks),
            stop_rx.clone(),
        )),
        tokio::spawn(fleet_upkeep(Arc::clone(&core), Arc::clone(&hub), stop_rx)),
    ];
    let revocations = tokio::spawn(Arc::clone(&hub).follow_revocations());
    notify("READY=1");
    if let Some(ready) = ready {
        let _ = ready.send(());
    }
    tracing::info!(origin = %core.config.public_origin(), "tundra is serving");

    let reason = shutdown.await;
    tracing::info!(%reason, "shutting down");
    notify("STOPPING=1");
    let _ = stop_tx.send(true);
    for t in tasks {
        t.await.map_err(|e| AppError::Task(e.to_string()))?;
    }
    revocations.abort();
    append(&core, AuditEvent::ApplianceStopped { reason }).await?;
    Ok(())
}

/// Writes heartbeat samples every heartbeat interval (and once more at shutdown), and folds
/// old samples hourly.
async fn fleet_upkeep(core: Arc<Core>, hub: Arc<Hub>, mut stop: watch::Receiver<bool>) {
    let mut flush = tokio::time::interval(Duration::from_secs(HEARTBEAT_INTERVAL_SECS.into()));
    let mut compact = tokio::time::interval(Duration::from_secs(3600));
    loop {
        let compacting = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = flush.tick() => false,
            _ = compact.tick() => true,
        };
        let (core, hub) = (Arc::clone(&core), Arc::clone(&hub));
        let done = tokio::task::spawn_blocking(move || {
            hub.flush()?;
            if compacting {
                core.fleet.compact_metrics()?;
            }
            Ok::<_, crate::fleet::FleetError>(())
        })
        .await;
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "writing agent health samples failed");
        }
    }
    let _ = tokio::task::spawn_blocking(move || hub.flush()).await;
}

async fn append(core: &Arc<Core>, event: AuditEvent) -> Result<(), AppError> {
    let core = Arc::clone(core);
    tokio::task::spawn_blocking(move || {
        core.audit
            .append_alone(&core.store, &AuditContext::actor(Actor::System), &event)
    })
    .await
    .map_err(|e| AppError::Task(e.to_string()))??;
    Ok(())
}

/// A running appliance started by [`start`].
pub struct Running {
    /// Where the HTTPS panel listens.
    pub panel_addr: SocketAddr,
    /// Where the redirect listener listens.
    pub redirect_addr: SocketAddr,
    /// Where the agent rendezvous listens.
    pub agent_addr: SocketAddr,
    /// The live agent connections.
    pub hub: Arc<Hub>,
    /// The command pipeline (tests wake its sweep after moving the clock).
    pub commands: Arc<Commands>,
    /// The opened appliance.
    pub core: Arc<Core>,
    /// The security self-check (tests wake its schedule after moving the clock).
    pub checks: Arc<SelfCheck>,
    /// The audit housekeeping (tests wake it after moving the clock).
    pub audit_upkeep: Arc<AuditUpkeep>,
    stop: oneshot::Sender<String>,
    task: JoinHandle<Result<(), AppError>>,
}

impl Running {
    /// Stops the appliance and waits until it has drained.
    pub async fn stop(self) -> Result<(), AppError> {
        let _ = self.stop.send("stop requested".into());
        self.task.await.map_err(|e| AppError::Task(e.to_string()))?
    }
}

/// Opens (initializing if needed) the data dir in `config` and runs the appliance in the
/// background on `listeners` (which tests bind to port 0); returns once it is ready.
pub async fn start(
    mut config: Config,
    clock: SharedClock,
    listeners: Listeners,
) -> Result<Running, AppError> {
    let agent_addr = local_addr(&listeners.agent)?;
    // Bound to port 0 (tests): agents must be told the port actually bound.
    config.agent_addr = agent_addr;
    let core = tokio::task::spawn_blocking(move || Core::open(config, clock, OpenMode::Initialize))
        .await
        .map_err(|e| AppError::Task(e.to_string()))??;
    let core = Arc::new(core);
    let panel_addr = local_addr(&listeners.panel)?;
    let redirect_addr = local_addr(&listeners.redirect)?;
    let (stop, stopped) = oneshot::channel::<String>();
    let (ready_tx, ready_rx) = oneshot::channel();
    let shutdown = async move {
        stopped
            .await
            .unwrap_or_else(|_| "stop handle dropped".into())
    };
    let hub = Hub::new(Arc::clone(&core.fleet), core.clock.clone());
    let commands = command_service(&core, &hub)?;
    let checks = SelfCheck::new(Arc::clone(&core), panel_addr, redirect_addr);
    let upkeep = AuditUpkeep::new(Arc::clone(&core));
    let services = Services {
        hub: Arc::clone(&hub),
        commands: Arc::clone(&commands),
        checks: Arc::clone(&checks),
        upkeep: Arc::clone(&upkeep),
    };
    let mut task = tokio::spawn(run_until(
        Arc::clone(&core),
        services,
        listeners,
        shutdown,
        Some(ready_tx),
    ));
    tokio::select! {
        _ = ready_rx => {}
        done = &mut task => {
            done.map_err(|e| AppError::Task(e.to_string()))??;
            return Err(AppError::Task("appliance stopped during start-up".into()));
        }
    }
    Ok(Running {
        panel_addr,
        redirect_addr,
        agent_addr,
        hub,
        commands,
        core,
        checks,
        audit_upkeep: upkeep,
        stop,
        task,
    })
}

fn local_addr(l: &TcpListener) -> Result<SocketAddr, AppError> {
    let addr = l.local_addr().map_err(|source| AppError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    Ok(addr)
}
