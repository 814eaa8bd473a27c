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
use crate::audit::{self, AuditContext};
use crate::crypto::{password, Secret};
use crate::fleet::NewRegToken;
use crate::identity::{check_new_password, Identity, IdentityError, UserAdded};
use crate::model::{Actor, Role};
use crate::proto::control::{Envelope, Request, Response, MAX_PAGE, VERSION};

/// Longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;

/// Runs one control request against `core` (blocking: it reads the store and may hash a
/// password).
pub fn execute(core: &Core, request: Request) -> Response {
    let result = match request {
        Request::TeamAdd { .. }
        | Request::UserAdd { .. }
        | Request::UserDisable { .. }
        | Request::UserReset2fa { .. } => return admin(core, request),
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
        Request::RegistrationTokenAdd {
            team,
            uses,
            ttl_secs,
            tags,
        } => return registration_token(core, &team, uses, ttl_secs, tags),
        Request::AgentDeactivate { agent } => {
            let ctx = AuditContext::actor(Actor::LocalCli);
            return match core.fleet.deactivate_local(&ctx, &agent) {
                Ok(a) => Response::Done {
                    message: format!(
                        "deactivated {} ({}); its certificate is refused",
                        a.id, a.name
                    ),
                },
                Err(crate::fleet::FleetError::NotFound) => Response::Error {
                    code: "bad_request".into(),
                    message: format!("no agent {agent:?}"),
                },
                Err(e) => Response::Error {
                    code: "internal_error".into(),
                    message: e.to_string(),
                },
            };
        }
        Request::AuditArchive {
            before,
            records,
            first_seq,
            last_hash,
            file_sha256,
        } => {
            let summary = audit::ArchiveSummary {
                before,
                records,
                first_seq,
                last_hash,
                file_sha256,
            };
            let ctx = AuditContext::actor(Actor::LocalCli);
            return match core.audit.archive(&core.store, &ctx, &summary) {
                Ok(anchor) => Response::Done {
                    message: format!(
                        "archived records {first_seq}..{}: removed from the store; record {} \
                         (audit.archived) anchors the rest of the log to the archive",
                        before - 1,
                        anchor.seq
                    ),
                },
                Err(e @ audit::AuditError::ArchiveMismatch(_)) => Response::Error {
                    code: "bad_request".into(),
                    message: e.to_string(),
                },
                Err(e) => Response::Error {
                    code: "internal_error".into(),
                    message: e.to_string(),
                },
            };
        }
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

/// Break-glass administration, audited as `local-cli`. Refusals (bad input, duplicates) are
/// `bad_request` errors with a message for the administrator; nothing is changed.
fn admin(core: &Core, request: Request) -> Response {
    let ctx = AuditContext::actor(Actor::LocalCli);
    let id = &core.identity;
    let result = match request {
        Request::TeamAdd { name } => id
            .create_team(&ctx, &name)
            .map(|team| format!("created team {:?} ({team})", name.trim())),
        Request::UserAdd {
            team,
            email,
            role,
            password,
        } => add_user(id, &ctx, &team, &email, &role, password.map(Secret::new)),
        Request::UserDisable { email } => id
            .disable_user(&ctx, &email)
            .map(|()| format!("disabled {email}; they can no longer sign in")),
        Request::UserReset2fa { email } => id.reset_two_factor(&ctx, &email).map(|()| {
            format!("removed two-factor enrollment of {email}; they enroll again at next sign-in")
        }),
        _ => Err(IdentityError::Invalid(
            "not an administration request".into(),
        )),
    };
    match result {
        Ok(message) => Response::Done { message },
        Err(e @ (IdentityError::Store(_) | IdentityError::Audit(_) | IdentityError::Hash(_))) => {
            tracing::error!(error = %e, "control request failed");
            Response::Error {
                code: "internal_error".into(),
                message: e.to_string(),
            }
        }
        Err(e) => Response::Error {
            code: "bad_request".into(),
            message: e.to_string(),
        },
    }
}

/// `tundra fleet token add`: a registration token for scripted enrollment, audited as
/// `local-cli`.
fn registration_token(
    core: &Core,
    team: &str,
    uses: u32,
    ttl_secs: i64,
    tags: Vec<String>,
) -> Response {
    let ctx = AuditContext::actor(Actor::LocalCli);
    let created = core
        .identity
        .team_id_by_name(team)
        .map_err(|e| e.to_string())
        .and_then(|team| {
            let req = NewRegToken {
                ttl_secs: Some(ttl_secs),
                uses: Some(uses),
                tags,
            };
            core.fleet
                .create_registration_token_local(&team, &ctx, req)
                .map_err(|e| e.to_string())
        });
    match created {
        Ok((value, row)) => Response::Done {
            message: format!(
                "{}\n\nEnroll a host with:\n  tundra agent enroll --server {} --token {} --ca-sha256 {}\n\n\
                 (id {}, {} use(s), expires at unix {})",
                value.expose(),
                core.config.public_origin(),
                value.expose(),
                core.fleet.ca_fingerprint(),
                row.id,
                row.uses,
                row.expires
            ),
        },
        Err(message) => Response::Error {
            code: "bad_request".into(),
            message,
        },
    }
}

fn add_user(
    id: &Identity,
    ctx: &AuditContext,
    team: &str,
    email: &str,
    role: &str,
    password: Option<Secret<String>>,
) -> Result<String, IdentityError> {
    let role: Role = role.parse().map_err(IdentityError::Invalid)?;
    let normalized = crate::identity::normalize_email(email)?;
    let phc = match (&password, id.user_by_email(&normalized)?) {
        (_, Some(_)) => None,
        (None, None) => return Err(IdentityError::PasswordRequired),
        (Some(pw), None) => {
            check_new_password(pw.expose(), &normalized)?;
            Some(
                password::hash_password(pw.expose())
                    .map_err(|e| IdentityError::Hash(e.to_string()))?,
            )
        }
    };
    Ok(match id.add_user(ctx, team, &normalized, role, phc)? {
        UserAdded::Created(_) => format!("created {normalized} as {role} of {}", team.trim()),
        UserAdded::Joined(_) => format!(
            "{normalized} already had an account: added as {role} of {}; password unchanged",
            team.trim()
        ),
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
