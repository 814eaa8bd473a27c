//! Configuration: a TOML file, then `TUNDRA_*` environment variables, then command-line
//! flags, validated into one typed [`Config`]. Unknown keys are errors that name the key,
//! never silently ignored.

mod env;
mod webhook;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use env::{Kind, ALIASES, KEYS, NON_CONFIG_ENV};
pub use webhook::{webhook_roots, MAX_WEBHOOK_ATTEMPTS, MAX_WEBHOOK_TIMEOUT_SECS};

/// The most output one command may keep, whatever the config says.
pub const MAX_COMMAND_OUTPUT_BYTES: u64 = 16 * 1024 * 1024;
/// The longest a command may run.
pub const MAX_COMMAND_TIMEOUT_SECS: u32 = 86_400;

/// The appliance's configuration. Field docs are the reference for `README.md`'s table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the master key, store and certificates live.
    pub data_dir: PathBuf,
    /// HTTPS panel and API listener.
    pub panel_addr: SocketAddr,
    /// Plain-HTTP listener that only redirects pages to HTTPS.
    pub redirect_addr: SocketAddr,
    /// Agent rendezvous listener (gRPC over mTLS).
    pub agent_addr: SocketAddr,
    /// The name users and agents reach the appliance by: used in the certificate, in
    /// redirects and in enroll commands.
    pub public_host: String,
    /// The HTTPS port in public URLs; defaults to the panel listener's port.
    pub public_port: Option<u16>,
    /// Further names (DNS or IP) accepted in `Host` and put in the generated certificate.
    pub hostnames: Vec<String>,
    /// Source networks allowed to reach the agent port.
    pub trusted_agent_cidrs: Vec<IpNet>,
    /// PEM certificate chain for the panel; unset: a generated self-signed certificate.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Agents older than this are told `UPDATE_REQUIRED`.
    pub min_agent_version: String,
    /// `host:port` addresses enrolled agents dial, in order of preference; empty: the
    /// public host with the agent listener's port.
    pub agent_public_addrs: Vec<String>,
    /// Agent connections the rendezvous listener holds at most.
    pub max_agent_connections: u32,
    /// TLS handshakes one source address may start on the agent port per minute.
    pub agent_handshakes_per_ip_per_min: u32,
    /// Concurrent connections one source IP may hold on the panel and redirect listeners.
    pub max_connections_per_ip: u32,
    /// Concurrent connections in all on each listener.
    pub max_connections: u32,
    /// Seconds a client has to finish the TLS handshake.
    pub tls_handshake_timeout_secs: u64,
    /// Seconds a client has to send a complete request head.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may sit with no bytes moving before it is closed.
    pub idle_timeout_secs: u64,
    /// Seconds `serve` waits for open requests to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Failed sign-ins for one account from one address that lock the pair.
    pub login_lockout_failures: u32,
    /// Seconds over which those failures count.
    pub login_lockout_window_secs: u64,
    /// Seconds a locked account/address pair stays locked.
    pub login_lockout_secs: u64,
    /// Failed sign-ins from one address (any accounts) before it gets 429.
    pub login_ip_max_failures: u32,
    /// Seconds over which those failures count.
    pub login_ip_window_secs: u64,
    /// Failures of one account (any addresses) before each attempt is delayed.
    pub login_delay_after_failures: u32,
    /// The first delay in seconds; it doubles per further failure.
    pub login_delay_base_secs: u64,
    /// The longest delay in seconds.
    pub login_delay_max_secs: u64,
    /// Concurrent password hashes (64 MiB each); 0 means one per core.
    pub hash_pool_slots: u32,
    /// Milliseconds a sign-in waits for a hashing slot before it gets 503.
    pub hash_queue_timeout_ms: u64,
    /// Owners and admins must enroll TOTP before they can act. Turn off only for a
    /// single-user lab; `tundra acceptance run` flags it.
    pub require_two_factor: bool,
    /// Seconds between the appliance's own security self-checks (run at start and then
    /// on this interval; results on the panel's Security page); 0 turns them off.
    pub self_check_interval_secs: u64,
    /// Seconds between publications of each team's signed audit head (to its webhooks and the
    /// panel), for teams whose chain moved; 0 turns the schedule off (publishing on request
    /// still works). At least 60 otherwise.
    pub audit_head_interval_secs: u64,
    /// Command requests one member may make in one team per hour.
    pub command_rate_limit_per_hour: u32,
    /// Bytes of stdout and stderr together kept per command (at most 16 MiB).
    pub command_output_max_bytes: u64,
    /// Seconds a command waits for an offline agent before it expires undelivered.
    pub command_queue_ttl_secs: u64,
    /// Seconds a command may run when the request names no `timeout_s`.
    pub command_default_timeout_secs: u32,
    /// Webhooks may use `http://` to a loopback address (a receiver on the appliance's own
    /// host); every other webhook must use `https://`. Env alias:
    /// `TUNDRA_WEBHOOKS_ALLOW_LOOPBACK_HTTP`.
    pub webhook_allow_loopback_http: bool,
    /// Webhooks may target private, loopback and link-local addresses (RFC 1918, CGNAT,
    /// ULA, 169.254/16 …). Off by default: a webhook is a request the appliance makes on a
    /// team's behalf and must not reach its internal network.
    pub webhook_allow_private_targets: bool,
    /// Seconds one webhook delivery attempt may take (connect, TLS, answer).
    pub webhook_timeout_secs: u64,
    /// Attempts per delivery (with exponential backoff) before it is dead-lettered.
    pub webhook_max_attempts: u32,
    /// PEM file of extra root certificates webhook receivers may chain to (a private CA),
    /// trusted besides the system's roots.
    pub webhook_ca_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./tundra-data"),
            panel_addr: SocketAddr::from(([127, 0, 0, 1], 8443)),
            redirect_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            agent_addr: SocketAddr::from(([127, 0, 0, 1], 7447)),
            public_host: "localhost".into(),
            public_port: None,
            hostnames: Vec::new(),
            agent_public_addrs: Vec::new(),
            max_agent_connections: 20_000,
            agent_handshakes_per_ip_per_min: 600,
            trusted_agent_cidrs: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
            tls_cert: None,
            tls_key: None,
            min_agent_version: env!("CARGO_PKG_VERSION").into(),
            max_connections_per_ip: 64,
            max_connections: 10_000,
            tls_handshake_timeout_secs: 10,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            shutdown_grace_secs: 10,
            login_lockout_failures: 5,
            login_lockout_window_secs: 900,
            login_lockout_secs: 900,
            login_ip_max_failures: 20,
            login_ip_window_secs: 900,
            login_delay_after_failures: 3,
            login_delay_base_secs: 1,
            login_delay_max_secs: 30,
            hash_pool_slots: 0,
            hash_queue_timeout_ms: 2000,
            require_two_factor: true,
            self_check_interval_secs: 3600,
            audit_head_interval_secs: 3600,
            command_rate_limit_per_hour: 30,
            command_output_max_bytes: 1024 * 1024,
            command_queue_ttl_secs: 3600,
            command_default_timeout_secs: 300,
            webhook_allow_loopback_http: false,
            webhook_allow_private_targets: false,
            webhook_timeout_secs: 10,
            webhook_max_attempts: 8,
            webhook_ca_file: None,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("unknown environment variable {var}: there is no config key `{key}`")]
    UnknownEnv { var: String, key: String },
    #[error("environment variable {var}: {message}")]
    BadEnv { var: String, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Config {
    /// Loads the embedded defaults, overlaid by `file` (if any), then by the `TUNDRA_*`
    /// variables in `vars`, and validates the result.
    pub fn load(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (mut table, origin) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                (table, path.display().to_string())
            }
            None => (toml::Table::new(), "(defaults)".to_string()),
        };
        env::overlay(&mut table, vars)?;
        let config =
            Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Parse {
                path: origin,
                message: e.to_string(),
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        for name in std::iter::once(&self.public_host).chain(&self.hostnames) {
            if !valid_host(name) {
                return invalid(
                    if *name == self.public_host {
                        "public_host"
                    } else {
                        "hostnames"
                    },
                    format!("{name:?} is not a DNS name or IP address"),
                );
            }
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return invalid("tls_key", "set tls_cert and tls_key together".into())
            }
            (None, Some(_)) => {
                return invalid("tls_cert", "set tls_cert and tls_key together".into())
            }
            _ => {}
        }
        if crate::config::parse_version(&self.min_agent_version).is_none() {
            return invalid(
                "min_agent_version",
                format!("{:?} is not a version like 1.2.3", self.min_agent_version),
            );
        }
        for a in &self.agent_public_addrs {
            let ok = a.rsplit_once(':').is_some_and(|(h, p)| {
                valid_host(h.trim_matches(['[', ']'])) && p.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !ok {
                return invalid("agent_public_addrs", format!("{a:?} is not host:port"));
            }
        }
        for (key, v) in [
            (
                "max_agent_connections",
                u64::from(self.max_agent_connections),
            ),
            (
                "agent_handshakes_per_ip_per_min",
                u64::from(self.agent_handshakes_per_ip_per_min),
            ),
            (
                "max_connections_per_ip",
                u64::from(self.max_connections_per_ip),
            ),
            ("max_connections", u64::from(self.max_connections)),
            (
                "tls_handshake_timeout_secs",
                self.tls_handshake_timeout_secs,
            ),
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            (
                "login_lockout_failures",
                u64::from(self.login_lockout_failures),
            ),
            ("login_lockout_window_secs", self.login_lockout_window_secs),
            (
                "login_ip_max_failures",
                u64::from(self.login_ip_max_failures),
            ),
            ("login_ip_window_secs", self.login_ip_window_secs),
            ("hash_queue_timeout_ms", self.hash_queue_timeout_ms),
            (
                "command_rate_limit_per_hour",
                u64::from(self.command_rate_limit_per_hour),
            ),
            ("command_output_max_bytes", self.command_output_max_bytes),
            ("command_queue_ttl_secs", self.command_queue_ttl_secs),
            (
                "command_default_timeout_secs",
                u64::from(self.command_default_timeout_secs),
            ),
            ("webhook_timeout_secs", self.webhook_timeout_secs),
            ("webhook_max_attempts", u64::from(self.webhook_max_attempts)),
        ] {
            if v == 0 {
                return invalid(key, "must be greater than 0".into());
            }
        }
        if (1..60).contains(&self.audit_head_interval_secs) {
            return invalid(
                "audit_head_interval_secs",
                "must be 0 (off) or at least 60".into(),
            );
        }
        if self.command_output_max_bytes > MAX_COMMAND_OUTPUT_BYTES {
            return invalid(
                "command_output_max_bytes",
                format!("must be at most {MAX_COMMAND_OUTPUT_BYTES} (16 MiB)"),
            );
        }
        if self.command_default_timeout_secs > MAX_COMMAND_TIMEOUT_SECS {
            return invalid(
                "command_default_timeout_secs",
                format!("must be at most {MAX_COMMAND_TIMEOUT_SECS} (one day)"),
            );
        }
        webhook::validate(self)?;
        Ok(())
    }

    /// The HTTPS origin users reach, e.g. `https://localhost:8443`.
    pub fn public_origin(&self) -> String {
        let port = self.public_port.unwrap_or(self.panel_addr.port());
        let host = if self.public_host.contains(':') {
            format!("[{}]", self.public_host)
        } else {
            self.public_host.clone()
        };
        if port == 443 {
            format!("https://{host}")
        } else {
            format!("https://{host}:{port}")
        }
    }

    /// Where enrolled agents dial the rendezvous service, in order of preference.
    pub fn agent_dial_addrs(&self) -> Vec<String> {
        if !self.agent_public_addrs.is_empty() {
            return self.agent_public_addrs.clone();
        }
        let host = if self.public_host.contains(':') {
            format!("[{}]", self.public_host)
        } else {
            self.public_host.clone()
        };
        vec![format!("{host}:{}", self.agent_addr.port())]
    }

    /// Every name the panel answers to and its generated certificate covers.
    pub fn served_names(&self) -> Vec<String> {
        let mut names = vec![self.public_host.clone()];
        for n in self
            .hostnames
            .iter()
            .map(String::as_str)
            .chain(["localhost", "127.0.0.1", "::1"])
        {
            if !names.iter().any(|m| m.eq_ignore_ascii_case(n)) {
                names.push(n.to_string());
            }
        }
        names
    }
}

/// Parses `major.minor.patch` (a pre-release suffix after `-` is ignored).
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let out = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(out)
}

fn valid_host(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests;
