//! The one table of check functions, keyed by the catalog's ids. Adding a check means one
//! entry here and one in `acceptance/<section>.toml`; a test fails when either side has an
//! id the other lacks.

use super::{headers, host, identity, network, storage, transport};
use crate::model::acceptance::CheckStatus;

/// What a check function decided and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The verdict.
    pub status: CheckStatus,
    /// The evidence, in words.
    pub evidence: String,
}

impl Outcome {
    /// PASS with `evidence`.
    pub fn pass(evidence: impl Into<String>) -> Self {
        Self::new(CheckStatus::Pass, evidence)
    }
    /// FAIL with `evidence`.
    pub fn fail(evidence: impl Into<String>) -> Self {
        Self::new(CheckStatus::Fail, evidence)
    }
    /// WARN with `evidence`.
    pub fn warn(evidence: impl Into<String>) -> Self {
        Self::new(CheckStatus::Warn, evidence)
    }
    /// SKIP with the reason.
    pub fn skip(reason: impl Into<String>) -> Self {
        Self::new(CheckStatus::Skip, reason)
    }
    fn new(status: CheckStatus, evidence: impl Into<String>) -> Self {
        Self {
            status,
            evidence: evidence.into(),
        }
    }
}

/// A check function over its section's gathered facts.
#[derive(Clone, Copy)]
pub enum Check {
    /// `transport.*`
    Transport(fn(&transport::Facts) -> Outcome),
    /// `headers.*`
    Headers(fn(&headers::Facts) -> Outcome),
    /// `identity.*`
    Identity(fn(&identity::Facts) -> Outcome),
    /// `storage.*`
    Storage(fn(&storage::Facts) -> Outcome),
    /// `network.*`
    Network(fn(&network::Facts) -> Outcome),
    /// `host.*`
    Host(fn(&host::Facts) -> Outcome),
}

/// Every check, by catalog id.
pub const CHECKS: &[(&str, Check)] = &[
    (
        "transport.http_redirect",
        Check::Transport(transport::http_redirect),
    ),
    (
        "transport.api_not_redirected",
        Check::Transport(transport::api_not_redirected),
    ),
    ("transport.tls13", Check::Transport(transport::tls13)),
    (
        "transport.old_tls_refused",
        Check::Transport(transport::old_tls_refused),
    ),
    (
        "transport.certificate_valid",
        Check::Transport(transport::certificate_valid),
    ),
    (
        "transport.certificate_expiry",
        Check::Transport(transport::certificate_expiry),
    ),
    ("headers.hsts", Check::Headers(headers::hsts)),
    ("headers.csp", Check::Headers(headers::csp)),
    ("headers.nosniff", Check::Headers(headers::nosniff)),
    (
        "headers.frame_protection",
        Check::Headers(headers::frame_protection),
    ),
    (
        "headers.referrer_policy",
        Check::Headers(headers::referrer_policy),
    ),
    (
        "headers.no_version_leak",
        Check::Headers(headers::no_version_leak),
    ),
    ("headers.no_store", Check::Headers(headers::no_store)),
    (
        "identity.cookie_flags",
        Check::Identity(identity::cookie_flags),
    ),
    (
        "identity.csrf_enforced",
        Check::Identity(identity::csrf_enforced),
    ),
    (
        "identity.login_throttling",
        Check::Identity(identity::login_throttling),
    ),
    (
        "identity.two_factor_required",
        Check::Identity(identity::two_factor_required),
    ),
    (
        "storage.master_key_mode",
        Check::Storage(storage::master_key_mode),
    ),
    (
        "storage.master_key_owner",
        Check::Storage(storage::master_key_owner),
    ),
    (
        "storage.master_key_trailer",
        Check::Storage(storage::master_key_trailer),
    ),
    (
        "storage.data_dir_mode",
        Check::Storage(storage::data_dir_mode),
    ),
    ("storage.file_modes", Check::Storage(storage::file_modes)),
    (
        "storage.no_world_readable",
        Check::Storage(storage::no_world_readable),
    ),
    (
        "network.agent_client_cert",
        Check::Network(network::agent_client_cert),
    ),
    (
        "network.trusted_agent_cidrs",
        Check::Network(network::trusted_agent_cidrs),
    ),
    (
        "network.no_extra_listeners",
        Check::Network(network::no_extra_listeners),
    ),
    (
        "network.no_datastore_ports",
        Check::Network(network::no_datastore_ports),
    ),
    ("host.unit_non_root", Check::Host(host::unit_non_root)),
    ("host.unit_filesystem", Check::Host(host::unit_filesystem)),
    ("host.unit_privileges", Check::Host(host::unit_privileges)),
];

/// The check function for `id`.
pub fn find(id: &str) -> Option<Check> {
    CHECKS.iter().find(|(i, _)| *i == id).map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn catalog_and_table_name_the_same_checks() {
        let catalog: BTreeSet<String> = super::super::catalog::entries()
            .unwrap()
            .into_iter()
            .map(|(_, e)| e.id)
            .collect();
        let table: BTreeSet<String> = CHECKS.iter().map(|(id, _)| id.to_string()).collect();
        assert_eq!(CHECKS.len(), table.len(), "an id is twice in CHECKS");
        let only_catalog: Vec<_> = catalog.difference(&table).collect();
        let only_table: Vec<_> = table.difference(&catalog).collect();
        assert!(
            only_catalog.is_empty() && only_table.is_empty(),
            "in the catalog without a function: {only_catalog:?}; functions without a catalog entry: {only_table:?}"
        );
    }

    #[test]
    fn each_function_kind_matches_its_section() {
        for (id, check) in CHECKS {
            let section = match check {
                Check::Transport(_) => "transport",
                Check::Headers(_) => "headers",
                Check::Identity(_) => "identity",
                Check::Storage(_) => "storage",
                Check::Network(_) => "network",
                Check::Host(_) => "host",
            };
            assert!(id.starts_with(&format!("{section}.")), "{id}");
        }
    }
}
