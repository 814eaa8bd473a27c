//! The local control socket: lets CLI commands on the host reach the store while `serve`
//! holds it (redb admits one process). The same [`execute`] runs the request when no server
//! is up, so a command behaves the same either way.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use super::core::Core;
use super::error::AppError;
use crate::audit;
use crate::proto::control::{Envelope, Request, Response, MAX_PAGE, VERSION};

/// Longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;

/// Runs one control request against `core` (blocking: it reads the store).
pub fn execute(core: &Core, request: Request) -> Response {
    let result = match request {
        Request::AuditExport { after, limit } => core
            .store
            .read(|tx| audit::export_page(tx, after, limit.min(MAX_PAGE) as usize))
            .map(|lines| Response::AuditPage { lines }),
        Request::AuditHead => core
            .audit
            .head(&core.store)
            .map(|head| Response::AuditHead {
                head: serde_json::to_string(&head).unwrap_or_default(),
            }),
        Request::AuditPubkey => Ok(Response::AuditPubkey {
            hex: core.audit.public_key().to_hex(),
        }),
    };
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, "control request failed");
        Response::Error {
            code: "internal_error".into(),
            message: e.to_string(),
        }
    })
}

/// Binds the socket (mode 0600 inside the 0700 data dir), refusing if another server
/// answers on it and replacing a stale one.
pub async fn bind(path: &Path) -> Result<UnixListener, AppError> {
    let err = |message: String| AppError::Control {
        path: path.to_owned(),
        message,
    };
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(err(
                "another tundra serve is running on this data dir".into()
            ));
        }
        std::fs::remove_file(path).map_err(|e| err(format!("removing stale socket: {e}")))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| err(e.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| err(e.to_string()))?;
    Ok(listener)
}

/// Answers control requests until `shutdown`, then removes the socket file.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    core: Arc<Core>,
    mut shutdown: watch::Receiver<bool>,
) {
    let me = rustix::process::geteuid().as_raw();
    loop {
        let stream = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            a = listener.accept() => match a {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    continue;
                }
            },
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == me => {}
            Ok(cred) => {
                tracing::warn!(
                    uid = cred.uid(),
                    "control socket: peer is another user; refused"
                );
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket: peer credentials unavailable");
                continue;
            }
        }
        tokio::spawn(connection(stream, Arc::clone(&core)));
    }
    let _ = std::fs::remove_file(&path);
}

async fn connection(stream: UnixStream, core: Arc<Core>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut line = String::new();
        match (&mut reader).take(MAX_REQUEST).read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let complete = line.ends_with('\n');
        let response = if complete {
            handle(line.trim_end(), &core).await
        } else {
            Response::Error {
                code: "too_large".into(),
                message: format!("request longer than {MAX_REQUEST} bytes"),
            }
        };
        let mut out = serde_json::to_vec(&response).unwrap_or_default();
        out.push(b'\n');
        if write.write_all(&out).await.is_err() || !complete {
            return;
        }
    }
}

async fn handle(line: &str, core: &Arc<Core>) -> Response {
    let envelope: Envelope = match serde_json::from_str(line) {
        Ok(e) => e,
        Err(e) => {
            return Response::Error {
                code: "bad_request".into(),
                message: format!("not a control request: {e}"),
            }
        }
    };
    if envelope.v != VERSION {
        return Response::Error {
            code: "unsupported_version".into(),
            message: format!(
                "control protocol v{} is not supported (this server speaks v{VERSION})",
                envelope.v
            ),
        };
    }
    let core = Arc::clone(core);
    tokio::task::spawn_blocking(move || execute(&core, envelope.request))
        .await
        .unwrap_or_else(|e| Response::Error {
            code: "internal_error".into(),
            message: e.to_string(),
        })
}
