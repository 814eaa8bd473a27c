//! The master key: 32 random bytes that every sealed column key is derived from.
//!
//! On disk it is 64 bytes: the key followed by its BLAKE3-256 hash, so a truncated or
//! corrupted file is caught before it can seal anything. The file is created mode 0400 in the
//! same `open` call that creates it, and loading refuses a file that is looser than 0400,
//! owned by another user, the wrong length or has a bad trailer.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::digest::{blake3, hkdf_sha256};
use super::random;
use super::secret::Secret;

/// Length of the key itself.
pub const KEY_LEN: usize = 32;
/// Length of the key file: key ‖ BLAKE3-256(key).
pub const FILE_LEN: usize = 64;

/// The appliance's master key. Never logged, never stored in the store or in backups.
pub struct MasterKey {
    key: Secret<[u8; KEY_LEN]>,
}

/// Why a master key file was refused. Each message names the file, the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("master key file {path}: cannot read it: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "master key file {path} has mode {mode:04o}, looser than 0400; \
         fix: chmod 0400 {path}"
    )]
    LooseMode { path: PathBuf, mode: u32 },
    #[error(
        "master key file {path} is owned by uid {owner}, but tundra runs as uid {expected}; \
         fix: chown the file to the service user"
    )]
    WrongOwner {
        path: PathBuf,
        owner: u32,
        expected: u32,
    },
    #[error(
        "master key file {path} is {len} bytes, expected {FILE_LEN}; it is truncated or not a \
         tundra master key: restore it from your offline copy"
    )]
    WrongLength { path: PathBuf, len: u64 },
    #[error(
        "master key file {path} fails its BLAKE3 integrity check: the file is corrupted; \
         restore it from your offline copy"
    )]
    TrailerMismatch { path: PathBuf },
    #[error("master key file {path} already exists; refusing to overwrite it")]
    Exists { path: PathBuf },
}

impl MasterKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self {
            key: Secret::new(random::bytes()),
        }
    }

    /// Parses the 64-byte file format, checking the BLAKE3 trailer.
    pub fn from_file_bytes(bytes: &[u8], path: &Path) -> Result<Self, MasterKeyError> {
        if bytes.len() != FILE_LEN {
            return Err(MasterKeyError::WrongLength {
                path: path.to_owned(),
                len: bytes.len() as u64,
            });
        }
        let (key, trailer) = bytes.split_at(KEY_LEN);
        if !super::ct_eq(&blake3(key), trailer) {
            return Err(MasterKeyError::TrailerMismatch {
                path: path.to_owned(),
            });
        }
        let mut k = [0u8; KEY_LEN];
        k.copy_from_slice(key);
        Ok(Self {
            key: Secret::new(k),
        })
    }

    /// The 64-byte file format: key ‖ BLAKE3-256(key).
    pub fn to_file_bytes(&self) -> Secret<[u8; FILE_LEN]> {
        let mut out = [0u8; FILE_LEN];
        out[..KEY_LEN].copy_from_slice(self.key.expose());
        out[KEY_LEN..].copy_from_slice(&blake3(self.key.expose()));
        Secret::new(out)
    }

    /// Writes the key to a new file created with mode 0400 in one step; fails if it exists.
    pub fn create_file(&self, path: &Path) -> Result<(), MasterKeyError> {
        let io = |source| MasterKeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    MasterKeyError::Exists {
                        path: path.to_owned(),
                    }
                } else {
                    io(e)
                }
            })?;
        file.write_all(self.to_file_bytes().expose()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Loads and checks the key file: mode 0400 or stricter, owned by the running user,
    /// exactly 64 bytes, valid trailer.
    pub fn load_file(path: &Path) -> Result<Self, MasterKeyError> {
        let io = |source| MasterKeyError::Io {
            path: path.to_owned(),
            source,
        };
        check_file_meta(path)?;
        let file = File::open(path).map_err(io)?;
        let mut buf = Vec::with_capacity(FILE_LEN);
        // Read at most one byte past the expected size so an oversized file is caught
        // without reading it whole.
        file.take(FILE_LEN as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(io)?;
        let buf = Secret::new(buf);
        Self::from_file_bytes(buf.expose(), path)
    }

    /// Derives the 256-bit key for one sealed column:
    /// HKDF-SHA256(master, info = `tundra/column/<table>/<column>/v<version>`).
    pub fn column_key(&self, table: &str, column: &str, version: u32) -> Secret<[u8; 32]> {
        let info = format!("tundra/column/{table}/{column}/v{version}");
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF's 8160-byte limit, so expansion cannot fail.
        let _ = hkdf_sha256(&[], self.key.expose(), info.as_bytes(), &mut out);
        Secret::new(out)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

/// Mode and owner checks, done before the file is opened.
fn check_file_meta(path: &Path) -> Result<(), MasterKeyError> {
    let meta = std::fs::metadata(path).map_err(|source| MasterKeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    check_mode(path, meta.mode())?;
    check_owner(path, meta.uid(), rustix::process::geteuid().as_raw())?;
    if meta.len() != FILE_LEN as u64 {
        return Err(MasterKeyError::WrongLength {
            path: path.to_owned(),
            len: meta.len(),
        });
    }
    Ok(())
}

/// Refuses a key file `mode` that grants anything beyond owner-read (0400). Pure, so the
/// acceptance check judges a file exactly as `serve` does.
pub fn check_mode(path: &Path, mode: u32) -> Result<(), MasterKeyError> {
    let mode = mode & 0o7777;
    if mode & !0o400 != 0 {
        return Err(MasterKeyError::LooseMode {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Refuses a key file owned by any uid but `expected` (the service user).
pub fn check_owner(path: &Path, owner: u32, expected: u32) -> Result<(), MasterKeyError> {
    if owner != expected {
        return Err(MasterKeyError::WrongOwner {
            path: path.to_owned(),
            owner,
            expected,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn file_round_trip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let key = MasterKey::generate();
        key.create_file(&path).unwrap();
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o400));
        let loaded = MasterKey::load_file(&path).unwrap();
        assert_eq!(
            loaded.column_key("t", "c", 1).expose(),
            key.column_key("t", "c", 1).expose()
        );
        assert!(matches!(
            key.create_file(&path),
            Err(MasterKeyError::Exists { .. })
        ));
    }

    #[test]
    fn corrupt_trailer_and_length_are_refused() {
        let key = MasterKey::generate();
        let mut bytes = key.to_file_bytes().expose().to_vec();
        bytes[40] ^= 1;
        let p = Path::new("k");
        assert!(matches!(
            MasterKey::from_file_bytes(&bytes, p),
            Err(MasterKeyError::TrailerMismatch { .. })
        ));
        assert!(matches!(
            MasterKey::from_file_bytes(&bytes[..63], p),
            Err(MasterKeyError::WrongLength { len: 63, .. })
        ));
    }

    #[test]
    fn column_keys_differ_by_table_column_and_version() {
        let key = MasterKey::generate();
        let a = key.column_key("users", "totp", 1);
        assert_ne!(a.expose(), key.column_key("users", "totp", 2).expose());
        assert_ne!(a.expose(), key.column_key("users", "other", 1).expose());
        assert_ne!(a.expose(), key.column_key("other", "totp", 1).expose());
    }
}
