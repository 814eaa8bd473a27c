//! The security headers every HTTPS response carries (SPEC §4), set in one place.

use http::header::{
    HeaderMap, HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};

/// `Content-Security-Policy`: same-origin everything, no inline script or style, no framing.
pub const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; \
                       object-src 'none'; base-uri 'none'";
/// `Strict-Transport-Security`: one year, subdomains included.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";
/// `Permissions-Policy`: every powerful feature the panel does not use, denied.
pub const PERMISSIONS: &str = "accelerometer=(), autoplay=(), camera=(), display-capture=(), \
                               geolocation=(), gyroscope=(), magnetometer=(), microphone=(), \
                               midi=(), payment=(), usb=(), xr-spatial-tracking=()";

/// Sets the security headers on `headers`, replacing any a handler set. `Cache-Control` is
/// `no-store` unless the handler chose a cache policy (only public static assets do).
pub fn apply(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(headers, STRICT_TRANSPORT_SECURITY, HSTS);
    set(headers, CONTENT_SECURITY_POLICY, CSP);
    set(headers, X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, REFERRER_POLICY, "no-referrer");
    set(headers, X_FRAME_OPTIONS, "DENY");
    set(
        headers,
        HeaderName::from_static("permissions-policy"),
        PERMISSIONS,
    );
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        headers,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    if !headers.contains_key(CACHE_CONTROL) {
        set(headers, CACHE_CONTROL, "no-store");
    }
    headers.remove(http::header::SERVER);
    headers.remove(HeaderName::from_static("x-powered-by"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
        h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[test]
    fn sets_exactly_the_spec_headers() {
        let mut h = HeaderMap::new();
        h.insert(http::header::SERVER, HeaderValue::from_static("hyper/1.0"));
        h.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src *"),
        );
        apply(&mut h);
        assert_eq!(
            get(&h, "strict-transport-security"),
            "max-age=31536000; includeSubDomains"
        );
        let csp = get(&h, "content-security-policy");
        assert!(csp.starts_with("default-src 'self'"));
        for part in [
            "frame-ancestors 'none'",
            "form-action 'self'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(part), "{part} missing from {csp}");
        }
        assert!(!csp.contains("unsafe-") && !csp.contains('*'));
        assert_eq!(get(&h, "x-content-type-options"), "nosniff");
        assert_eq!(get(&h, "referrer-policy"), "no-referrer");
        assert_eq!(get(&h, "x-frame-options"), "DENY");
        assert!(get(&h, "permissions-policy").contains("camera=()"));
        assert_eq!(get(&h, "cache-control"), "no-store");
        assert!(h.get("server").is_none());
    }

    #[test]
    fn keeps_an_explicit_cache_policy() {
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        apply(&mut h);
        assert_eq!(get(&h, "cache-control"), "no-cache");
    }
}
