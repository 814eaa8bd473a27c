use std::path::PathBuf;

use super::init::InitError;

/// Starting or running the appliance failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Init(#[from] InitError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("control socket {path}: {message}")]
    Control { path: PathBuf, message: String },
    #[error(transparent)]
    Tls(#[from] crate::web::tls::TlsError),
    #[error("panel templates: {0}")]
    Templates(#[from] minijinja::Error),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("background task failed: {0}")]
    Task(String),
}
