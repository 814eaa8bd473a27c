//! The appliance's address as operators give it: `https://host[:port]`.

use std::fmt;

use super::OperatorError;

/// A parsed `https://host[:port]` (no path, query or credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    host: String,
    port: u16,
}

impl ServerUrl {
    /// Parses `s`; anything but an `https` origin is refused with the reason.
    pub fn parse(s: &str) -> Result<Self, OperatorError> {
        let bad = |why: &str| {
            OperatorError::Usage(format!(
                "--server {s:?}: {why} (expected https://host[:port])"
            ))
        };
        let uri: http::Uri = s.trim().parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("https") => {}
            Some(_) => return Err(bad("the API is served over https only")),
            None => return Err(bad("no scheme")),
        }
        if !uri.path().trim_matches('/').is_empty() || uri.query().is_some() {
            return Err(bad("give the origin only, without a path"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials do not belong in the URL"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Self {
            host,
            port: uri.port_u16().unwrap_or(443),
        })
    }

    /// The host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `Host` header value: the host, bracketed if IPv6, and the port unless 443.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 443 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "https://{}", self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_and_print_canonically() {
        let u = ServerUrl::parse("https://Panel.Example.com").unwrap();
        assert_eq!((u.host(), u.port()), ("panel.example.com", 443));
        assert_eq!(u.to_string(), "https://panel.example.com");
        let u = ServerUrl::parse("https://localhost:8443/").unwrap();
        assert_eq!(u.authority(), "localhost:8443");
        let u = ServerUrl::parse("https://[::1]:8443").unwrap();
        assert_eq!((u.host(), u.authority().as_str()), ("::1", "[::1]:8443"));
    }

    #[test]
    fn anything_but_an_https_origin_is_refused_with_the_reason() {
        for (input, why) in [
            ("http://panel.example.com", "https only"),
            ("panel.example.com", "no scheme"),
            ("https://panel.example.com/api", "without a path"),
            ("https://u:p@panel.example.com", "credentials"),
        ] {
            let err = ServerUrl::parse(input).unwrap_err().to_string();
            assert!(
                err.contains(why) && err.contains("--server"),
                "{input}: {err}"
            );
        }
    }
}
