//! Starts the real appliance in-process and hands back clients for it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use tempfile::TempDir;
use tokio::net::TcpListener;
use tundra::app::{self, Listeners, Running};
use tundra::clock::{ManualClock, SharedClock};
use tundra::config::Config;

/// A running appliance on ephemeral ports with a temp data dir.
pub struct Appliance {
    pub running: Option<Running>,
    pub panel: SocketAddr,
    pub redirect: SocketAddr,
    /// The agent port (kept across restarts, so agents can reconnect).
    pub agent: SocketAddr,
    pub config: Config,
    #[allow(dead_code)] // for tests that move time (identity, fleet)
    pub clock: Arc<ManualClock>,
    /// Holds the temp dir until the appliance is dropped.
    pub tmp: TempDir,
}

/// A config for a temp dir with every listener on port 0.
pub fn test_config(tmp: &Path) -> Config {
    Config {
        data_dir: tmp.join("data"),
        panel_addr: "127.0.0.1:0".parse().unwrap(),
        redirect_addr: "127.0.0.1:0".parse().unwrap(),
        agent_addr: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace_secs: 2,
        // The hourly self-check makes TLS and HTTP requests of its own; tests that want it
        // turn it on (tests/it/acceptance.rs).
        self_check_interval_secs: 0,
        ..Config::default()
    }
}

impl Appliance {
    /// Starts an appliance with the default test config.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts an appliance after `tweak` adjusted its config.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = test_config(tmp.path());
        tweak(&mut config);
        Self::start_in(tmp, config).await
    }

    /// Starts an appliance on `config` (its data dir may already be initialized).
    pub async fn start_in(tmp: TempDir, mut config: Config) -> Self {
        let panel = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let redirect = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let panel_addr = panel.local_addr().unwrap();
        let redirect_addr = redirect.local_addr().unwrap();
        let agent = TcpListener::bind(config.agent_addr).await.unwrap();
        let agent_addr = agent.local_addr().unwrap();
        config.panel_addr = panel_addr;
        config.redirect_addr = redirect_addr;
        config.agent_addr = agent_addr;
        config.public_port = Some(panel_addr.port());
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
        let shared: SharedClock = clock.clone();
        let running = app::start(
            config.clone(),
            shared,
            Listeners {
                panel,
                redirect,
                agent,
            },
        )
        .await
        .unwrap();
        Self {
            running: Some(running),
            panel: panel_addr,
            redirect: redirect_addr,
            agent: agent_addr,
            config,
            clock,
            tmp,
        }
    }

    /// Stops the appliance (draining) and keeps the data dir for inspection or a restart.
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
    }

    /// Stops and starts the appliance again on the same data dir, ports and clock.
    #[allow(dead_code)]
    pub async fn restart(&mut self) {
        self.stop().await;
        let panel = TcpListener::bind(self.panel).await.unwrap();
        let redirect = TcpListener::bind(self.redirect).await.unwrap();
        let agent = TcpListener::bind(self.agent).await.unwrap();
        let shared: SharedClock = self.clock.clone();
        let listeners = Listeners {
            panel,
            redirect,
            agent,
        };
        let running = app::start(self.config.clone(), shared, listeners)
            .await
            .unwrap();
        self.running = Some(running);
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    /// `https://localhost:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.panel.port())
    }

    /// The panel certificate (PEM) the appliance generated.
    pub fn cert_pem(&self) -> Vec<u8> {
        std::fs::read(self.data_dir().join("panel-cert.pem")).unwrap()
    }

    /// An HTTPS client that trusts only the appliance's certificate and resolves
    /// `localhost` to its panel listener.
    pub fn client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    /// Like [`Appliance::client`] but HTTP/1.1 only (so a `Host` header can be forged).
    pub fn http1_client(&self) -> reqwest::Client {
        self.client_builder().http1_only().build().unwrap()
    }

    fn client_builder(&self) -> reqwest::ClientBuilder {
        let cert = reqwest::Certificate::from_pem(&self.cert_pem()).unwrap();
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(cert)
            .resolve("localhost", self.panel)
            .redirect(reqwest::redirect::Policy::none())
    }

    /// Runs the real `tundra` binary against this appliance's data dir.
    pub async fn cli(&self, args: &[&str]) -> Output {
        tundra_cli(&self.data_dir(), args).await
    }
}

/// Runs the `tundra` binary with `--data-dir DIR` and `args`.
pub async fn tundra_cli(data_dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tundra"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("TUNDRA_LOG", "warn")
        .output()
        .await
        .unwrap()
}

/// Text of a command's stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Text of a command's stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The headers SPEC §4 puts on every HTTPS response.
pub fn assert_security_headers(res: &reqwest::Response) {
    let h = res.headers();
    let get = |n: &str| {
        h.get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{} {}: header {n} missing", res.status(), res.url()))
            .to_string()
    };
    assert_eq!(
        get("strict-transport-security"),
        "max-age=31536000; includeSubDomains"
    );
    assert_eq!(
        get("content-security-policy"),
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; object-src 'none'; \
         base-uri 'none'"
    );
    assert_eq!(get("x-content-type-options"), "nosniff");
    assert_eq!(get("referrer-policy"), "no-referrer");
    assert_eq!(get("x-frame-options"), "DENY");
    assert!(get("permissions-policy").contains("camera=()"));
    assert_eq!(get("x-request-id").len(), 32);
    assert!(h.get("server").is_none(), "no Server header");
}

/// The test config for an existing data dir (for opening it directly after the CLI made it).
pub fn test_config_for(data_dir: &Path) -> Config {
    Config {
        data_dir: data_dir.to_owned(),
        ..test_config(data_dir)
    }
}

/// A browser-like client: a cookie jar, the appliance's CA, and the CSRF token it was given.
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    base: String,
}

impl Browser {
    /// The value of cookie `name` the jar holds for the appliance.
    pub fn cookie(&self, name: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url: reqwest::Url = self.base.parse().unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .unwrap()
            .split("; ")
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// The CSRF token (fetched with a GET first if the jar has none).
    pub async fn csrf(&self) -> String {
        if let Some(t) = self.cookie("__Host-tundra_csrf") {
            return t;
        }
        self.client
            .get(format!("{}/healthz", self.base))
            .send()
            .await
            .unwrap();
        self.cookie("__Host-tundra_csrf")
            .expect("a GET sets the CSRF cookie")
    }

    /// POSTs JSON with the CSRF header.
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        let token = self.csrf().await;
        self.client
            .post(format!("{}{path}", self.base))
            .header("x-csrf-token", token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// GETs a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// POSTs a form, adding the CSRF field.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf().await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        self.client
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
    }
}

impl Appliance {
    /// A new browser with an empty cookie jar.
    pub fn browser(&self) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = self
            .client_builder()
            .cookie_provider(Arc::clone(&jar))
            .build()
            .unwrap();
        Browser {
            client,
            jar,
            base: self.url(""),
        }
    }

    /// The in-process appliance's services (what a host administrator reaches).
    pub fn core(&self) -> &tundra::app::Core {
        &self.running.as_ref().unwrap().core
    }

    /// Creates team `team` (if new) and a user in it with `role` and `password`.
    pub fn add_user(&self, team: &str, email: &str, role: tundra::model::Role, password: &str) {
        use tundra::audit::AuditContext;
        use tundra::model::Actor;
        let ctx = AuditContext::actor(Actor::LocalCli);
        let id = &self.core().identity;
        let _ = id.create_team(&ctx, team);
        let phc = tundra::crypto::password::hash_password(password).unwrap();
        id.add_user(&ctx, team, email, role, Some(phc)).unwrap();
    }

    /// Every audit record so far, parsed.
    pub fn audit_records(&self) -> Vec<serde_json::Value> {
        let core = self.core();
        core.store
            .read(|tx| tundra::audit::export_page(tx, 0, usize::MAX))
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}
