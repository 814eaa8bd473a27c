//! `agent.toml`: what this host allows, whatever the appliance asks (SPEC §4 "Agent local
//! enforcement"). Unknown keys and bad values are errors naming the key.

use std::path::{Component, Path, PathBuf};

use super::{account, AgentError};

/// The keys `agent.toml` may hold.
const KEYS: &[&str] = &[
    "shell",
    "tunnel_ports",
    "file_root",
    "run_as",
    "servers",
    "commands",
    "command_timeout_max_s",
    "command_output_max_bytes",
];

/// Default and bounds of `command_timeout_max_s`.
pub const COMMAND_TIMEOUT_MAX_S: RangeDefault = RangeDefault {
    default: 3600,
    min: 1,
    max: 86_400,
};

/// Default and bounds of `command_output_max_bytes`.
pub const COMMAND_OUTPUT_MAX_BYTES: RangeDefault = RangeDefault {
    default: 1 << 20,
    min: 0,
    max: 16 << 20,
};

/// A numeric key's default and its allowed range (inclusive).
#[derive(Debug, Clone, Copy)]
pub struct RangeDefault {
    /// Used when the key is absent.
    pub default: u64,
    /// The smallest accepted value.
    pub min: u64,
    /// The largest accepted value.
    pub max: u64,
}

/// The file name in the state dir.
pub const CONFIG_FILE: &str = "agent.toml";

/// The agent's local policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Whether interactive shells may be opened (default: no).
    pub shell: bool,
    /// Ports on localhost tunnels may reach (default: none).
    pub tunnel_ports: Vec<u16>,
    /// Root of file operations (absolute, no `..`); unset: none allowed.
    pub file_root: Option<PathBuf>,
    /// The user commands run as; unset: the agent's own user.
    pub run_as: Option<String>,
    /// Rendezvous addresses to use instead of the enrolled ones (`host:port`).
    pub servers: Vec<String>,
    /// Whether non-interactive commands may run at all (default: yes).
    pub commands: bool,
    /// The longest a command may run; a longer `timeout_s` is clamped to it.
    pub command_timeout_max_s: u64,
    /// The most stdout + stderr bytes kept per command; the smaller of this and the request's
    /// cap applies.
    pub command_output_max_bytes: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            shell: false,
            tunnel_ports: Vec::new(),
            file_root: None,
            run_as: None,
            servers: Vec::new(),
            commands: true,
            command_timeout_max_s: COMMAND_TIMEOUT_MAX_S.default,
            command_output_max_bytes: COMMAND_OUTPUT_MAX_BYTES.default,
        }
    }
}

/// What a new enrollment writes when there is no `agent.toml` yet.
pub const DEFAULT_CONFIG: &str = "\
# Tundra agent local policy. The agent enforces this whatever the appliance asks.
# Interactive shells on this host:
shell = false
# Ports on localhost that tunnels may reach, e.g. [22, 5432]:
tunnel_ports = []
# Root directory for file operations (absolute); unset: none.
# file_root = \"/srv\"
# The user commands run as; unset: the agent's own user.
# run_as = \"tundra-agent\"
# Non-interactive commands sent by the appliance (after its own policy checks):
commands = true
# The longest a command may run, in seconds (1 to 86400); longer requests are clamped:
command_timeout_max_s = 3600
# The most output (stdout and stderr together) kept per command, in bytes (at most 16 MiB):
command_output_max_bytes = 1048576
";

impl AgentConfig {
    /// Reads and checks `path`; a missing file is the defaults.
    pub fn load(path: &Path) -> Result<Self, AgentError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(AgentError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Self::parse(path, &text)
    }

    /// Parses and checks the text of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, AgentError> {
        let err = |key: &str, message: String| AgentError::Config {
            path: path.to_owned(),
            key: key.to_string(),
            message,
        };
        let table: toml::Table =
            toml::from_str(text).map_err(|e| err("(file)", e.message().to_string()))?;
        if let Some(k) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(err(
                k,
                format!("unknown key; known keys: {}", KEYS.join(", ")),
            ));
        }
        fn field<T: serde::de::DeserializeOwned>(
            table: &toml::Table,
            key: &str,
        ) -> Result<Option<T>, String> {
            table
                .get(key)
                .map(|v| v.clone().try_into::<T>().map_err(|e| e.to_string()))
                .transpose()
        }
        let c = AgentConfig {
            shell: field(&table, "shell")
                .map_err(|m| err("shell", m))?
                .unwrap_or(false),
            tunnel_ports: field(&table, "tunnel_ports")
                .map_err(|m| err("tunnel_ports", m))?
                .unwrap_or_default(),
            file_root: field(&table, "file_root").map_err(|m| err("file_root", m))?,
            run_as: field(&table, "run_as").map_err(|m| err("run_as", m))?,
            servers: field(&table, "servers")
                .map_err(|m| err("servers", m))?
                .unwrap_or_default(),
            commands: field(&table, "commands")
                .map_err(|m| err("commands", m))?
                .unwrap_or(true),
            command_timeout_max_s: bounded(&table, "command_timeout_max_s", COMMAND_TIMEOUT_MAX_S)
                .map_err(|m| err("command_timeout_max_s", m))?,
            command_output_max_bytes: bounded(
                &table,
                "command_output_max_bytes",
                COMMAND_OUTPUT_MAX_BYTES,
            )
            .map_err(|m| err("command_output_max_bytes", m))?,
        };
        let mut seen = std::collections::BTreeSet::new();
        for p in &c.tunnel_ports {
            if *p == 0 {
                return Err(err("tunnel_ports", "0 is not a port".into()));
            }
            if !seen.insert(*p) {
                return Err(err("tunnel_ports", format!("{p} is listed twice")));
            }
        }
        if let Some(root) = &c.file_root {
            let clean = root.is_absolute()
                && root
                    .components()
                    .all(|c| !matches!(c, Component::ParentDir | Component::CurDir));
            if !clean {
                return Err(err(
                    "file_root",
                    format!(
                        "{} must be an absolute path without '.' or '..'",
                        root.display()
                    ),
                ));
            }
        }
        if let Some(user) = &c.run_as {
            let valid = user.len() <= 32
                && user
                    .chars()
                    .next()
                    .is_some_and(|ch| ch.is_ascii_lowercase() || ch == '_')
                && user
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "_-".contains(ch));
            if !valid {
                return Err(err("run_as", format!("{user:?} is not a user name")));
            }
            if !user_exists(user) {
                return Err(err("run_as", format!("no user {user:?} on this host")));
            }
        }
        for s in &c.servers {
            let ok = s
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                return Err(err("servers", format!("{s:?} is not host:port")));
            }
        }
        Ok(c)
    }
}

/// An integer key within `range`, or its default when absent.
fn bounded(table: &toml::Table, key: &str, range: RangeDefault) -> Result<u64, String> {
    let Some(value) = table.get(key) else {
        return Ok(range.default);
    };
    let n = value
        .as_integer()
        .ok_or_else(|| format!("expected an integer, found {}", value.type_str()))?;
    u64::try_from(n)
        .ok()
        .filter(|n| (range.min..=range.max).contains(n))
        .ok_or_else(|| format!("{n} is outside {}..={}", range.min, range.max))
}

fn user_exists(name: &str) -> bool {
    account::read_passwd().is_ok_and(|p| account::by_name(&p, name).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<AgentConfig, AgentError> {
        AgentConfig::parse(Path::new("agent.toml"), t)
    }

    #[test]
    fn the_shipped_default_parses_to_the_defaults() {
        assert_eq!(parse(DEFAULT_CONFIG).unwrap(), AgentConfig::default());
    }

    #[test]
    fn command_keys_default_and_accept_their_bounds() {
        let c = parse("").unwrap();
        assert!(c.commands);
        assert_eq!(c.command_timeout_max_s, 3600);
        assert_eq!(c.command_output_max_bytes, 1 << 20);
        let c = parse(
            "commands = false\ncommand_timeout_max_s = 86400\ncommand_output_max_bytes = 16777216",
        )
        .unwrap();
        assert!(!c.commands);
        assert_eq!(c.command_timeout_max_s, 86_400);
        assert_eq!(c.command_output_max_bytes, 16 << 20);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("tunnel_ports = [0]", "tunnel_ports"),
            ("tunnel_ports = [22, 22]", "tunnel_ports"),
            ("tunnel_ports = [70000]", "tunnel_ports"),
            ("file_root = \"srv\"", "file_root"),
            ("file_root = \"/srv/../etc\"", "file_root"),
            ("run_as = \"Root!\"", "run_as"),
            ("run_as = \"no-such-user-here\"", "run_as"),
            ("servers = [\"nohost\"]", "servers"),
            ("shel = true", "shel"),
            ("commands = \"yes\"", "commands"),
            ("command_timeout_max_s = 0", "command_timeout_max_s"),
            ("command_timeout_max_s = 86401", "command_timeout_max_s"),
            ("command_timeout_max_s = \"1h\"", "command_timeout_max_s"),
            ("command_output_max_bytes = -1", "command_output_max_bytes"),
            (
                "command_output_max_bytes = 16777217",
                "command_output_max_bytes",
            ),
        ] {
            match parse(text) {
                Err(AgentError::Config { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
