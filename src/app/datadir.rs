//! The data dir's layout and its permission checks.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::init::InitError;

/// Paths inside the data dir.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data dir at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The master key file.
    pub fn master_key(&self) -> PathBuf {
        self.root.join("master.key")
    }

    /// The redb store.
    pub fn store(&self) -> PathBuf {
        self.root.join(crate::store::FILE_NAME)
    }

    /// The generated panel certificate (PEM).
    pub fn panel_cert(&self) -> PathBuf {
        self.root.join("panel-cert.pem")
    }

    /// The generated panel private key (PEM).
    pub fn panel_key(&self) -> PathBuf {
        self.root.join("panel-key.pem")
    }

    /// The local control socket.
    pub fn control_socket(&self) -> PathBuf {
        self.root.join(crate::proto::control::SOCKET_NAME)
    }

    /// Creates the directory with mode 0700 (in the `mkdir` call itself).
    pub fn create(&self) -> Result<(), InitError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(|source| InitError::Io {
                path: self.root.clone(),
                source,
            })
    }

    /// Refuses a data dir that is not a directory, is looser than 0700 or belongs to
    /// another user.
    pub fn check(&self) -> Result<(), InitError> {
        let meta = std::fs::metadata(&self.root).map_err(|source| InitError::Io {
            path: self.root.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(InitError::NotADirectory {
                path: self.root.clone(),
            });
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(InitError::LooseDataDir {
                path: self.root.clone(),
                mode,
            });
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(InitError::DataDirOwner {
                path: self.root.clone(),
                owner: meta.uid(),
                expected: me,
            });
        }
        Ok(())
    }
}
