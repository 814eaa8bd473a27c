//! Per-team signed webhooks through the real API and panel, delivered to a real HTTPS
//! receiver (Python's `http.server` + `ssl`) that checks the signature with Python's own
//! `hmac`. Backoff is driven by moving the appliance's clock, never by waiting for it.

mod delivery;
mod panel;
mod refusals;

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::commands_api::call;
use crate::fixture::{Appliance, Browser};

/// A receiver on 127.0.0.1 with a self-signed certificate for `localhost`.
pub struct Receiver {
    _child: tokio::process::Child,
    pub port: u16,
    /// The receiver's certificate (what `webhook_ca_file` names).
    pub ca: PathBuf,
    log: PathBuf,
    secret: PathBuf,
    _dir: TempDir,
}

impl Receiver {
    /// Starts a receiver answering the statuses of `plan` (e.g. `"500,500,200"`) in turn.
    pub async fn start(plan: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (ca, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&ca, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let script = dir.path().join("receiver.py");
        std::fs::write(&script, include_str!("webhooks/receiver.py")).unwrap();
        let (log, secret, port_file) = (
            dir.path().join("seen.jsonl"),
            dir.path().join("secret"),
            dir.path().join("port"),
        );
        std::fs::write(&secret, "").unwrap();
        let child = tokio::process::Command::new("python3")
            .arg(&script)
            .args([&ca, &key_file, &secret, &log, &port_file])
            .arg(plan)
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the receiver");
        let port = eventually(|| {
            std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse::<u16>().ok())
        })
        .await;
        Self {
            _child: child,
            port,
            ca,
            log,
            secret,
            _dir: dir,
        }
    }

    /// `https://localhost:PORT/hook`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}/hook", self.port)
    }

    /// Tells the receiver the secret to check signatures with.
    pub fn set_secret(&self, hex: &str) {
        std::fs::write(&self.secret, hex).unwrap();
    }

    /// What it received so far.
    pub fn seen(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Polls `f` until it answers (the appliance works in the background), for at most 20 s of
/// real time; the schedule's own time is the manual clock's.
pub async fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Creates a webhook as `b`.
pub async fn create(b: &Browser, a: &Appliance, url: &str, events: &[&str]) -> (u16, Value) {
    let body = json!({"url": url, "events": events});
    call(b, a, Method::POST, "/api/v1/webhooks", Some(body)).await
}

/// Creates a webhook for `r` delivering `script.*` and gives `r` its secret; returns its id.
pub async fn create_for(b: &Browser, a: &Appliance, r: &Receiver) -> String {
    let (s, v) = create(b, a, &r.url(), &["script.*"]).await;
    assert_eq!(s, 201, "{v}");
    r.set_secret(v["secret"].as_str().unwrap());
    v["id"].as_str().unwrap().to_string()
}

/// Approves a script as `b` (a `script.approved` record of the team).
pub async fn approve_script(b: &Browser, a: &Appliance, name: &str) {
    let body = json!({"name": name, "content": "uptime"});
    let (s, v) = call(b, a, Method::POST, "/api/v1/scripts", Some(body)).await;
    assert_eq!(s, 201, "{v}");
}

/// The webhook's delivery log as the API answers it.
pub async fn log(b: &Browser, a: &Appliance, id: &str) -> Value {
    let path = format!("/api/v1/webhooks/{id}/deliveries");
    let (s, v) = call(b, a, Method::GET, &path, None).await;
    assert_eq!(s, 200, "{v}");
    v
}

/// Waits until the newest delivery of webhook `id` has `n` attempts; returns it.
pub async fn attempts(b: &Browser, a: &Appliance, id: &str, n: usize) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = log(b, a, id).await;
        let newest = v["deliveries"][0].clone();
        if newest["attempts"].as_array().map_or(0, Vec::len) >= n {
            return newest;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt {n} yet: {v}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Moves the clock and runs one delivery pass (the worker may run one too; passes take turns).
pub async fn advance_and_deliver(a: &Appliance, secs: i64) -> tundra::webhooks::DeliveryReport {
    a.clock.advance(time::Duration::seconds(secs));
    a.core().webhooks.deliver_due().await.unwrap()
}

/// An appliance with the usual two teams whose webhooks may reach `r` (loopback), trusting
/// its certificate.
pub async fn appliance_for(
    r: &Receiver,
    tweak: impl FnOnce(&mut tundra::config::Config),
) -> Appliance {
    let ca = r.ca.clone();
    crate::commands_api::team(move |c| {
        c.webhook_allow_private_targets = true;
        c.webhook_ca_file = Some(ca);
        tweak(c);
    })
    .await
}
