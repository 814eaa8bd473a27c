//! The policy page: the team's policy as pretty JSON in a textarea with its version and who
//! saved it. Owners and admins save it (`POST /policy`); everyone may preview how the draft
//! in the textarea would judge a command (`POST /policy/preview`, nothing saved). A draft
//! that is not valid is refused with the exact field and reason next to the textarea, keeps
//! the typed text and changes nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::command_view::{blocking, refusal, when_ms};
use super::fleet_view::{self, blocking as fleet_blocking, split_list};
use super::policy_draft::{self, DraftError, EXAMPLE};
use super::stages::{engine_hits, stages};
use super::{nav, page, Panel};
use crate::commands::{CommandError, Evaluation, Outcome, PreviewRequest};
use crate::fleet::FleetError;
use crate::identity::Principal;
use crate::model::Role;
use crate::policy::{allows, Action};
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// `?done=` codes (fixed messages; nothing from the URL is echoed).
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// The editor's one form: the draft and the preview's question.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PolicyForm {
    policy: String,
    command: String,
    agent: String,
    tags: String,
    role: String,
    at: String,
}

/// What the page shows besides the form: messages, the draft's fault, a preview.
#[derive(Default)]
struct Shown {
    notice: &'static str,
    error: String,
    draft_error: Option<DraftError>,
    preview_error: String,
    preview: Option<minijinja::Value>,
}

fn preview_context(e: &Evaluation) -> minijinja::Value {
    let (outcome, blocked, waits) = match &e.outcome {
        Outcome::Blocked(b) => ("blocked", Some(b), None),
        Outcome::NeedsApproval(reason) => ("pending_approval", None, Some(reason)),
        Outcome::Run => ("queued", None, None),
    };
    let (hard_block, indicators) = engine_hits(&e.decision);
    minijinja::context! {
        outcome, risk_score => e.risk_score, level => e.level,
        blocked => blocked.map(|b| minijinja::context! {
            stage => &b.stage, rule => &b.rule, reason => &b.reason,
        }),
        waits, stages => stages(&e.decision), hard_block, indicators,
    }
}

async fn render(
    panel: &Arc<Panel>,
    p: Principal,
    csrf: &str,
    form: Option<&PolicyForm>,
    shown: Shown,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let pp = p.clone();
    let stored = match blocking(panel, move |c| c.policy(&pp)).await? {
        Ok(s) => s,
        Err(e) => {
            let r = refusal(e)?;
            return Err(HttpError::new(r.status, "forbidden", r.message));
        }
    };
    let pp = p.clone();
    let (agents, fleet_error) = match fleet_blocking(panel, move |f| f.agents(&pp)).await? {
        Ok(agents) => (agents, String::new()),
        Err(e) => (Vec::new(), fleet_view::message(e)?.1),
    };
    let empty = PolicyForm::default();
    let typed = form.unwrap_or(&empty);
    let text = match form {
        Some(f) => f.policy.clone(),
        None => serde_json::to_string_pretty(&stored.policy).map_err(HttpError::internal)?,
    };
    let error = if shown.error.is_empty() {
        fleet_error
    } else {
        shown.error
    };
    Ok(page(
        panel,
        "policy.html",
        minijinja::context! {
            title => "Policy", me => nav(panel, &p, "policy").await, csrf,
            notice => shown.notice, error, text,
            version => stored.version, updated_by => stored.updated_by,
            updated => stored.updated_ms.map(when_ms),
            draft_error => shown.draft_error.map(|e| minijinja::context! {
                field => e.field, reason => e.reason,
            }),
            preview_error => shown.preview_error, preview => shown.preview,
            can_save => allows(p.role(), Action::ManageFleet),
            form => minijinja::context! {
                command => &typed.command, tags => &typed.tags, at => &typed.at,
            },
            agents => agents.iter().map(|a| minijinja::context! {
                id => &a.id.0, name => &a.name, selected => a.id.0 == typed.agent,
            }).collect::<Vec<_>>(),
            roles => Role::ALL.iter().map(|r| minijinja::context! {
                name => r.as_str(), selected => r.as_str() == typed.role,
            }).collect::<Vec<_>>(),
            example => EXAMPLE,
        },
        status,
    ))
}

/// `GET /policy`.
pub async fn show(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    let shown = Shown {
        notice: match done.done.as_deref() {
            Some("saved") => "The policy was saved; it judges every command from now on.",
            _ => "",
        },
        ..Shown::default()
    };
    render(&panel, p, &csrf, None, shown, StatusCode::OK).await
}

/// The page again with the draft's fault next to the textarea and the typed text kept.
async fn draft_refused(
    panel: &Arc<Panel>,
    p: Principal,
    csrf: &str,
    form: &PolicyForm,
    e: DraftError,
) -> Result<Response, HttpError> {
    let shown = Shown {
        draft_error: Some(e),
        ..Shown::default()
    };
    render(panel, p, csrf, Some(form), shown, StatusCode::BAD_REQUEST).await
}

/// `POST /policy` (owners and admins): replaces the team's policy with the draft.
pub async fn save(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<PolicyForm>,
) -> Result<Response, HttpError> {
    // The role first: a member who may not save learns that, not the draft's faults.
    if !allows(p.role(), Action::ManageFleet) {
        let shown = Shown {
            error: format!("Your role ({}) may not change the team's policy.", p.role()),
            ..Shown::default()
        };
        return render(&panel, p, &csrf, Some(&form), shown, StatusCode::FORBIDDEN).await;
    }
    let draft = match policy_draft::parse(&form.policy) {
        Ok(d) => d,
        Err(e) => return draft_refused(&panel, p, &csrf, &form, e).await,
    };
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    match blocking(&panel, move |c| c.put_policy(&pp, &ctx, draft)).await? {
        Ok(_) => Ok(Redirect::to("/policy?done=saved").into_response()),
        Err(CommandError::PolicyInvalid { field, reason }) => {
            let e = DraftError::new(field, reason);
            draft_refused(&panel, p, &csrf, &form, e).await
        }
        Err(e) => {
            let r = refusal(e)?;
            let shown = Shown {
                error: r.message.clone(),
                ..Shown::default()
            };
            let res = render(&panel, p, &csrf, Some(&form), shown, r.status).await?;
            Ok(r.finish(res))
        }
    }
}

/// The preview's question from the form's fields (the draft already parsed).
fn preview_request(form: &PolicyForm) -> Result<PreviewRequest, String> {
    let role = match form.role.trim() {
        "" => None,
        r => Some(r.parse::<Role>().map_err(|m| format!("Role: {m}."))?),
    };
    let agent = Some(form.agent.trim().to_string()).filter(|a| !a.is_empty());
    Ok(PreviewRequest {
        draft: None,
        command: form.command.clone(),
        tags: if agent.is_some() {
            Vec::new()
        } else {
            split_list(&form.tags.to_ascii_lowercase())
        },
        agent,
        role,
        at: policy_draft::parse_at(&form.at)?,
    })
}

/// `POST /policy/preview`: how the draft would judge the command; nothing runs or is kept.
pub async fn preview(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(form): Form<PolicyForm>,
) -> Result<Response, HttpError> {
    let draft = match policy_draft::parse(&form.policy) {
        Ok(d) => d,
        Err(e) => return draft_refused(&panel, p, &csrf, &form, e).await,
    };
    let mut req = match preview_request(&form) {
        Ok(req) => req,
        Err(m) => {
            let shown = Shown {
                preview_error: m,
                ..Shown::default()
            };
            let status = StatusCode::BAD_REQUEST;
            return render(&panel, p, &csrf, Some(&form), shown, status).await;
        }
    };
    req.draft = Some(draft);
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    let (shown, status) = match blocking(&panel, move |c| c.preview(&pp, &ctx, req)).await? {
        Ok(eval) => (
            Shown {
                preview: Some(preview_context(&eval)),
                ..Shown::default()
            },
            StatusCode::OK,
        ),
        Err(CommandError::PolicyInvalid { field, reason }) => (
            Shown {
                draft_error: Some(DraftError::new(field, reason)),
                ..Shown::default()
            },
            StatusCode::BAD_REQUEST,
        ),
        Err(CommandError::NotFound | CommandError::Fleet(FleetError::NotFound)) => (
            Shown {
                preview_error: "Agent: no such agent in your team.".into(),
                ..Shown::default()
            },
            StatusCode::BAD_REQUEST,
        ),
        Err(e) => {
            let r = refusal(e)?;
            let shown = Shown {
                preview_error: r.message,
                ..Shown::default()
            };
            (shown, r.status)
        }
    };
    render(&panel, p, &csrf, Some(&form), shown, status).await
}
