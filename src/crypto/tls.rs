//! The one TLS crypto provider every Tundra endpoint uses (panel, agent port, agent client):
//! ring, with the X25519, P-256 and P-384 key exchange groups.

use std::sync::Arc;

use rustls::crypto::ring as provider;

/// The provider, restricted to the groups SPEC §4 names.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut p = provider::default_provider();
    p.kx_groups = vec![
        provider::kx_group::X25519,
        provider::kx_group::SECP256R1,
        provider::kx_group::SECP384R1,
    ];
    Arc::new(p)
}
