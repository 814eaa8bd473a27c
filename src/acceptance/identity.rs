//! `identity.*`: cookies of the sign-in flow, CSRF enforcement, login throttling and the
//! two-factor lab switch.

use super::checks::Outcome;
use super::net::{self, Reply, Request};
use super::{no_url, Local, Remote};

/// The sign-in API a throttling probe and the CSRF probe use.
pub const LOGIN_API: &str = "/api/v1/auth/login";
/// The most failed logins the throttling probe makes.
pub const MAX_PROBE_LOGINS: u32 = 50;

/// What the identity probes saw.
#[derive(Debug)]
pub struct Facts {
    /// `None` without `--url`.
    pub remote: Option<Seen>,
    /// `require_two_factor` and where that value came from.
    pub require_two_factor: (bool, String),
}

/// The remote probes' results.
#[derive(Debug)]
pub struct Seen {
    /// Every `Set-Cookie` seen, with the request that got it.
    pub cookies: Vec<(String, String)>,
    /// Requests that failed while collecting cookies.
    pub errors: Vec<String>,
    /// A login POST without a CSRF token (`None`: not probed).
    pub csrf: Option<Result<Reply, String>>,
    /// The throttling probe (`None`: not `--active`).
    pub throttle: Option<Result<Throttle, String>>,
}

/// What the throttling probe did.
#[derive(Debug, Clone)]
pub struct Throttle {
    /// Failed logins made.
    pub attempts: u32,
    /// The throwaway account names' common prefix.
    pub accounts: String,
    /// The answer that showed throttling (status, `Retry-After`), if any did.
    pub limited: Option<(u16, Option<String>)>,
}

/// Runs the probes: the sign-in page's cookies, a POST without CSRF token and, with
/// `--active`, failed logins until the server throttles.
pub async fn gather(remote: Option<&Remote>, local: &Local) -> Facts {
    let require_two_factor = (local.config.require_two_factor, local.config_source.clone());
    let Some(r) = remote else {
        return Facts {
            remote: None,
            require_two_factor,
        };
    };
    let roots = net::roots(&r.extra_roots);
    let mut cookies = Vec::new();
    let mut errors = Vec::new();
    let mut csrf_cookie = None;
    for path in ["/login", "/"] {
        match net::https(&r.url, &roots, Request::get(path)).await {
            Ok(reply) => {
                for c in reply.all("set-cookie") {
                    if csrf_cookie.is_none() {
                        csrf_cookie = csrf_pair(c);
                    }
                    cookies.push((format!("GET {path}"), c.to_string()));
                }
            }
            Err(e) => errors.push(format!("GET {path}: {e}")),
        }
    }
    let csrf = if r.probe_csrf {
        let body = serde_json::json!({
            "email": "acceptance-csrf-probe@example.invalid",
            "password": "acceptance-csrf-probe",
        });
        Some(net::https(&r.url, &roots, Request::post_json(LOGIN_API, &body)).await)
    } else {
        None
    };
    let throttle = if r.active {
        let result = match &csrf_cookie {
            Some(pair) => {
                let t = probe_throttling(r, &roots, pair, local).await;
                if let Ok((_, set)) = &t {
                    cookies.extend(set.iter().cloned());
                }
                t.map(|(t, _)| t)
            }
            None => Err("the sign-in page set no CSRF cookie to log in with".to_string()),
        };
        Some(result)
    } else {
        None
    };
    Facts {
        remote: Some(Seen {
            cookies,
            errors,
            csrf,
            throttle,
        }),
        require_two_factor,
    }
}

/// `(name, value)` of a `Set-Cookie` whose name mentions csrf.
fn csrf_pair(set_cookie: &str) -> Option<(String, String)> {
    let first = set_cookie.split(';').next()?;
    let (name, value) = first.split_once('=')?;
    let name = name.trim();
    (name.to_ascii_lowercase().contains("csrf") && !value.is_empty())
        .then(|| (name.to_string(), value.trim().to_string()))
}

/// Fails logins against fresh throwaway account names until the server answers 429 (or
/// [`MAX_PROBE_LOGINS`]); returns what it saw and the cookies the answers set.
async fn probe_throttling(
    r: &Remote,
    roots: &rustls::RootCertStore,
    (name, value): &(String, String),
    local: &Local,
) -> Result<(Throttle, Vec<(String, String)>), String> {
    let tag = crate::crypto::random::hex_id();
    let accounts = format!("acceptance-probe-{}-N@example.invalid", &tag[..8]);
    // One more than the configured per-address limit, when the config is known.
    let limit = local
        .config
        .login_ip_max_failures
        .saturating_add(1)
        .min(MAX_PROBE_LOGINS);
    let mut set = Vec::new();
    for n in 1..=limit {
        let body = serde_json::json!({
            "email": format!("acceptance-probe-{}-{n}@example.invalid", &tag[..8]),
            "password": format!("not-the-password-{tag}"),
        });
        let mut req = Request::post_json(LOGIN_API, &body);
        req.headers.push(("cookie", format!("{name}={value}")));
        req.headers.push(("x-csrf-token", value.clone()));
        let reply = net::https(&r.url, roots, req).await?;
        for c in reply.all("set-cookie") {
            set.push((format!("POST {LOGIN_API}"), c.to_string()));
        }
        match reply.status {
            429 => {
                let retry = reply.header("retry-after").map(str::to_string);
                return Ok((
                    Throttle {
                        attempts: n,
                        accounts,
                        limited: Some((reply.status, retry)),
                    },
                    set,
                ));
            }
            401 => {}
            403 if n == 1 => {
                return Err(format!(
                    "the first login was refused with 403 (CSRF token not accepted): {}",
                    reply.body.chars().take(200).collect::<String>()
                ))
            }
            other => return Err(format!("failed login {n} answered {other}, not 401 or 429")),
        }
    }
    Ok((
        Throttle {
            attempts: limit,
            accounts,
            limited: None,
        },
        set,
    ))
}

/// The attributes a `Set-Cookie` is missing or has wrongly.
pub fn cookie_problems(set_cookie: &str) -> Vec<String> {
    let mut parts = set_cookie.split(';').map(str::trim);
    let name = parts
        .next()
        .and_then(|p| p.split_once('=').map(|(n, _)| n.trim().to_string()))
        .unwrap_or_default();
    let attrs: Vec<(String, String)> = parts
        .map(|a| match a.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim().to_string()),
            None => (a.to_ascii_lowercase(), String::new()),
        })
        .collect();
    let has = |k: &str| attrs.iter().any(|(n, _)| n == k);
    let value = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut problems = Vec::new();
    if !name.starts_with("__Host-") {
        problems.push("no __Host- prefix".to_string());
    }
    if !has("httponly") {
        problems.push("no HttpOnly".into());
    }
    if !has("secure") {
        problems.push("no Secure".into());
    }
    match value("samesite") {
        Some(v) if v.eq_ignore_ascii_case("strict") => {}
        Some(v) => problems.push(format!("SameSite={v}, not Strict")),
        None => problems.push("no SameSite=Strict".into()),
    }
    match value("path") {
        Some("/") => {}
        Some(p) => problems.push(format!("Path={p}, not /")),
        None => problems.push("no Path=/".into()),
    }
    if let Some(d) = value("domain") {
        problems.push(format!("Domain={d} (must be host-only)"));
    }
    problems
}

fn seen(f: &Facts) -> Result<&Seen, Outcome> {
    f.remote.as_ref().ok_or_else(no_url)
}

/// Every sign-in `Set-Cookie` has the strict attributes.
pub fn cookie_flags(f: &Facts) -> Outcome {
    let s = match seen(f) {
        Ok(s) => s,
        Err(o) => return o,
    };
    if s.cookies.is_empty() {
        let why = if s.errors.is_empty() {
            "the sign-in flow set no cookie".to_string()
        } else {
            s.errors.join("; ")
        };
        return Outcome::warn(format!("no Set-Cookie seen to check: {why}"));
    }
    let mut bad = Vec::new();
    let mut names = Vec::new();
    for (source, c) in &s.cookies {
        let name = c.split('=').next().unwrap_or("").trim().to_string();
        let problems = cookie_problems(c);
        if problems.is_empty() {
            if !names.contains(&name) {
                names.push(name);
            }
        } else {
            bad.push(format!("{source} set {name}: {}", problems.join(", ")));
        }
    }
    if bad.is_empty() {
        Outcome::pass(format!(
            "{} Set-Cookie header(s) checked ({}): __Host-, HttpOnly, Secure, \
             SameSite=Strict, Path=/, no Domain",
            s.cookies.len(),
            names.join(", ")
        ))
    } else {
        Outcome::fail(bad.join("; "))
    }
}

/// A login POST without a CSRF token is refused.
pub fn csrf_enforced(f: &Facts) -> Outcome {
    let s = match seen(f) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let asked = format!("POST {LOGIN_API} without a CSRF token");
    match &s.csrf {
        None => Outcome::skip(
            "not probed by the appliance's own hourly check (each refusal is audited); run \
             `tundra acceptance run --section identity` to probe it",
        ),
        Some(Err(e)) => Outcome::fail(format!("{asked}: no answer: {e}")),
        Some(Ok(r)) if r.status == 403 => Outcome::pass(format!("{asked} → 403 (refused)")),
        Some(Ok(r)) => Outcome::fail(format!(
            "{asked} → {}: the request was processed instead of refused with 403",
            r.status
        )),
    }
}

/// Failed logins get throttled (`--active`).
pub fn login_throttling(f: &Facts) -> Outcome {
    let s = match seen(f) {
        Ok(s) => s,
        Err(o) => return o,
    };
    match &s.throttle {
        None => Outcome::skip(
            "needs --active (it makes failed logins against throwaway account names, which \
             throttles sign-in from this address for up to 15 minutes)",
        ),
        Some(Err(e)) => Outcome::fail(format!("the throttling probe could not finish: {e}")),
        Some(Ok(t)) => match &t.limited {
            Some((status, retry)) => Outcome::pass(format!(
                "--active: {} failed logins against throwaway accounts {}; attempt {} got \
                 {status} Retry-After: {}. Sign-in from this address stays throttled for a \
                 while.",
                t.attempts,
                t.accounts,
                t.attempts,
                retry.as_deref().unwrap_or("(none)")
            )),
            None => Outcome::fail(format!(
                "--active: {} failed logins against throwaway accounts {} were all answered \
                 401; no 429 or delay appeared",
                t.attempts, t.accounts
            )),
        },
    }
}

/// `require_two_factor` is on.
pub fn two_factor_required(f: &Facts) -> Outcome {
    let (on, source) = &f.require_two_factor;
    if *on {
        Outcome::pass(format!("require_two_factor = true ({source})"))
    } else {
        Outcome::fail(format!(
            "require_two_factor = false ({source}): owners and admins can act without a second factor"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_appliance_cookies_pass_and_loose_ones_are_named() {
        assert!(cookie_problems(
            "__Host-tundra_session=v; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=60"
        )
        .is_empty());
        let p = cookie_problems("sid=v; Domain=example.com; Path=/app; SameSite=Lax");
        for want in [
            "__Host-",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/app",
            "Domain",
        ] {
            assert!(p.iter().any(|x| x.contains(want)), "{want}: {p:?}");
        }
    }

    #[test]
    fn csrf_cookie_is_found() {
        assert_eq!(
            csrf_pair("__Host-tundra_csrf=abc; Path=/"),
            Some(("__Host-tundra_csrf".into(), "abc".into()))
        );
        assert_eq!(csrf_pair("sid=abc"), None);
    }
}
