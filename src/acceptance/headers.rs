//! `headers.*`: the security headers on the panel's pages.

use super::checks::Outcome;
use super::net::{self, Reply, Request};
use super::{no_url, Remote};

/// Pages fetched, and whether each is one a signed-in user sees.
pub const PAGES: &[(&str, bool)] = &[("/", false), ("/login", false), ("/account", true)];

/// HSTS max-age must be at least this (one year).
pub const MIN_HSTS: u64 = 31_536_000;

/// The fetched pages.
#[derive(Debug)]
pub struct Facts {
    /// `None` without `--url`.
    pub pages: Option<Vec<Page>>,
}

/// One fetched page.
#[derive(Debug)]
pub struct Page {
    /// Its path.
    pub path: &'static str,
    /// Whether signed-in users see it.
    pub authenticated: bool,
    /// The answer (fetched signed out), or why there was none.
    pub reply: Result<Reply, String>,
}

/// Fetches [`PAGES`] over verified HTTPS.
pub async fn gather(remote: Option<&Remote>) -> Facts {
    let Some(r) = remote else {
        return Facts { pages: None };
    };
    let roots = net::roots(&r.extra_roots);
    let mut pages = Vec::new();
    for (path, authenticated) in PAGES {
        pages.push(Page {
            path,
            authenticated: *authenticated,
            reply: net::https(&r.url, &roots, Request::get(path)).await,
        });
    }
    Facts { pages: Some(pages) }
}

/// Runs `judge` on every fetched page (or only authenticated ones) and fails on the first
/// page it rejects; the evidence names the page and what it sent.
fn each(
    f: &Facts,
    only_authenticated: bool,
    judge: impl Fn(&Reply) -> Result<String, String>,
) -> Outcome {
    let Some(pages) = &f.pages else {
        return no_url();
    };
    let chosen: Vec<&Page> = pages
        .iter()
        .filter(|p| p.authenticated || !only_authenticated)
        .collect();
    let mut passed = Vec::new();
    let mut errors = Vec::new();
    for p in &chosen {
        match &p.reply {
            Ok(r) => match judge(r) {
                Ok(seen) => passed.push(format!("{} {seen}", p.path)),
                Err(problem) => return Outcome::fail(format!("GET {}: {problem}", p.path)),
            },
            Err(e) => errors.push(format!("GET {}: {e}", p.path)),
        }
    }
    if passed.is_empty() {
        return Outcome::skip(format!(
            "no page could be fetched over verified HTTPS ({}); if the certificate is \
             private, pass --ca FILE",
            errors.join("; ")
        ));
    }
    let mut text = passed.join("; ");
    if !errors.is_empty() {
        text.push_str(&format!(" (not fetched: {})", errors.join("; ")));
    }
    Outcome::pass(text)
}

fn missing(name: &str) -> String {
    format!("no {name} header")
}

/// HSTS with max-age ≥ one year.
pub fn hsts(f: &Facts) -> Outcome {
    each(f, false, |r| {
        let v = r
            .header("strict-transport-security")
            .ok_or_else(|| missing("Strict-Transport-Security"))?;
        let age = v
            .split(';')
            .filter_map(|d| d.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("max-age"))
            .and_then(|(_, n)| n.trim().trim_matches('"').parse::<u64>().ok());
        match age {
            Some(a) if a >= MIN_HSTS => Ok(format!("max-age={a}")),
            Some(a) => Err(format!(
                "Strict-Transport-Security: {v}: max-age={a} is below {MIN_HSTS} (one year)"
            )),
            None => Err(format!("Strict-Transport-Security: {v}: no max-age")),
        }
    })
}

/// The CSP's problems, if any: `default-src` must be `'self'` or `'none'` (alone),
/// `frame-ancestors` present, no `unsafe-*` keywords and no wildcard sources anywhere.
pub fn csp_problems(csp: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let directives: Vec<(String, Vec<String>)> = csp
        .split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            let name = words.next()?.to_ascii_lowercase();
            Some((name, words.map(str::to_ascii_lowercase).collect()))
        })
        .collect();
    let get = |name: &str| directives.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    match get("default-src") {
        None => problems.push("no default-src".to_string()),
        Some(v) if v.len() == 1 && (v[0] == "'self'" || v[0] == "'none'") => {}
        Some(v) => problems.push(format!(
            "default-src is `{}`, not 'self' or stricter",
            v.join(" ")
        )),
    }
    if get("frame-ancestors").is_none() {
        problems.push("no frame-ancestors".into());
    }
    for (name, sources) in &directives {
        for s in sources {
            if s.starts_with("'unsafe-") {
                problems.push(format!("{name} allows {s}"));
            } else if s.contains('*') || s == "http:" || s == "https:" || s == "data:" {
                problems.push(format!("{name} allows the wildcard source {s}"));
            }
        }
    }
    problems
}

/// A strict CSP.
pub fn csp(f: &Facts) -> Outcome {
    each(f, false, |r| {
        let v = r
            .header("content-security-policy")
            .ok_or_else(|| missing("Content-Security-Policy"))?;
        let problems = csp_problems(v);
        if problems.is_empty() {
            Ok("CSP default-src 'self' with frame-ancestors, no unsafe or wildcard sources".into())
        } else {
            Err(format!(
                "Content-Security-Policy: {v}: {}",
                problems.join(", ")
            ))
        }
    })
}

/// `X-Content-Type-Options: nosniff`.
pub fn nosniff(f: &Facts) -> Outcome {
    each(f, false, |r| match r.header("x-content-type-options") {
        Some(v) if v.trim().eq_ignore_ascii_case("nosniff") => Ok("nosniff".into()),
        Some(v) => Err(format!("X-Content-Type-Options: {v}, not nosniff")),
        None => Err(missing("X-Content-Type-Options")),
    })
}

/// Framing denied by `X-Frame-Options` or CSP `frame-ancestors`.
pub fn frame_protection(f: &Facts) -> Outcome {
    each(f, false, |r| {
        let xfo = r
            .header("x-frame-options")
            .map(|v| v.trim().to_ascii_uppercase());
        let ancestors = r.header("content-security-policy").and_then(|csp| {
            csp.split(';')
                .map(str::trim)
                .find(|d| d.to_ascii_lowercase().starts_with("frame-ancestors"))
                .map(str::to_string)
        });
        let xfo_ok = matches!(xfo.as_deref(), Some("DENY") | Some("SAMEORIGIN"));
        let fa_ok = ancestors.as_deref().is_some_and(|d| {
            let d = d.to_ascii_lowercase();
            d.ends_with("'none'") || d.ends_with("'self'")
        });
        if xfo_ok || fa_ok {
            Ok(format!(
                "X-Frame-Options: {}; {}",
                xfo.as_deref().unwrap_or("(none)"),
                ancestors.as_deref().unwrap_or("no frame-ancestors")
            ))
        } else {
            Err(format!(
                "framing is allowed: X-Frame-Options {}, CSP {}",
                xfo.as_deref().unwrap_or("missing"),
                ancestors.as_deref().unwrap_or("has no frame-ancestors")
            ))
        }
    })
}

/// A referrer policy that does not leak panel URLs.
pub fn referrer_policy(f: &Facts) -> Outcome {
    const STRICT: &[&str] = &[
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    ];
    each(f, false, |r| {
        let v = r
            .header("referrer-policy")
            .ok_or_else(|| missing("Referrer-Policy"))?;
        // The last policy the browser understands wins; judge that one.
        let last = v.split(',').map(str::trim).next_back().unwrap_or("");
        if STRICT.contains(&last.to_ascii_lowercase().as_str()) {
            Ok(format!("Referrer-Policy: {v}"))
        } else {
            Err(format!("Referrer-Policy: {v} leaks URLs to other sites"))
        }
    })
}

/// No software version in `Server` or `X-Powered-By`.
pub fn no_version_leak(f: &Facts) -> Outcome {
    each(f, false, |r| {
        for name in ["server", "x-powered-by"] {
            if let Some(v) = r.header(name) {
                if v.chars().any(|c| c.is_ascii_digit()) {
                    return Err(format!("{name}: {v} names a version"));
                }
            }
        }
        Ok(match r.header("server") {
            Some(v) => format!("Server: {v} (no version)"),
            None => "no Server header".into(),
        })
    })
}

/// `Cache-Control: no-store` on authenticated pages.
pub fn no_store(f: &Facts) -> Outcome {
    each(f, true, |r| match r.header("cache-control") {
        Some(v)
            if v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-store")) =>
        {
            Ok(format!(
                "Cache-Control: {v} (fetched signed out, answered {})",
                r.status
            ))
        }
        Some(v) => Err(format!("Cache-Control: {v}, without no-store")),
        None => Err(missing("Cache-Control")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_appliance_csp_is_clean_and_weak_ones_are_named() {
        // The appliance's own policy (src/web/headers.rs).
        let own = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; \
                   object-src 'none'; base-uri 'none'";
        assert!(csp_problems(own).is_empty());
        let p = csp_problems("default-src *; script-src 'self' 'unsafe-inline'");
        assert!(p.iter().any(|x| x.contains("default-src")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("frame-ancestors")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("'unsafe-inline'")), "{p:?}");
        assert!(p.iter().any(|x| x.contains("wildcard")), "{p:?}");
    }
}
