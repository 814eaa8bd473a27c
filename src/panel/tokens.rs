//! The API tokens page: the tokens the user may see (never their values), a form that issues
//! one and shows its value once, and a revoke button per token. Issuing and revoking go
//! through the identity service, which decides what the user may grant and audits it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{nav, page, Panel};
use crate::identity::{
    IdentityError, NewToken, Principal, TokenError, TokenRow, MAX_TOKEN_TTL_SECS,
};
use crate::model::{Role, UserId};
use crate::policy::{allows, Action};
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// The longest lifetime the form offers, in days.
const MAX_DAYS: i64 = MAX_TOKEN_TTL_SECS / 86_400;

/// `?done=` codes (fixed messages; nothing from the URL is echoed).
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// The new-token form, also what is shown again next to an error.
#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
pub struct CreateForm {
    name: String,
    role: String,
    expires_in_days: String,
    agents: String,
    tags: String,
}

fn when(unix: i64) -> String {
    crate::clock::rfc3339(
        OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH),
    )
}

/// The roles `p` may give a token, least powerful first.
fn grantable(p: &Principal) -> Vec<&'static str> {
    Role::ALL
        .iter()
        .rev()
        .filter(|r| **r <= p.role())
        .map(|r| r.as_str())
        .collect()
}

/// A comma-separated list: items trimmed, empty ones dropped.
fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(String::from)
        .collect()
}

/// The tokens `p` may see and, for those who see everyone's, who issued each.
fn load(
    identity: &crate::identity::Identity,
    p: &Principal,
) -> Result<(Vec<TokenRow>, HashMap<UserId, String>), TokenError> {
    let tokens = identity.list_tokens(p)?;
    let emails = if allows(p.role(), Action::ManageMembers) {
        identity
            .list_members(p)?
            .into_iter()
            .map(|m| (m.id, m.email))
            .collect()
    } else {
        HashMap::new()
    };
    Ok((tokens, emails))
}

async fn render(
    panel: &Arc<Panel>,
    p: Principal,
    csrf: &str,
    notice: &str,
    error: &str,
    form: &CreateForm,
    status: StatusCode,
) -> Result<Response, HttpError> {
    // Until two-factor is enrolled the service refuses to list; the banner says why.
    let (tokens, emails) = if p.needs_two_factor() {
        (Vec::new(), HashMap::new())
    } else {
        let identity = Arc::clone(&panel.identity);
        let pp = p.clone();
        tokio::task::spawn_blocking(move || load(&identity, &pp))
            .await
            .map_err(HttpError::internal)?
            .map_err(HttpError::internal)?
    };
    let show_issuer = allows(p.role(), Action::ManageMembers);
    let rows = tokens
        .iter()
        .map(|t| {
            let issuer = if t.created_by == *p.user() {
                "you".to_string()
            } else {
                emails
                    .get(&t.created_by)
                    .cloned()
                    .unwrap_or_else(|| t.created_by.0.clone())
            };
            minijinja::context! {
                id => &t.id, name => &t.name, role => t.role.as_str(), issuer,
                created => when(t.created),
                expires => t.expires.map(when).unwrap_or_default(),
                last_used => t.last_used.map(when).unwrap_or_default(),
                agents => &t.agents, tags => &t.tags,
            }
        })
        .collect::<Vec<_>>();
    let role = if form.role.is_empty() {
        Role::Viewer.as_str()
    } else {
        form.role.as_str()
    };
    Ok(page(
        panel,
        "tokens.html",
        minijinja::context! {
            title => "API tokens", me => nav(panel, &p, "tokens").await, csrf, notice, error, tokens => rows,
            show_issuer, can_act => !p.needs_two_factor(),
            roles => grantable(&p), role, form, max_days => MAX_DAYS,
            admin_scope => p.role() >= Role::Admin,
        },
        status,
    ))
}

/// What the user is told about a refused token operation; `Err` for what is no form
/// mistake (missing token, failures the log must see).
fn message(e: TokenError) -> Result<(StatusCode, String), HttpError> {
    Ok(match e {
        TokenError::Invalid { field, message } => {
            let label = match field {
                "name" => "Name",
                "agents" => "Agent ids",
                "tags" => "Tags",
                "expires" => "Expires in days",
                "role" => "Role",
                other => other,
            };
            (StatusCode::BAD_REQUEST, format!("{label}: {message}."))
        }
        TokenError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
        TokenError::ReauthRequired => (
            StatusCode::FORBIDDEN,
            "Admin and owner tokens need your password confirmed within the last 5 minutes. \
             Confirm it on the Account page, then create the token again."
                .into(),
        ),
        e @ TokenError::TooMany => (StatusCode::CONFLICT, e.to_string()),
        TokenError::Identity(IdentityError::TwoFactorRequired) => (
            StatusCode::FORBIDDEN,
            "Set up two-factor authentication on the Account page first: owners and admins \
             need it before they can manage API tokens."
                .into(),
        ),
        TokenError::Identity(IdentityError::Forbidden) => (
            StatusCode::FORBIDDEN,
            "Your role does not allow that.".into(),
        ),
        TokenError::NotFound => return Err(HttpError::not_found()),
        e => return Err(HttpError::internal(e)),
    })
}

/// `GET /tokens`.
pub async fn show(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    let notice = match done.done.as_deref() {
        Some("revoked") => "The token was revoked; it no longer works.",
        _ => "",
    };
    render(
        &panel,
        p,
        &csrf,
        notice,
        "",
        &CreateForm::default(),
        StatusCode::OK,
    )
    .await
}

/// Turns the form into a request, or says what to fix.
fn parse(form: &CreateForm, now: i64) -> Result<NewToken, String> {
    let role = form
        .role
        .parse::<Role>()
        .map_err(|_| "Choose a role.".to_string())?;
    let days = form.expires_in_days.trim();
    let expires = if days.is_empty() {
        None
    } else {
        match days.parse::<i64>() {
            Ok(d) if (1..=MAX_DAYS).contains(&d) => Some(now + d * 86_400),
            _ => {
                return Err(format!(
                    "Expires in days: a whole number from 1 to {MAX_DAYS}, or empty for never."
                ))
            }
        }
    };
    Ok(NewToken {
        name: form.name.clone(),
        role,
        expires,
        agents: split_list(&form.agents),
        tags: split_list(&form.tags),
    })
}

/// `POST /tokens`: issues a token and shows its value, the only time it is shown.
pub async fn create(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<CreateForm>,
) -> Result<Response, HttpError> {
    let req = match parse(&form, panel.clock.now().unix_timestamp()) {
        Ok(req) => req,
        Err(m) => {
            return render(&panel, p, &csrf, "", &m, &form, StatusCode::BAD_REQUEST).await;
        }
    };
    let identity = Arc::clone(&panel.identity);
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    let result = tokio::task::spawn_blocking(move || identity.create_token(&pp, &ctx, req))
        .await
        .map_err(HttpError::internal)?;
    let (value, row) = match result {
        Ok(issued) => issued,
        Err(e) => {
            let (status, m) = message(e)?;
            return render(&panel, p, &csrf, "", &m, &form, status).await;
        }
    };
    Ok(page(
        &panel,
        "token_created.html",
        minijinja::context! {
            title => "Token created", me => nav(&panel, &p, "tokens").await,
            value => value.expose(), name => &row.name, role => row.role.as_str(),
            expires => row.expires.map(when).unwrap_or_default(),
            agents => &row.agents, tags => &row.tags,
        },
        StatusCode::OK,
    ))
}

/// `POST /tokens/{id}/revoke`: the token stops working at once.
pub async fn revoke(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, HttpError> {
    let identity = Arc::clone(&panel.identity);
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    let result = tokio::task::spawn_blocking(move || identity.revoke_token(&pp, &ctx, &id))
        .await
        .map_err(HttpError::internal)?;
    match result {
        Ok(()) => Ok(Redirect::to("/tokens?done=revoked").into_response()),
        Err(e) => {
            let (status, m) = message(e)?;
            render(&panel, p, &csrf, "", &m, &CreateForm::default(), status).await
        }
    }
}
