//! The operator's saved login: which appliance, how it is trusted, and the API token.
//!
//! Location: `$TUNDRA_OPERATOR_CONFIG`, else `$XDG_CONFIG_HOME/tundra/operator.json`, else
//! `~/.config/tundra/operator.json`. The file holds a bearer token, so it is written 0600
//! in the call that creates it (a temp file in the same dir, fsynced, renamed over the old
//! one, so a crash leaves the old file or the new one, never half of either), its dir is
//! created 0700, and a file other users could read is refused rather than used.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::trust::TrustMode;
use super::url::ServerUrl;
use super::OperatorError;
use crate::crypto::Secret;

/// The variable that names the config file.
pub const CONFIG_ENV: &str = "TUNDRA_OPERATOR_CONFIG";
/// The file's format version.
const FORMAT: u32 = 1;
/// A config file is a few KiB (a CA PEM at most); anything far larger is not one.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// A saved login. `Debug` shows everything but the token.
#[derive(Debug)]
pub struct OperatorConfig {
    /// The appliance.
    pub server: ServerUrl,
    /// How its certificate is checked.
    pub trust: TrustMode,
    /// The API token (`tnd_live_…`).
    pub token: Secret<String>,
    /// The token's id (`tok_…`), when the CLI issued it; `None` for `--token-stdin`.
    pub token_id: Option<String>,
    /// Whose token it is.
    pub email: String,
    /// The team it acts in.
    pub team: String,
    /// Its role.
    pub role: String,
    /// Unix seconds after which the appliance refuses it, if known.
    pub expires: Option<i64>,
}

/// The file's JSON. The token is zeroed when this is dropped.
#[derive(Serialize, Deserialize)]
struct FileForm {
    version: u32,
    server: String,
    trust: TrustMode,
    token: String,
    #[serde(default)]
    token_id: Option<String>,
    email: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    expires: Option<i64>,
}

impl Drop for FileForm {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.token);
    }
}

/// Where the config lives, given the environment (`var` reads one variable).
pub fn config_path(var: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, OperatorError> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = set(CONFIG_ENV) {
        return Ok(p);
    }
    let base = match set("XDG_CONFIG_HOME").filter(|p| p.is_absolute()) {
        Some(xdg) => xdg,
        None => set("HOME")
            .ok_or_else(|| {
                OperatorError::Usage(format!(
                    "neither {CONFIG_ENV}, XDG_CONFIG_HOME nor HOME is set; set {CONFIG_ENV} \
                     to the file to keep the login in"
                ))
            })?
            .join(".config"),
    };
    Ok(base.join("tundra").join("operator.json"))
}

/// The config path for this process's environment.
pub fn default_path() -> Result<PathBuf, OperatorError> {
    config_path(|k| std::env::var_os(k))
}

fn config_error(path: &Path, message: impl Into<String>) -> OperatorError {
    OperatorError::Config {
        path: path.to_owned(),
        message: message.into(),
    }
}

impl OperatorConfig {
    /// Reads the config at `path`. A missing file is [`OperatorError::NotLoggedIn`]; one
    /// that group or others may access, or that another user owns, is refused.
    pub fn load(path: &Path) -> Result<Self, OperatorError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OperatorError::NotLoggedIn(path.to_owned()))
            }
            Err(e) => return Err(config_error(path, e.to_string())),
        };
        // Checked on the open handle, so the file read is the file checked.
        let meta = file
            .metadata()
            .map_err(|e| config_error(path, e.to_string()))?;
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(config_error(
                path,
                format!(
                    "mode {mode:04o} lets other users read your API token; refusing to use it. \
                     Fix: chmod 600 {} (and if someone may have read it, run `tundra logout` \
                     and log in again)",
                    path.display()
                ),
            ));
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(config_error(
                path,
                format!(
                    "owned by uid {}, not you (uid {me}); refusing to use it",
                    meta.uid()
                ),
            ));
        }
        let mut text = zeroize::Zeroizing::new(String::new());
        file.take(MAX_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| config_error(path, e.to_string()))?;
        let form: FileForm = serde_json::from_str(&text)
            .map_err(|e| config_error(path, format!("not an operator config: {e}")))?;
        if form.version != FORMAT {
            return Err(config_error(
                path,
                format!(
                    "format version {} is not one this tundra reads ({FORMAT}); log in again",
                    form.version
                ),
            ));
        }
        let server = ServerUrl::parse(&form.server)
            .map_err(|e| config_error(path, format!("server: {e}")))?;
        Ok(Self {
            server,
            trust: form.trust.clone(),
            token: Secret::new(form.token.clone()),
            token_id: form.token_id.clone(),
            email: form.email.clone(),
            team: form.team.clone(),
            role: form.role.clone(),
            expires: form.expires,
        })
    }

    /// Writes the config to `path` atomically, the file 0600 from its creation and a new
    /// dir 0700.
    pub fn save(&self, path: &Path) -> Result<(), OperatorError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| config_error(&dir, format!("cannot create the directory: {e}")))?;
        let form = FileForm {
            version: FORMAT,
            server: self.server.to_string(),
            trust: self.trust.clone(),
            token: self.token.expose().clone(),
            token_id: self.token_id.clone(),
            email: self.email.clone(),
            team: self.team.clone(),
            role: self.role.clone(),
            expires: self.expires,
        };
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec_pretty(&form).map_err(|e| config_error(path, e.to_string()))?,
        );
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "operator.json".into());
        let tmp = dir.join(format!(
            ".{name}.{}.tmp",
            hex::encode(crate::crypto::random::bytes::<8>())
        ));
        let written = write_new(&tmp, &json).and_then(|()| fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(config_error(path, format!("cannot write it: {e}")));
        }
        // The rename is durable once the directory entry is.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Creates `path` (which must not exist) 0600 and writes `bytes` to disk.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Deletes the config at `path`; `false` when there was none.
pub fn remove(path: &Path) -> Result<bool, OperatorError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(config_error(path, format!("cannot delete it: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn sample() -> OperatorConfig {
        OperatorConfig {
            server: ServerUrl::parse("https://panel.example.com").unwrap(),
            trust: TrustMode::Pin {
                sha256: "ab".repeat(32),
            },
            token: Secret::new("tnd_live_secretsecret".into()),
            token_id: Some(format!("tok_{}", "0".repeat(32))),
            email: "otto@example.com".into(),
            team: "team_1".into(),
            role: "operator".into(),
            expires: Some(1_900_000_000),
        }
    }

    #[test]
    fn the_path_follows_the_variable_then_xdg_then_home() {
        fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        }
        let all = [
            (CONFIG_ENV, "/tmp/op.json"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(
            config_path(env(&all)).unwrap(),
            PathBuf::from("/tmp/op.json")
        );
        let xdg = [(CONFIG_ENV, ""), ("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(
            config_path(env(&xdg)).unwrap(),
            PathBuf::from("/x/tundra/operator.json")
        );
        // A relative XDG_CONFIG_HOME is invalid by the XDG spec and ignored.
        let home = [("XDG_CONFIG_HOME", "rel"), ("HOME", "/h")];
        assert_eq!(
            config_path(env(&home)).unwrap(),
            PathBuf::from("/h/.config/tundra/operator.json")
        );
        assert!(config_path(env(&[])).is_err());
    }

    #[test]
    fn saved_0600_in_a_new_0700_dir_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("new/tundra/operator.json");
        sample().save(&path).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let back = OperatorConfig::load(&path).unwrap();
        assert_eq!(back.token.expose(), "tnd_live_secretsecret");
        assert_eq!(back.trust, sample().trust);
        assert_eq!(back.expires, Some(1_900_000_000));
        assert!(
            !format!("{back:?}").contains("secretsecret"),
            "Debug redacts the token"
        );
        // Saving again replaces the file and leaves no temp file behind.
        sample().save(&path).unwrap();
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_file_others_can_read_is_refused_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("operator.json");
        sample().save(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = OperatorConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("0644") && err.contains("chmod 600"), "{err}");
        assert!(matches!(
            OperatorConfig::load(&tmp.path().join("none.json")),
            Err(OperatorError::NotLoggedIn(_))
        ));
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
    }
}
