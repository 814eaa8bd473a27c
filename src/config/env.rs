//! `TUNDRA_*` environment overrides: one table of keys and how each is parsed.

use super::ConfigError;

/// How an environment value becomes a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Taken as text.
    Str,
    /// A base-10 integer.
    Int,
    /// A comma-separated list of text items.
    List,
    /// `true` or `false`.
    Bool,
}

/// Every config key with the kind of its value; `TUNDRA_<KEY>` overrides `<key>`.
/// A unit test keeps this table and [`super::Config`]'s fields identical.
pub const KEYS: &[(&str, Kind)] = &[
    ("data_dir", Kind::Str),
    ("panel_addr", Kind::Str),
    ("redirect_addr", Kind::Str),
    ("agent_addr", Kind::Str),
    ("public_host", Kind::Str),
    ("public_port", Kind::Int),
    ("hostnames", Kind::List),
    ("trusted_agent_cidrs", Kind::List),
    ("tls_cert", Kind::Str),
    ("tls_key", Kind::Str),
    ("min_agent_version", Kind::Str),
    ("agent_public_addrs", Kind::List),
    ("max_agent_connections", Kind::Int),
    ("agent_handshakes_per_ip_per_min", Kind::Int),
    ("max_connections_per_ip", Kind::Int),
    ("max_connections", Kind::Int),
    ("tls_handshake_timeout_secs", Kind::Int),
    ("header_read_timeout_secs", Kind::Int),
    ("idle_timeout_secs", Kind::Int),
    ("shutdown_grace_secs", Kind::Int),
    ("login_lockout_failures", Kind::Int),
    ("login_lockout_window_secs", Kind::Int),
    ("login_lockout_secs", Kind::Int),
    ("login_ip_max_failures", Kind::Int),
    ("login_ip_window_secs", Kind::Int),
    ("login_delay_after_failures", Kind::Int),
    ("login_delay_base_secs", Kind::Int),
    ("login_delay_max_secs", Kind::Int),
    ("hash_pool_slots", Kind::Int),
    ("hash_queue_timeout_ms", Kind::Int),
    ("require_two_factor", Kind::Bool),
    ("self_check_interval_secs", Kind::Int),
    ("audit_head_interval_secs", Kind::Int),
    ("command_rate_limit_per_hour", Kind::Int),
    ("command_output_max_bytes", Kind::Int),
    ("command_queue_ttl_secs", Kind::Int),
    ("command_default_timeout_secs", Kind::Int),
    ("webhook_allow_loopback_http", Kind::Bool),
    ("webhook_allow_private_targets", Kind::Bool),
    ("webhook_timeout_secs", Kind::Int),
    ("webhook_max_attempts", Kind::Int),
    ("webhook_ca_file", Kind::Str),
];

/// Variables that name a key other than their suffix (the names issues and docs used).
pub const ALIASES: &[(&str, &str)] = &[(
    "TUNDRA_WEBHOOKS_ALLOW_LOOPBACK_HTTP",
    "webhook_allow_loopback_http",
)];

/// `TUNDRA_*` variables that are not config keys but are read elsewhere.
pub const NON_CONFIG_ENV: &[&str] = &[
    "TUNDRA_LOG",
    "TUNDRA_CONFIG",
    "TUNDRA_AGENT_STATE_DIR",
    "TUNDRA_OPERATOR_CONFIG",
];

/// Puts every `TUNDRA_*` variable of `vars` into `table`, refusing unknown ones.
pub(super) fn overlay(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (var, value) in vars {
        let Some(suffix) = var.strip_prefix("TUNDRA_") else {
            continue;
        };
        if NON_CONFIG_ENV.contains(&var.as_str()) {
            continue;
        }
        let key = match ALIASES.iter().find(|(v, _)| *v == var) {
            Some((_, key)) => (*key).to_string(),
            None => suffix.to_ascii_lowercase(),
        };
        let Some((_, kind)) = KEYS.iter().find(|(k, _)| *k == key) else {
            return Err(ConfigError::UnknownEnv { var, key });
        };
        let parsed = match kind {
            Kind::Str => toml::Value::String(value),
            Kind::Int => value
                .trim()
                .parse::<i64>()
                .map(toml::Value::Integer)
                .map_err(|_| ConfigError::BadEnv {
                    var: var.clone(),
                    message: format!("{value:?} is not an integer"),
                })?,
            Kind::Bool => match value.trim() {
                "true" => toml::Value::Boolean(true),
                "false" => toml::Value::Boolean(false),
                other => {
                    return Err(ConfigError::BadEnv {
                        var,
                        message: format!("{other:?} is not true or false"),
                    })
                }
            },
            Kind::List => toml::Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_string()))
                    .collect(),
            ),
        };
        table.insert(key, parsed);
    }
    Ok(())
}
