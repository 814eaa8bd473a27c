//! The account page: two-factor enrollment (QR code and key, then recovery codes shown
//! once), the user's sessions with revoke, password change, and re-authentication.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::{nav, page, Panel};
use crate::crypto::Secret;
use crate::identity::{check_new_password, IdentityError, Principal};
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// `?done=` codes of the account page (fixed messages; nothing from the URL is echoed).
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

fn done_message(code: Option<&str>) -> &'static str {
    match code {
        Some("password") => "Your password was changed.",
        Some("revoked") => "The session was ended.",
        Some("reauth") => "Password confirmed for the next 5 minutes.",
        _ => "",
    }
}

async fn render(
    panel: &Arc<Panel>,
    p: Principal,
    csrf: &str,
    notice: &str,
    error: &str,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let identity = Arc::clone(&panel.identity);
    let pp = p.clone();
    let (sessions, user, codes_left) = tokio::task::spawn_blocking(move || {
        let sessions = identity.list_sessions(&pp)?;
        let user = identity
            .user_by_email(pp.email())?
            .ok_or(IdentityError::NotFound)?;
        let left = identity.recovery_codes_left(pp.user())?;
        Ok::<_, IdentityError>((sessions, user, left))
    })
    .await
    .map_err(HttpError::internal)?
    .map_err(HttpError::internal)?;
    let now = panel.clock.now().unix_timestamp();
    Ok(page(
        panel,
        "account.html",
        minijinja::context! {
            title => "Your account", me => nav(panel, &p, "account").await, csrf, notice, error,
            two_factor => user.totp_sealed.is_some(), codes_left,
            needs_two_factor => p.needs_two_factor(),
            reauthenticated => p.reauthenticated(now),
            sessions => sessions.iter().map(|s| minijinja::context! {
                id => &s.id, current => s.current, ip => s.ip.clone().unwrap_or_default(),
                created => crate::clock::rfc3339(time::OffsetDateTime::from_unix_timestamp(s.created).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)),
                last_seen => crate::clock::rfc3339(time::OffsetDateTime::from_unix_timestamp(s.last_seen).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)),
            }).collect::<Vec<_>>(),
        },
        status,
    ))
}

/// `GET /account`.
pub async fn show(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    render(
        &panel,
        p,
        &csrf,
        done_message(done.done.as_deref()),
        "",
        StatusCode::OK,
    )
    .await
}

/// `POST /account/totp`: a new key, shown with its QR code and a confirm form.
pub async fn totp_begin(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, HttpError> {
    let identity = Arc::clone(&panel.identity);
    let now = panel.clock.now().unix_timestamp();
    let pp = p.clone();
    let enrollment = tokio::task::spawn_blocking(move || {
        let enrolled = identity
            .user_by_email(pp.email())?
            .is_some_and(|u| u.totp_sealed.is_some());
        if enrolled && !pp.reauthenticated(now) {
            return Err(IdentityError::ReauthRequired);
        }
        identity.begin_totp(pp.user())
    })
    .await
    .map_err(HttpError::internal)?;
    let enrollment = match enrollment {
        Ok(e) => e,
        Err(IdentityError::ReauthRequired) => {
            return render(
                &panel,
                p,
                &csrf,
                "",
                "Confirm your password below before replacing your two-factor key.",
                StatusCode::FORBIDDEN,
            )
            .await
        }
        Err(e) => return Err(HttpError::internal(e)),
    };
    Ok(page(
        &panel,
        "account_totp.html",
        minijinja::context! {
            title => "Set up two-factor", me => nav(&panel, &p, "account").await, csrf, error => "",
            qr_svg => minijinja::Value::from_safe_string(enrollment.qr_svg),
            secret => enrollment.secret.expose(),
        },
        StatusCode::OK,
    ))
}

/// The confirm form.
#[derive(Deserialize)]
pub struct ConfirmForm {
    code: String,
}

/// `POST /account/totp/confirm`: shows the recovery codes once.
pub async fn totp_confirm(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, HttpError> {
    let identity = Arc::clone(&panel.identity);
    let audit = p.request_context(request_id, peer);
    let user = p.user().clone();
    let codes =
        tokio::task::spawn_blocking(move || identity.confirm_totp(&audit, &user, &form.code))
            .await
            .map_err(HttpError::internal)?;
    match codes {
        Ok(Some(codes)) => Ok(page(
            &panel,
            "account_codes.html",
            minijinja::context! {
                title => "Recovery codes", me => nav(&panel, &p, "account").await, csrf,
                codes => codes.iter().map(|c| c.expose().clone()).collect::<Vec<_>>(),
            },
            StatusCode::OK,
        )),
        Ok(None) => {
            render(
                &panel,
                p,
                &csrf,
                "",
                "That code was not right. Start again and use the newest code from your app.",
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(IdentityError::Invalid(m)) => {
            render(&panel, p, &csrf, "", &m, StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(HttpError::internal(e)),
    }
}

/// The revoke form.
#[derive(Deserialize)]
pub struct RevokeForm {
    session: String,
}

/// `POST /account/sessions/revoke`.
pub async fn revoke(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, HttpError> {
    let identity = Arc::clone(&panel.identity);
    let audit = p.request_context(request_id, peer);
    tokio::task::spawn_blocking(move || identity.revoke_session(&p, &audit, &form.session))
        .await
        .map_err(HttpError::internal)?
        .map_err(|e| match e {
            IdentityError::NotFound => HttpError::not_found(),
            other => HttpError::internal(other),
        })?;
    Ok(Redirect::to("/account?done=revoked").into_response())
}

/// The password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    new_again: String,
    end_others: Option<String>,
}

/// `POST /account/password`.
pub async fn password(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, HttpError> {
    let problem = if form.new != form.new_again {
        Some("The new passwords do not match.".to_string())
    } else {
        check_new_password(&form.new, p.email())
            .err()
            .map(|e| e.to_string())
    };
    if let Some(m) = problem {
        return render(&panel, p, &csrf, "", &m, StatusCode::BAD_REQUEST).await;
    }
    let ok = panel
        .identity
        .verify_own_password(&p, Secret::new(form.current))
        .await
        .map_err(HttpError::internal)?;
    if !ok {
        return render(
            &panel,
            p,
            &csrf,
            "",
            "Your current password is not right.",
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let phc = panel
        .identity
        .pool()
        .hash(Secret::new(form.new))
        .await
        .map_err(HttpError::internal)?;
    let identity = Arc::clone(&panel.identity);
    let audit = p.request_context(request_id, peer);
    let end = form.end_others.is_some();
    tokio::task::spawn_blocking(move || identity.change_password(&p, &audit, phc, end))
        .await
        .map_err(HttpError::internal)?
        .map_err(HttpError::internal)?;
    Ok(Redirect::to("/account?done=password").into_response())
}

/// The re-auth form.
#[derive(Deserialize)]
pub struct ReauthForm {
    password: String,
    code: Option<String>,
    back: Option<String>,
}

/// `POST /account/reauth`: opens the 5-minute window, then returns to the page it came from.
pub async fn reauth(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<ReauthForm>,
) -> Result<Response, HttpError> {
    let code = form.code.filter(|c| !c.trim().is_empty());
    let ok = panel
        .identity
        .reauthenticate(
            &p,
            Secret::new(form.password),
            code,
            Some(peer.ip()),
            Some(request_id),
        )
        .await
        .map_err(HttpError::internal)?;
    if !ok {
        return render(
            &panel,
            p,
            &csrf,
            "",
            "Wrong password or code.",
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    Ok(Redirect::to(&back_after_reauth(form.back.as_deref())).into_response())
}

/// Where the re-auth form returns to: the page it was shown on, when that is one of the
/// pages that asks for it (only well-formed ids, so the redirect never leaves the panel).
fn back_after_reauth(back: Option<&str>) -> String {
    match back {
        Some(page @ ("/members" | "/approvals")) => format!("{page}?done=reauth"),
        // An agent's page (deleting it needs the confirmation).
        Some(agent)
            if agent
                .strip_prefix("/agents/")
                .is_some_and(crate::model::AgentId::is_well_formed) =>
        {
            format!("{agent}?done=reauth")
        }
        // A command's page (approving it needs the confirmation).
        Some(command)
            if command
                .strip_prefix("/commands/")
                .is_some_and(crate::commands::well_formed_id) =>
        {
            format!("{command}?done=reauth")
        }
        _ => "/account?done=reauth".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::back_after_reauth;

    #[test]
    fn reauth_returns_only_to_pages_that_ask_for_it() {
        let cmd = "/commands/cmd_0123456789abcdef0123456789";
        assert_eq!(back_after_reauth(Some(cmd)), format!("{cmd}?done=reauth"));
        assert_eq!(
            back_after_reauth(Some("/approvals")),
            "/approvals?done=reauth"
        );
        assert_eq!(back_after_reauth(Some("/members")), "/members?done=reauth");
        for bad in [
            "/commands/cmd_x",
            "/commands/../x",
            "//evil.example/",
            "https://evil.example/",
            "/approvals?x=1",
        ] {
            assert_eq!(
                back_after_reauth(Some(bad)),
                "/account?done=reauth",
                "{bad}"
            );
        }
        assert_eq!(back_after_reauth(None), "/account?done=reauth");
    }
}
