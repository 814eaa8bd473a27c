use super::*;

fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn write(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

#[test]
fn defaults_match_the_spec() {
    let c = Config::load(None, vars(&[])).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("./tundra-data"));
    assert_eq!(c.panel_addr.to_string(), "127.0.0.1:8443");
    assert_eq!(c.redirect_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(c.agent_addr.to_string(), "127.0.0.1:7447");
    assert_eq!(c.public_host, "localhost");
    assert_eq!(c.public_origin(), "https://localhost:8443");
    assert_eq!(c.min_agent_version, env!("CARGO_PKG_VERSION"));
    let cidrs: Vec<String> = c
        .trusted_agent_cidrs
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(cidrs, ["127.0.0.0/8", "::1/128"]);
}

#[test]
fn keys_table_matches_config_fields() {
    let json = serde_json::to_value(Config::default()).unwrap();
    let mut fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
    fields.sort_unstable();
    keys.sort_unstable();
    assert_eq!(fields, keys);
}

#[test]
fn file_then_env_override() {
    let f = write("panel_addr = \"0.0.0.0:443\"\npublic_host = \"panel.example.com\"\n");
    let c = Config::load(
        Some(f.path()),
        vars(&[
            ("TUNDRA_PUBLIC_HOST", "other.example.com"),
            ("TUNDRA_TRUSTED_AGENT_CIDRS", "10.0.0.0/8, 192.168.1.0/24"),
            ("TUNDRA_MAX_CONNECTIONS_PER_IP", "5"),
            ("PATH", "/usr/bin"),
            ("TUNDRA_LOG", "debug"),
            // The operator CLI's config file, on a laptop that also runs `serve`.
            (
                "TUNDRA_OPERATOR_CONFIG",
                "/home/o/.config/tundra/operator.json",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(c.panel_addr.port(), 443);
    assert_eq!(c.public_host, "other.example.com");
    assert_eq!(c.public_origin(), "https://other.example.com");
    assert_eq!(c.trusted_agent_cidrs.len(), 2);
    assert_eq!(c.max_connections_per_ip, 5);
}

#[test]
fn unknown_file_key_is_named() {
    let f = write("panel_adr = \"0.0.0.0:443\"\n");
    let err = Config::load(Some(f.path()), vars(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("panel_adr"), "{err}");
}

#[test]
fn unknown_env_var_is_named() {
    let err = Config::load(None, vars(&[("TUNDRA_PANEL_ADR", "x")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("TUNDRA_PANEL_ADR") && err.contains("panel_adr"),
        "{err}"
    );
}

#[test]
fn bad_values_are_named() {
    for (var, value, needle) in [
        ("TUNDRA_PANEL_ADDR", "nowhere", "panel_addr"),
        ("TUNDRA_MAX_CONNECTIONS", "lots", "TUNDRA_MAX_CONNECTIONS"),
        (
            "TUNDRA_TRUSTED_AGENT_CIDRS",
            "10.0.0.0/33",
            "trusted_agent_cidrs",
        ),
        ("TUNDRA_PUBLIC_HOST", "bad host", "public_host"),
        ("TUNDRA_MIN_AGENT_VERSION", "one", "min_agent_version"),
        ("TUNDRA_IDLE_TIMEOUT_SECS", "0", "idle_timeout_secs"),
        ("TUNDRA_TLS_CERT", "/x.pem", "tls_key"),
    ] {
        let err = Config::load(None, vars(&[(var, value)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{var}={value}: {err}");
    }
}

#[test]
fn malformed_toml_is_reported_with_the_file() {
    let f = write("panel_addr = \n");
    let err = Config::load(Some(f.path()), vars(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&f.path().display().to_string()), "{err}");
}

#[test]
fn missing_file_is_reported() {
    let err = Config::load(Some(Path::new("/nonexistent/tundra.toml")), vars(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/tundra.toml"), "{err}");
}

#[test]
fn versions_parse() {
    assert_eq!(parse_version("1.2.3"), Some((1, 2, 3)));
    assert_eq!(parse_version("0.1.0-beta.1"), Some((0, 1, 0)));
    assert_eq!(parse_version("1.2"), None);
    assert_eq!(parse_version("1.2.3.4"), None);
}

#[test]
fn served_names_include_loopback() {
    let c = Config {
        public_host: "panel.example.com".into(),
        hostnames: vec!["LOCALHOST".into(), "10.1.2.3".into()],
        ..Config::default()
    };
    assert_eq!(
        c.served_names(),
        [
            "panel.example.com",
            "LOCALHOST",
            "10.1.2.3",
            "127.0.0.1",
            "::1"
        ]
    );
}

#[test]
fn webhook_keys_have_safe_defaults_and_the_issue_alias() {
    let c = Config::load(None, vars(&[])).unwrap();
    assert!(!c.webhook_allow_loopback_http);
    assert!(!c.webhook_allow_private_targets);
    assert_eq!(c.webhook_timeout_secs, 10);
    assert_eq!(c.webhook_max_attempts, 8);
    assert_eq!(c.webhook_ca_file, None);
    for var in [
        "TUNDRA_WEBHOOKS_ALLOW_LOOPBACK_HTTP",
        "TUNDRA_WEBHOOK_ALLOW_LOOPBACK_HTTP",
    ] {
        let c = Config::load(None, vars(&[(var, "true")])).unwrap();
        assert!(c.webhook_allow_loopback_http, "{var}");
    }
    let c = Config::load(
        None,
        vars(&[("TUNDRA_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")]),
    )
    .unwrap();
    assert!(c.webhook_allow_private_targets);
}

#[test]
fn bad_webhook_values_are_named() {
    let not_pem = write("hello\n");
    let not_pem = not_pem.path().to_str().unwrap().to_string();
    for (var, value, needle) in [
        (
            "TUNDRA_WEBHOOKS_ALLOW_LOOPBACK_HTTP",
            "yes",
            "TUNDRA_WEBHOOKS_ALLOW_LOOPBACK_HTTP",
        ),
        ("TUNDRA_WEBHOOK_TIMEOUT_SECS", "0", "webhook_timeout_secs"),
        (
            "TUNDRA_WEBHOOK_TIMEOUT_SECS",
            "9999",
            "webhook_timeout_secs",
        ),
        ("TUNDRA_WEBHOOK_MAX_ATTEMPTS", "0", "webhook_max_attempts"),
        ("TUNDRA_WEBHOOK_MAX_ATTEMPTS", "500", "webhook_max_attempts"),
        (
            "TUNDRA_WEBHOOK_CA_FILE",
            "/nonexistent/ca.pem",
            "webhook_ca_file",
        ),
        (
            "TUNDRA_WEBHOOK_CA_FILE",
            not_pem.as_str(),
            "webhook_ca_file",
        ),
    ] {
        let err = Config::load(None, vars(&[(var, value)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{var}={value}: {err}");
    }
}
