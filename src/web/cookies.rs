//! The appliance's cookies: `__Host-` prefixed (so no `Domain`, `Path=/`, `Secure` are
//! enforced by browsers), `SameSite=Strict`, and `HttpOnly` for the session.

use http::header::COOKIE;
use http::HeaderMap;

/// The session cookie's name.
pub const SESSION: &str = "__Host-tundra_session";
/// The CSRF double-submit cookie's name.
pub const CSRF: &str = "__Host-tundra_csrf";

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `Set-Cookie` for the session: HttpOnly, Secure, SameSite=Strict, Path=/, lives
/// `max_age_secs`.
pub fn session(value: &str, max_age_secs: i64) -> String {
    format!("{SESSION}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}")
}

/// `Set-Cookie` for the CSRF token. HttpOnly too: pages carry the token in their forms and
/// API clients get it in the login response, so no script ever needs to read the cookie.
pub fn csrf(value: &str) -> String {
    format!("{CSRF}={value}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// Appends `cookie` (a `Set-Cookie` value from this module) to a response.
pub fn set(res: &mut axum::response::Response, cookie: &str) {
    if let Ok(v) = http::HeaderValue::from_str(cookie) {
        res.headers_mut().append(http::header::SET_COOKIE, v);
    }
}

/// `Set-Cookie` that deletes cookie `name`.
pub fn clear(name: &str) -> String {
    format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_many() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; __Host-tundra_session=abc".parse().unwrap());
        h.append(COOKIE, "__Host-tundra_csrf=xyz".parse().unwrap());
        assert_eq!(get(&h, SESSION).as_deref(), Some("abc"));
        assert_eq!(get(&h, CSRF).as_deref(), Some("xyz"));
        assert_eq!(get(&h, "missing"), None);
    }

    #[test]
    fn attributes_are_strict() {
        let s = session("v", 60);
        for part in ["__Host-", "Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
            assert!(s.contains(part), "{part}");
        }
        assert!(!s.contains("Domain"));
        assert!(csrf("t").contains("SameSite=Strict"));
    }
}
