//! `transport.*`: the redirect listener, TLS versions and the certificate.

use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use super::checks::Outcome;
use super::legacy_tls::{legacy_hello, Legacy};
use super::net::{self, Handshake, Reply, Request, Url};
use super::{no_url, Remote};

/// Days of certificate validity left below which the expiry check fails.
pub const EXPIRY_DAYS: i64 = 14;

/// What the transport probes saw.
#[derive(Debug)]
pub struct Facts {
    /// `None` without `--url`.
    pub remote: Option<Seen>,
}

/// The probes' results.
#[derive(Debug)]
pub struct Seen {
    /// The HTTPS URL.
    pub url: Url,
    /// The plain-HTTP URL.
    pub http_url: Url,
    /// `GET /` on plain HTTP.
    pub page: Result<Reply, String>,
    /// `GET /api/v1/me` on plain HTTP.
    pub api: Result<Reply, String>,
    /// A handshake offering only TLS 1.3.
    pub tls13: Result<Handshake, String>,
    /// A handshake offering only TLS 1.2.
    pub tls12: Result<Handshake, String>,
    /// Raw TLS 1.1 and 1.0 ClientHellos.
    pub legacy: Vec<(&'static str, Result<Legacy, String>)>,
    /// The presented chain verified for the host.
    pub chain: Result<(), String>,
    /// The leaf's expiry, when a chain was seen.
    pub not_after: Option<OffsetDateTime>,
    /// Now.
    pub now: OffsetDateTime,
    /// What the chain was verified against, for the evidence.
    pub anchors: &'static str,
}

/// Runs the probes.
pub async fn gather(remote: Option<&Remote>, now: OffsetDateTime) -> Facts {
    let Some(r) = remote else {
        return Facts { remote: None };
    };
    let only13 = [&rustls::version::TLS13];
    let only12 = [&rustls::version::TLS12];
    let (page, api, tls13, tls12, tls11, tls10) = tokio::join!(
        net::http(&r.http_url, Request::get("/")),
        net::http(&r.http_url, Request::get("/api/v1/me")),
        net::handshake(&r.url, &only13),
        net::handshake(&r.url, &only12),
        legacy_hello(&r.url, 2),
        legacy_hello(&r.url, 1),
    );
    let chain: Vec<CertificateDer<'static>> = match (&tls13, &tls12) {
        (Ok(h), _) | (Err(_), Ok(h)) => h.chain.clone(),
        _ => Vec::new(),
    };
    let verified = match (&tls13, &tls12) {
        (Err(e), Err(_)) => Err(format!("no TLS handshake completed: {e}")),
        _ => net::verify_chain(&net::roots(&r.extra_roots), &chain, &r.url.host, now),
    };
    let not_after = chain
        .first()
        .and_then(|c| crate::crypto::x509::summarize_der(c).ok())
        .map(|s| s.not_after);
    Facts {
        remote: Some(Seen {
            url: r.url.clone(),
            http_url: r.http_url.clone(),
            page,
            api,
            tls13,
            tls12,
            legacy: vec![("TLS 1.1", tls11), ("TLS 1.0", tls10)],
            chain: verified,
            not_after,
            now,
            anchors: if r.extra_roots.is_empty() {
                "the system trust store"
            } else {
                "the system trust store and --ca"
            },
        }),
    }
}

fn seen(f: &Facts) -> Result<&Seen, Outcome> {
    f.remote.as_ref().ok_or_else(no_url)
}

/// Plain-HTTP pages get 301/308 to HTTPS on the same host.
pub fn http_redirect(f: &Facts) -> Outcome {
    let s = match seen(f) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let asked = format!("GET {}/", s.http_url.origin());
    let r = match &s.page {
        Ok(r) => r,
        Err(e) => {
            return Outcome::fail(format!(
                "{asked}: {e}; nothing redirects plain HTTP (use --http-url if the redirect \
                 listener is on another port)"
            ))
        }
    };
    let location = r.header("location").unwrap_or("");
    let seen_text = if location.is_empty() {
        format!("{asked} → {}", r.status)
    } else {
        format!("{asked} → {} Location: {location}", r.status)
    };
    if !matches!(r.status, 301 | 308) {
        return Outcome::fail(match r.status {
            302 | 303 | 307 => format!("{seen_text}: a temporary redirect; use 301 or 308"),
            _ => format!("{seen_text}: not a permanent redirect to HTTPS"),
        });
    }
    match Url::parse(location) {
        Ok(to) if to.scheme == "https" && to.host == s.url.host && to.port == s.url.port => {
            Outcome::pass(seen_text)
        }
        Ok(to) if to.scheme != "https" => Outcome::fail(format!(
            "{seen_text}: redirects to {}, not HTTPS",
            to.scheme
        )),
        Ok(_) => Outcome::fail(format!(
            "{seen_text}: redirects to another origin than {}",
            s.url.origin()
        )),
        Err(_) => Outcome::fail(format!(
            "{seen_text}: the Location is not an absolute https:// URL"
        )),
    }
}

/// Plain-HTTP `/api/` is refused, not redirected.
pub fn api_not_redirected(f: &Facts) -> Outcome {
    let s = match seen(f) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let asked = format!("GET {}/api/v1/me", s.http_url.origin());
    match &s.api {
        Err(e) => Outcome::pass(format!(
            "{asked}: {e} (the API is not served on plain HTTP)"
        )),
        Ok(r) if (300..400).contains(&r.status) => Outcome::fail(format!(
            "{asked} → {} Location: {}: API requests are redirected, so a client that sent \
             a token over plain HTTP never notices",
            r.status,
            r.header("location").unwrap_or("")
        )),
        Ok(r) if r.status < 300 => Outcome::fail(format!(
            "{asked} → {}: the API answers over plain HTTP",
            r.status
        )),
        Ok(r) => Outcome::pass(format!("{asked} → {} (refused)", r.status)),
    }
}

/// TLS 1.3 is negotiated.
pub fn tls13(f: &Facts) -> Outcome {
    let s = match seen(f) {
        Ok(s) => s,
        Err(o) => return o,
    };
    match &s.tls13 {
        Ok(h) if h.version == "TLS 1.3" => Outcome::pass(format!(
            "{} negotiated TLS 1.3 with a client offering only TLS 1.3",
            s.url.authority()
        )),
        Ok(h) => Outcome::fail(format!("negotiated {} instead of TLS 1.3", h.version)),
        Err(e) => Outcome::fail(format!(
            "{}: a TLS 1.3-only handshake failed: {e}",
            s.url.authority()
        )),
    }
}

/// TLS 1.2 (and the raw 1.1/1.0 hellos) are refused.
pub fn old_tls_refused(f: &Facts) -> Outcome {
    let s = match seen(f) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let mut accepted = Vec::new();
    let mut notes = Vec::new();
    match &s.tls12 {
        Ok(_) => accepted.push("TLS 1.2 (handshake completed)".to_string()),
        Err(e) => notes.push(format!("TLS 1.2 refused ({e})")),
    }
    for (name, result) in &s.legacy {
        match result {
            Ok(Legacy::Accepted) => accepted.push(format!("{name} (ServerHello for {name})")),
            Ok(Legacy::Refused(how)) => notes.push(format!("{name} refused ({how})")),
            Err(e) => notes.push(format!("{name} not probed: {e}")),
        }
    }
    if accepted.is_empty() {
        Outcome::pass(notes.join("; "))
    } else {
        Outcome::fail(format!("accepted: {}", accepted.join(", ")))
    }
}

/// The chain verifies for the host.
pub fn certificate_valid(f: &Facts) -> Outcome {
    let s = match seen(f) {
        Ok(s) => s,
        Err(o) => return o,
    };
    match &s.chain {
        Ok(()) => Outcome::pass(format!(
            "the chain verifies for {} against {}",
            s.url.host, s.anchors
        )),
        Err(e) => Outcome::fail(format!("the chain does not verify for {}: {e}", s.url.host)),
    }
}

/// The leaf does not expire within [`EXPIRY_DAYS`].
pub fn certificate_expiry(f: &Facts) -> Outcome {
    let s = match seen(f) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let Some(not_after) = s.not_after else {
        return Outcome::fail("no certificate could be read from the server");
    };
    let left = (not_after - s.now).whole_days();
    let when = crate::clock::rfc3339(not_after);
    if not_after <= s.now {
        Outcome::fail(format!("the certificate expired at {when}"))
    } else if left < EXPIRY_DAYS {
        Outcome::fail(format!(
            "the certificate expires at {when}, in {left} days (less than {EXPIRY_DAYS})"
        ))
    } else {
        Outcome::pass(format!("expires at {when}, in {left} days"))
    }
}
