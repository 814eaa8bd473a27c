//! `storage.*`: the data dir's and master key's permissions and the key's integrity.
//!
//! The service user is taken to be the data dir's owner: `serve` refuses a data dir owned
//! by anyone but the user it runs as, so a running appliance proves that equation.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::checks::Outcome;
use super::Local;
use crate::crypto::master_key::{self, MasterKey};
use crate::crypto::Secret;

/// The master key's file name in the data dir.
pub const MASTER_KEY: &str = "master.key";
/// The store's file name in the data dir.
pub const STORE: &str = "tundra.redb";
/// How deep the world-readable scan descends.
const MAX_DEPTH: usize = 4;

/// A file's metadata as the checks need it.
#[derive(Debug, Clone)]
pub struct Meta {
    /// Permission bits.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// A regular file (not a dir, socket or link).
    pub file: bool,
    /// A socket (modes of sockets are judged like files).
    pub socket: bool,
}

impl Meta {
    fn of(m: &std::fs::Metadata) -> Self {
        Self {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            file: m.file_type().is_file(),
            socket: m.file_type().is_socket(),
        }
    }
}

/// What was read from the data dir.
#[derive(Debug)]
pub struct Facts {
    /// The data dir.
    pub dir: PathBuf,
    /// The data dir's metadata, or why the checks cannot run.
    pub dir_meta: Result<Meta, String>,
    /// Entries under the data dir (relative path, metadata).
    pub entries: Vec<(String, Meta)>,
    /// The master key file's bytes (kept in a [`Secret`]), or why they could not be read.
    pub key: Result<Secret<Vec<u8>>, String>,
}

/// Reads the data dir's metadata and the master key.
pub fn gather(local: &Local) -> Facts {
    let dir = local.data_dir.clone();
    let dir_meta = match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(Meta::of(&m)),
        Ok(_) => Err(format!("{} is not a directory", dir.display())),
        Err(e) => Err(format!(
            "cannot read the data dir {}: {e}; pass --data-dir or --config (and run as root \
             or the service user)",
            dir.display()
        )),
    };
    let mut entries = Vec::new();
    if dir_meta.is_ok() {
        walk(&dir, "", 0, &mut entries);
    }
    let key_path = dir.join(MASTER_KEY);
    let key = std::fs::read(&key_path)
        .map(Secret::new)
        .map_err(|e| format!("cannot read {}: {e}", key_path.display()));
    Facts {
        dir,
        dir_meta,
        entries,
        key,
    }
}

fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<(String, Meta)>) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    let mut items: Vec<_> = read.filter_map(Result::ok).collect();
    items.sort_by_key(|e| e.file_name());
    for e in items {
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        let Ok(m) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if m.is_dir() && depth < MAX_DEPTH {
            walk(&e.path(), &format!("{name}/"), depth + 1, out);
        }
        out.push((name, Meta::of(&m)));
    }
}

fn entry<'a>(f: &'a Facts, name: &str) -> Option<&'a Meta> {
    f.entries.iter().find(|(n, _)| n == name).map(|(_, m)| m)
}

/// The data dir's metadata, or the SKIP that says why it is missing.
fn dir(f: &Facts) -> Result<&Meta, Outcome> {
    f.dir_meta.as_ref().map_err(|e| Outcome::skip(e.clone()))
}

/// The master key's metadata, or the outcome when it is missing.
fn key_meta(f: &Facts) -> Result<&Meta, Outcome> {
    dir(f)?;
    entry(f, MASTER_KEY).ok_or_else(|| {
        Outcome::fail(format!(
            "{} does not exist",
            f.dir.join(MASTER_KEY).display()
        ))
    })
}

/// 0400.
pub fn master_key_mode(f: &Facts) -> Outcome {
    let m = match key_meta(f) {
        Ok(m) => m,
        Err(o) => return o,
    };
    match master_key::check_mode(&f.dir.join(MASTER_KEY), m.mode) {
        Ok(()) => Outcome::pass(format!("{MASTER_KEY} has mode {:04o}", m.mode)),
        Err(e) => Outcome::fail(e.to_string()),
    }
}

/// Owned by the service user (the data dir's owner).
pub fn master_key_owner(f: &Facts) -> Outcome {
    let (d, m) = match dir(f).and_then(|d| key_meta(f).map(|m| (d, m))) {
        Ok(x) => x,
        Err(o) => return o,
    };
    match master_key::check_owner(&f.dir.join(MASTER_KEY), m.uid, d.uid) {
        Ok(()) => Outcome::pass(format!(
            "{MASTER_KEY} is owned by uid {}, the data dir's owner (the service user)",
            m.uid
        )),
        Err(e) => Outcome::fail(format!("{e} (the data dir's owner)")),
    }
}

/// 32 bytes + their BLAKE3-256.
pub fn master_key_trailer(f: &Facts) -> Outcome {
    if let Err(o) = key_meta(f) {
        return o;
    }
    let bytes = match &f.key {
        Ok(b) => b,
        Err(e) => return Outcome::skip(format!("{e} (run as root or the service user)")),
    };
    match MasterKey::from_file_bytes(bytes.expose(), &f.dir.join(MASTER_KEY)) {
        Ok(_) => Outcome::pass(format!(
            "{MASTER_KEY} is {} bytes and its BLAKE3 trailer matches",
            master_key::FILE_LEN
        )),
        Err(e) => Outcome::fail(e.to_string()),
    }
}

/// Data dir 0700.
pub fn data_dir_mode(f: &Facts) -> Outcome {
    let d = match dir(f) {
        Ok(d) => d,
        Err(o) => return o,
    };
    if d.mode & 0o077 == 0 {
        Outcome::pass(format!("{} has mode {:04o}", f.dir.display(), d.mode))
    } else {
        Outcome::fail(format!(
            "{} has mode {:04o}, looser than 0700",
            f.dir.display(),
            d.mode
        ))
    }
}

/// The store and private key files are 0600 or stricter.
pub fn file_modes(f: &Facts) -> Outcome {
    if let Err(o) = dir(f) {
        return o;
    }
    let secret_file = |name: &str| {
        name == STORE || name == MASTER_KEY || name.ends_with("-key.pem") || name.ends_with(".key")
    };
    let chosen: Vec<&(String, Meta)> = f
        .entries
        .iter()
        .filter(|(n, m)| m.file && secret_file(n))
        .collect();
    if !chosen.iter().any(|(n, _)| n == STORE) {
        return Outcome::fail(format!("{} does not exist", f.dir.join(STORE).display()));
    }
    let loose: Vec<String> = chosen
        .iter()
        .filter(|(_, m)| m.mode & 0o177 != 0)
        .map(|(n, m)| format!("{n} {:04o}", m.mode))
        .collect();
    let all: Vec<String> = chosen
        .iter()
        .map(|(n, m)| format!("{n} {:04o}", m.mode))
        .collect();
    if loose.is_empty() {
        Outcome::pass(all.join(", "))
    } else {
        Outcome::fail(format!("looser than 0600: {}", loose.join(", ")))
    }
}

/// Nothing in the data dir grants access to other users.
pub fn no_world_readable(f: &Facts) -> Outcome {
    if let Err(o) = dir(f) {
        return o;
    }
    let open: Vec<String> = f
        .entries
        .iter()
        .filter(|(_, m)| (m.file || m.socket) && m.mode & 0o004 != 0)
        .map(|(n, m)| format!("{n} {:04o}", m.mode))
        .collect();
    if open.is_empty() {
        Outcome::pass(format!(
            "{} entries, none readable by other users",
            f.entries.len()
        ))
    } else {
        Outcome::fail(format!("readable by every user: {}", open.join(", ")))
    }
}
