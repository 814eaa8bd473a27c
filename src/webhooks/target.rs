//! A webhook's URL: parsed once into scheme, host, port and path, and checked against the
//! target rules — at creation (literal IPs and what the name resolves to) and again at every
//! delivery, right before connecting to an address that passed, so a name that later
//! resolves somewhere internal (DNS rebinding) is refused then.

use std::net::{IpAddr, SocketAddr};

use super::ip::{classify, Reach};

/// The longest URL a webhook may have.
pub const MAX_URL_LEN: usize = 2048;

/// What the appliance's config allows webhooks to reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetRules {
    /// `http://` to a loopback address is allowed (`webhook_allow_loopback_http`).
    pub allow_loopback_http: bool,
    /// Private, loopback and link-local addresses are allowed over HTTPS
    /// (`webhook_allow_private_targets`).
    pub allow_private: bool,
}

/// How a webhook talks to its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// TLS (the only scheme for anything but the loopback exception).
    Https,
    /// Plain HTTP, only to loopback and only when allowed.
    Http,
}

/// A parsed webhook URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https` or `http`.
    pub scheme: Scheme,
    /// The host without brackets: a DNS name or an IP literal.
    pub host: String,
    /// The port (443 / 80 when the URL names none).
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
    /// `host[:port]` as the URL wrote it (the `Host` header).
    pub authority: String,
}

/// Parses `url`; the message says what is wrong with it.
pub fn parse(url: &str) -> Result<Target, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) || url.contains('#') {
        return Err("must not contain spaces, control characters or a #fragment".into());
    }
    let uri: http::Uri = url.parse().map_err(|e| format!("is not a URL ({e})"))?;
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::Https,
        Some("http") => Scheme::Http,
        _ => return Err("must start with https://".into()),
    };
    let authority = uri.authority().ok_or_else(|| "names no host".to_string())?;
    if authority.as_str().contains('@') {
        return Err("must not carry a user name or password".into());
    }
    let raw_host = authority.host();
    let host = raw_host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("names no host".into());
    }
    if host.parse::<IpAddr>().is_err() && !dns_name(host) {
        return Err(format!("{host:?} is not a DNS name or IP address"));
    }
    let port = match (authority.port_u16(), scheme) {
        (Some(0), _) => return Err("port 0 is not a port".into()),
        (Some(p), _) => p,
        (None, Scheme::Https) => 443,
        (None, Scheme::Http) => 80,
    };
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
    let path = if path.is_empty() { "/".into() } else { path };
    Ok(Target {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
        path,
        authority: authority.as_str().to_ascii_lowercase(),
    })
}

fn dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
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

/// Whether a webhook with `scheme` may connect to `ip` under `rules`; the message names the
/// address, what it is and the setting that would allow it.
pub fn check_addr(rules: TargetRules, scheme: Scheme, ip: IpAddr) -> Result<(), String> {
    let reach = classify(ip);
    let refused = |what: &str, fix: &str| Err(format!("{ip} is {what}: {fix}"));
    match (reach, scheme) {
        (Reach::Never(what), _) => refused(what, "never a webhook receiver"),
        (Reach::Public, Scheme::Https) => Ok(()),
        (Reach::Loopback, Scheme::Http) if rules.allow_loopback_http => Ok(()),
        (Reach::Loopback, Scheme::Http) => refused(
            "loopback",
            "http:// to loopback needs webhook_allow_loopback_http",
        ),
        (_, Scheme::Http) => Err(format!(
            "{ip}: http:// is allowed only to a loopback address; use https://"
        )),
        (Reach::Loopback, Scheme::Https) if rules.allow_private => Ok(()),
        (Reach::Loopback, Scheme::Https) => refused(
            "loopback",
            "allowed only with webhook_allow_private_targets",
        ),
        (Reach::Internal(_), Scheme::Https) if rules.allow_private => Ok(()),
        (Reach::Internal(what), Scheme::Https) => {
            refused(what, "allowed only with webhook_allow_private_targets")
        }
    }
}

/// Every address `target` resolves to, each checked; refused when any one fails (a name
/// that mixes public and internal addresses is no safer than its worst one) or when it
/// resolves to nothing.
pub async fn resolve(rules: TargetRules, target: &Target) -> Result<Vec<SocketAddr>, String> {
    if target.scheme == Scheme::Http && !rules.allow_loopback_http {
        return Err(
            "must use https:// (http:// is only allowed to a loopback address, \
             with webhook_allow_loopback_http)"
                .into(),
        );
    }
    let addrs: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("{} does not resolve ({e})", target.host))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{} resolves to no address", target.host));
    }
    for a in &addrs {
        check_addr(rules, target.scheme, a.ip()).map_err(|m| {
            if target.host.parse::<IpAddr>().is_ok() {
                m
            } else {
                format!("{} resolves to {m}", target.host)
            }
        })?;
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: TargetRules = TargetRules {
        allow_loopback_http: false,
        allow_private: false,
    };

    #[test]
    fn parses_the_parts() {
        let t = parse("https://Hooks.Example.com:8443/in?x=1").unwrap();
        assert_eq!(t.scheme, Scheme::Https);
        assert_eq!(t.host, "hooks.example.com");
        assert_eq!(t.port, 8443);
        assert_eq!(t.path, "/in?x=1");
        assert_eq!(t.authority, "hooks.example.com:8443");
        let t = parse("https://[::1]/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 443));
        assert_eq!(parse("http://127.0.0.1").unwrap().path, "/");
    }

    #[test]
    fn refuses_what_is_no_webhook_url() {
        for u in [
            "ftp://example.com/",
            "example.com/hook",
            "https://user:pw@example.com/",
            "https://exa mple.com/",
            "https://example.com/#frag",
            "https://:443/",
            "https://example.com:0/",
            "https://bad_name.example.com/",
        ] {
            assert!(parse(u).is_err(), "{u}");
        }
        assert!(parse(&format!("https://e.com/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[test]
    fn rules_by_scheme_and_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let open = TargetRules {
            allow_loopback_http: true,
            allow_private: true,
        };
        assert!(check_addr(STRICT, Scheme::Https, ip("1.1.1.1")).is_ok());
        assert!(check_addr(STRICT, Scheme::Http, ip("1.1.1.1")).is_err());
        assert!(check_addr(open, Scheme::Http, ip("1.1.1.1")).is_err());
        assert!(check_addr(STRICT, Scheme::Http, ip("127.0.0.1")).is_err());
        let http_lo = TargetRules {
            allow_loopback_http: true,
            allow_private: false,
        };
        assert!(check_addr(http_lo, Scheme::Http, ip("127.0.0.1")).is_ok());
        assert!(check_addr(http_lo, Scheme::Http, ip("::ffff:127.0.0.1")).is_ok());
        assert!(check_addr(http_lo, Scheme::Https, ip("127.0.0.1")).is_err());
        assert!(check_addr(open, Scheme::Http, ip("10.0.0.1")).is_err());
        for a in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "169.254.169.254",
            "::ffff:127.0.0.1",
        ] {
            assert!(check_addr(STRICT, Scheme::Https, ip(a)).is_err(), "{a}");
            assert!(check_addr(open, Scheme::Https, ip(a)).is_ok(), "{a}");
        }
        for a in ["0.0.0.0", "255.255.255.255", "224.0.0.1", "::"] {
            assert!(check_addr(open, Scheme::Https, ip(a)).is_err(), "{a}");
        }
        let m = check_addr(STRICT, Scheme::Https, ip("169.254.169.254")).unwrap_err();
        assert!(
            m.contains("link-local") && m.contains("webhook_allow_private_targets"),
            "{m}"
        );
    }

    #[tokio::test]
    async fn a_name_is_judged_by_what_it_resolves_to() {
        let t = parse("https://localhost/hook").unwrap();
        let m = resolve(STRICT, &t).await.unwrap_err();
        assert!(m.contains("localhost resolves to"), "{m}");
        let open = TargetRules {
            allow_loopback_http: false,
            allow_private: true,
        };
        let addrs = resolve(open, &t).await.unwrap();
        assert!(addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 443));
    }
}
