//! `tundra acceptance run`: the security self-check of a live deployment (SPEC §9).
//!
//! Owns the check catalog (`acceptance/*.toml`, embedded), the one table of check functions
//! keyed by the catalog's ids ([`checks::CHECKS`]), the probes that gather evidence, and the
//! report's text form. Each section first gathers its facts (network probes, file metadata,
//! the unit file), then every check of the section is a pure function of those facts.
//!
//! It never reads the store or identity internals: remote checks talk to the appliance over
//! the network like any other client, local checks read the config, the data dir's metadata,
//! `/proc` and the systemd unit. It uses only rows 0–1 (`model`, `clock`, `crypto`, `config`).
//! The results are plain [`crate::model::acceptance`] values, which the app stores and the
//! panel shows without importing this module.

mod catalog;
pub mod checks;
mod headers;
mod host;
mod identity;
mod legacy_tls;
pub mod net;
mod network;
mod render;
mod storage;
mod transport;

use std::path::PathBuf;

use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::config::Config;
use crate::model::acceptance::{AcceptanceReport, CheckResult, CheckStatus};
use checks::{Check, Outcome};
pub use net::Url;
pub use render::table;

/// The installed systemd unit the host checks read by default.
pub const DEFAULT_UNIT: &str = "/etc/systemd/system/tundra.service";

/// A group of checks (`--section`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Section {
    /// HTTP→HTTPS redirect, TLS versions, certificate.
    Transport,
    /// Security headers on HTTPS responses.
    Headers,
    /// Cookies, CSRF, login throttling, the two-factor switch.
    Identity,
    /// Master key and data dir permissions (local).
    Storage,
    /// Agent port, trusted networks, listening ports.
    Network,
    /// The systemd unit's hardening (local).
    Host,
}

impl Section {
    /// Every section, in report order.
    pub const ALL: &[Section] = &[
        Section::Transport,
        Section::Headers,
        Section::Identity,
        Section::Storage,
        Section::Network,
        Section::Host,
    ];

    /// The section's name, as in ids and file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Transport => "transport",
            Section::Headers => "headers",
            Section::Identity => "identity",
            Section::Storage => "storage",
            Section::Network => "network",
            Section::Host => "host",
        }
    }

    /// Whether the section's checks are mostly black-box checks against `--url`.
    pub fn needs_url(self) -> bool {
        matches!(
            self,
            Section::Transport | Section::Headers | Section::Identity
        )
    }
}

/// What to check remotely.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The panel's HTTPS URL (`--url`).
    pub url: Url,
    /// The plain-HTTP URL of the redirect listener (`--http-url`; default: port 80 of the
    /// same host).
    pub http_url: Url,
    /// Further trust anchors (`--ca`).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// `--active`: checks that leave traces (failed logins against a throwaway account name).
    pub active: bool,
    /// Whether to send a mutating request without a CSRF token (refused and audited by the
    /// appliance; the hourly self-check leaves it out so the audit log does not fill with it).
    pub probe_csrf: bool,
}

/// What to check locally.
#[derive(Debug, Clone)]
pub struct Local {
    /// The configuration (from `--config`, the production path, or the defaults).
    pub config: Config,
    /// Where the configuration came from, for the evidence.
    pub config_source: String,
    /// The data dir to inspect.
    pub data_dir: PathBuf,
    /// The installed systemd unit.
    pub unit: PathBuf,
    /// The serve process (`--pid`); found by the data dir's control socket when unset.
    pub pid: Option<u32>,
}

/// One run's options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The sections to run; empty: all.
    pub sections: Vec<Section>,
    /// The remote target, if any.
    pub remote: Option<Remote>,
    /// The local host.
    pub local: Local,
    /// Now (certificate expiry, report time).
    pub now: OffsetDateTime,
}

/// Why the checks could not run at all (the CLI exits 2).
#[derive(Debug, thiserror::Error)]
pub enum AcceptanceError {
    /// The embedded catalog is broken (a build problem).
    #[error("the embedded check catalog is broken: {0}")]
    Catalog(String),
    /// The URL did not answer.
    #[error("{url} is unreachable ({detail}); check the URL and that tundra is running. Nothing was checked.")]
    Unreachable { url: String, detail: String },
    /// A section that needs `--url` was asked for without one.
    #[error("the {0} checks need --url https://YOUR-PANEL; nothing was checked")]
    NeedsUrl(&'static str),
}

/// Runs the selected sections and returns every result in catalog order.
pub async fn run(opts: &Options) -> Result<AcceptanceReport, AcceptanceError> {
    let catalog = catalog::entries().map_err(AcceptanceError::Catalog)?;
    let explicit = !opts.sections.is_empty();
    let sections: Vec<Section> = if explicit {
        opts.sections.clone()
    } else {
        Section::ALL.to_vec()
    };
    let has = |s: Section| sections.contains(&s);
    match &opts.remote {
        Some(r) if sections.iter().any(|s| s.needs_url()) => {
            net::tcp(&r.url)
                .await
                .map_err(|detail| AcceptanceError::Unreachable {
                    url: r.url.origin(),
                    detail,
                })?;
        }
        None if explicit => {
            if let Some(s) = sections.iter().find(|s| s.needs_url()) {
                return Err(AcceptanceError::NeedsUrl(s.as_str()));
            }
        }
        _ => {}
    }

    let remote = opts.remote.as_ref();
    let transport = match has(Section::Transport) {
        true => Some(transport::gather(remote, opts.now).await),
        false => None,
    };
    let headers = match has(Section::Headers) {
        true => Some(headers::gather(remote).await),
        false => None,
    };
    let identity = match has(Section::Identity) {
        true => Some(identity::gather(remote, &opts.local).await),
        false => None,
    };
    let storage = has(Section::Storage).then(|| storage::gather(&opts.local));
    let network = match has(Section::Network) {
        true => Some(network::gather(remote, &opts.local).await),
        false => None,
    };
    let host = has(Section::Host).then(|| host::gather(&opts.local));

    let mut results = Vec::new();
    for (section, entry) in catalog {
        if !has(section) {
            continue;
        }
        let outcome = match checks::find(&entry.id) {
            Some(Check::Transport(f)) => transport.as_ref().map(f),
            Some(Check::Headers(f)) => headers.as_ref().map(f),
            Some(Check::Identity(f)) => identity.as_ref().map(f),
            Some(Check::Storage(f)) => storage.as_ref().map(f),
            Some(Check::Network(f)) => network.as_ref().map(f),
            Some(Check::Host(f)) => host.as_ref().map(f),
            None => None,
        }
        .unwrap_or_else(|| Outcome::skip("no check function for this id in this build"));
        let remediation = match outcome.status {
            CheckStatus::Fail | CheckStatus::Warn => entry.remediation.clone(),
            CheckStatus::Pass | CheckStatus::Skip => String::new(),
        };
        results.push(CheckResult {
            id: entry.id,
            section: section.as_str().to_string(),
            title: entry.title,
            status: outcome.status,
            rationale: entry.rationale,
            evidence: outcome.evidence,
            remediation,
        });
    }
    Ok(AcceptanceReport {
        started: opts.now.unix_timestamp(),
        target: remote
            .map(|r| r.url.origin())
            .unwrap_or_else(|| "local".to_string()),
        results,
    })
}

/// The evidence for a remote check when no `--url` was given.
fn no_url() -> Outcome {
    Outcome::skip("needs --url https://YOUR-PANEL")
}
