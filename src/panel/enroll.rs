//! The enroll page (owners and admins): a form that creates a registration token and a page
//! that shows, once, the exact command that installs and enrolls an agent with it; below
//! the form, the team's usable tokens with a revoke button each.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};

use super::fleet_view::{blocking, message, split_list, when};
use super::{nav, page, Panel};
use crate::fleet::{NewRegToken, MAX_REG_TOKEN_USES};
use crate::identity::Principal;
use crate::policy::{allows, Action};
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// The lifetimes the form offers: (seconds, label).
const TTLS: [(i64, &str); 4] = [
    (900, "15 minutes"),
    (3600, "1 hour"),
    (86_400, "1 day"),
    (7 * 86_400, "7 days"),
];

/// The new-token form, also what is shown again next to an error.
#[derive(Deserialize, Serialize)]
#[serde(default)]
pub struct EnrollForm {
    ttl_secs: String,
    uses: String,
    tags: String,
}

impl Default for EnrollForm {
    fn default() -> Self {
        Self {
            ttl_secs: "3600".into(),
            uses: "1".into(),
            tags: String::new(),
        }
    }
}

/// `?done=` codes (fixed messages).
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

fn refuse_unless_admin(p: &Principal) -> Result<(), HttpError> {
    if allows(p.role(), Action::ManageFleet) {
        Ok(())
    } else {
        Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Only owners and admins can enroll agents.",
        ))
    }
}

async fn render(
    panel: &Arc<Panel>,
    p: Principal,
    csrf: &str,
    notice: &str,
    error: &str,
    form: &EnrollForm,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let pp = p.clone();
    let (tokens, error) = match blocking(panel, move |f| f.registration_tokens(&pp)).await? {
        Ok(rows) => (rows, error.to_string()),
        Err(e) => (Vec::new(), message(e)?.1),
    };
    let tokens: Vec<_> = tokens
        .iter()
        .map(|t| {
            minijinja::context! {
                id => &t.id, created => when(t.created), expires => when(t.expires),
                uses => t.uses, used => t.used, tags => &t.tags,
            }
        })
        .collect();
    let ttls: Vec<_> = TTLS
        .iter()
        .map(|(secs, label)| minijinja::context! { secs => secs.to_string(), label })
        .collect();
    Ok(page(
        panel,
        "enroll.html",
        minijinja::context! {
            title => "Enroll an agent", me => nav(panel, &p, "enroll").await, csrf, notice, error, form, ttls,
            tokens, max_uses => MAX_REG_TOKEN_USES,
            ca_sha256 => panel.fleet.ca_fingerprint(), server => &panel.enroll_server,
        },
        status,
    ))
}

/// `GET /enroll`.
pub async fn show(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    refuse_unless_admin(&p)?;
    let notice = match done.done.as_deref() {
        Some("revoked") => "The registration token was revoked; it enrolls nothing more.",
        _ => "",
    };
    let form = EnrollForm::default();
    render(&panel, p, &csrf, notice, "", &form, StatusCode::OK).await
}

/// Turns the form into a request, or says what to fix.
fn parse(form: &EnrollForm) -> Result<NewRegToken, String> {
    let ttl = form
        .ttl_secs
        .trim()
        .parse::<i64>()
        .map_err(|_| "Valid for: choose how long the token may be used.".to_string())?;
    let uses = form.uses.trim().parse::<u32>().map_err(|_| {
        format!("Uses: a whole number from 1 to {MAX_REG_TOKEN_USES} (agents it may enroll).")
    })?;
    Ok(NewRegToken {
        ttl_secs: Some(ttl),
        uses: Some(uses),
        tags: split_list(&form.tags),
    })
}

/// `POST /enroll`: creates a token and shows the command with it, the only time it is shown.
pub async fn create(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<EnrollForm>,
) -> Result<Response, HttpError> {
    refuse_unless_admin(&p)?;
    let req = match parse(&form) {
        Ok(req) => req,
        Err(m) => return render(&panel, p, &csrf, "", &m, &form, StatusCode::BAD_REQUEST).await,
    };
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    let created = blocking(&panel, move |f| f.create_registration_token(&pp, &ctx, req)).await?;
    let (value, row) = match created {
        Ok(created) => created,
        Err(e) => {
            let (status, m) = message(e)?;
            return render(&panel, p, &csrf, "", &m, &form, status).await;
        }
    };
    let enroll = panel
        .fleet
        .enroll_command(&panel.enroll_server, value.expose());
    let command = format!(
        "sudo ./install.sh --agent && {enroll} && sudo systemctl enable --now tundra-agent"
    );
    Ok(page(
        &panel,
        "enroll_created.html",
        minijinja::context! {
            title => "Enroll command", me => nav(&panel, &p, "enroll").await, command,
            expires => when(row.expires), uses => row.uses, tags => &row.tags,
        },
        StatusCode::OK,
    ))
}

/// `POST /enroll/{id}/revoke`.
pub async fn revoke(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, HttpError> {
    refuse_unless_admin(&p)?;
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    match blocking(&panel, move |f| f.revoke_registration_token(&pp, &ctx, &id)).await? {
        Ok(()) => Ok(Redirect::to("/enroll?done=revoked").into_response()),
        Err(e) => {
            let (status, m) = message(e)?;
            let form = EnrollForm::default();
            render(&panel, p, &csrf, "", &m, &form, status).await
        }
    }
}
