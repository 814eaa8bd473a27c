//! The appliance's own security self-check: `acceptance` run against itself at start and
//! then every `self_check_interval_secs`, the results kept (bounded) in the store for the
//! panel's security page.
//!
//! The hourly run leaves out what would leave traces: failed logins (`--active`) and the
//! CSRF probe (each refusal is audited). The schedule reads the injected clock, and a wake-up
//! lets tests move that clock instead of sleeping.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex, Notify};

use super::core::Core;
use crate::acceptance::{self, Local, Options, Remote, Url};
use crate::audit::{AuditContext, AuditEvent};
use crate::model::acceptance::{AcceptanceReport, CheckStatus};
use crate::model::Actor;
use crate::store::{StoreError, Table};

/// Runs kept in the store; older ones are deleted.
pub const MAX_RUNS: usize = 48;
/// How often the schedule looks at the clock when nothing wakes it.
const POLL: Duration = Duration::from_secs(60);

/// The self-check service.
pub struct SelfCheck {
    core: Arc<Core>,
    panel_addr: SocketAddr,
    redirect_addr: SocketAddr,
    wake: Notify,
    one_at_a_time: Mutex<()>,
    runs: watch::Sender<u64>,
}

fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(v) if v.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(v) if v.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

impl SelfCheck {
    /// A self-check of the appliance listening on these addresses.
    pub fn new(core: Arc<Core>, panel_addr: SocketAddr, redirect_addr: SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            core,
            panel_addr,
            redirect_addr,
            wake: Notify::new(),
            one_at_a_time: Mutex::new(()),
            runs: watch::channel(0).0,
        })
    }

    /// The options for a run against this appliance: its public name, reached on its own
    /// listeners, trusting its own certificate.
    fn options(&self) -> Options {
        let c = &self.core.config;
        let cert = c
            .tls_cert
            .clone()
            .unwrap_or_else(|| self.core.dir.panel_cert());
        let extra_roots = acceptance::net::read_pem_certs(&cert).unwrap_or_default();
        let url = Url {
            scheme: "https".into(),
            host: c.public_host.to_ascii_lowercase(),
            port: c.public_port.unwrap_or(self.panel_addr.port()),
            connect: Some(loopback_if_unspecified(self.panel_addr)),
        };
        let http_url = Url {
            scheme: "http".into(),
            host: url.host.clone(),
            port: self.redirect_addr.port(),
            connect: Some(loopback_if_unspecified(self.redirect_addr)),
        };
        Options {
            sections: Vec::new(),
            remote: Some(Remote {
                url,
                http_url,
                extra_roots,
                active: false,
                probe_csrf: false,
            }),
            local: Local {
                config: c.clone(),
                config_source: "the running configuration".into(),
                data_dir: self.core.dir.root().to_owned(),
                unit: acceptance::DEFAULT_UNIT.into(),
                pid: Some(std::process::id()),
            },
            now: self.core.clock.now(),
        }
    }

    /// Runs every section now, stores the report (keeping the newest [`MAX_RUNS`]) and
    /// returns it.
    pub async fn run_now(&self, ctx: AuditContext) -> Result<AcceptanceReport, String> {
        let _one = self.one_at_a_time.lock().await;
        let report = acceptance::run(&self.options())
            .await
            .map_err(|e| e.to_string())?;
        let core = Arc::clone(&self.core);
        let row = report.clone();
        let event = AuditEvent::SecurityChecksRan {
            target: row.target.clone(),
            passed: row.count(CheckStatus::Pass),
            failed: row
                .results
                .iter()
                .filter(|r| r.status == CheckStatus::Fail)
                .map(|r| r.id.clone())
                .collect(),
        };
        tokio::task::spawn_blocking(move || {
            core.store.write(|tx| {
                keep(tx, &row)?;
                core.audit.append(tx, &ctx, &event)?;
                Ok::<_, crate::audit::AuditError>(())
            })
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        self.runs.send_modify(|n| *n += 1);
        Ok(report)
    }

    /// Makes the schedule look at the clock now (after a test moved it).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits until at least `n` runs have finished since start.
    pub async fn wait_for_runs(&self, n: u64) {
        let mut rx = self.runs.subscribe();
        let _ = rx.wait_for(|done| *done >= n).await;
    }
}

/// Appends `report` under the next run number and deletes all but the newest [`MAX_RUNS`].
fn keep(tx: &mut crate::store::WriteTx, report: &AcceptanceReport) -> Result<(), StoreError> {
    let existing = tx.rows::<serde_json::Value>(Table::AcceptanceRuns, "")?;
    let next = existing
        .last()
        .and_then(|(k, _)| k.parse::<u64>().ok())
        .map_or(1, |n| n + 1);
    tx.put_row(Table::AcceptanceRuns, &format!("{next:020}"), report)?;
    let excess = (existing.len() + 1).saturating_sub(MAX_RUNS);
    for (key, _) in existing.iter().take(excess) {
        tx.delete_row(Table::AcceptanceRuns, key)?;
    }
    Ok(())
}

/// Runs the self-check at start and then whenever `interval_secs` have passed on the
/// appliance's clock, until `stop` turns true. An interval of 0 turns the schedule off.
pub async fn schedule(check: Arc<SelfCheck>, interval_secs: u64, mut stop: watch::Receiver<bool>) {
    if interval_secs == 0 {
        return;
    }
    let interval = time::Duration::seconds(i64::try_from(interval_secs).unwrap_or(i64::MAX));
    let clock = check.core.clock.clone();
    let mut due = clock.now();
    loop {
        if clock.now() >= due {
            if let Err(e) = check.run_now(AuditContext::actor(Actor::System)).await {
                tracing::warn!(error = %e, "the security self-check could not run");
            }
            due = clock.now() + interval;
        }
        tokio::select! {
            _ = check.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => return,
        }
    }
}

impl crate::panel::SecurityChecks for SelfCheck {
    fn history(&self) -> crate::web::BoxFuture<'_, Result<Vec<AcceptanceReport>, String>> {
        Box::pin(async move {
            let core = Arc::clone(&self.core);
            tokio::task::spawn_blocking(move || {
                core.store
                    .read(|tx| tx.rows::<AcceptanceReport>(Table::AcceptanceRuns, ""))
                    .map(|rows| rows.into_iter().rev().map(|(_, r)| r).collect())
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e: StoreError| e.to_string())
        })
    }

    fn run_now(&self, ctx: AuditContext) -> crate::web::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { SelfCheck::run_now(self, ctx).await.map(|_| ()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn history_is_bounded_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("s.redb")).unwrap();
        for started in 0..(MAX_RUNS as i64 + 5) {
            let r = AcceptanceReport {
                started,
                target: "local".into(),
                results: Vec::new(),
            };
            store.write(|tx| keep(tx, &r)).unwrap();
        }
        let rows = store
            .read(|tx| tx.rows::<AcceptanceReport>(Table::AcceptanceRuns, ""))
            .unwrap();
        assert_eq!(rows.len(), MAX_RUNS);
        assert_eq!(rows.first().map(|(_, r)| r.started), Some(5));
        assert_eq!(
            rows.last().map(|(_, r)| r.started),
            Some(MAX_RUNS as i64 + 4)
        );
    }
}
