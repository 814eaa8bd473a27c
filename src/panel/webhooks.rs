//! The webhooks page: the team's webhooks with their newest delivery's outcome, a form that
//! adds one (URL plus event families or exact action patterns) and shows its secret once,
//! and delete behind a confirmation step. Owners and admins only.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::webhook_view::{blocking, page_error, refusal, webhook_context};
use super::{nav, page, Panel};
use crate::identity::Principal;
use crate::web::{Authed, CsrfToken, HttpError, RequestId};

/// `?done=` codes (fixed messages; nothing from the URL is echoed).
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// The create form as entered (shown again next to a refusal).
#[derive(Default)]
struct CreateForm {
    url: String,
    families: Vec<String>,
    patterns: String,
}

impl CreateForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut f = CreateForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "url" => f.url = v,
                "events" => f.families.push(v),
                "patterns" => f.patterns = v,
                _ => {}
            }
        }
        f
    }

    fn events(&self) -> Vec<String> {
        let typed = self
            .patterns
            .split([',', ' ', '\n', '\r', '\t'])
            .filter(|p| !p.is_empty())
            .map(String::from);
        self.families.iter().cloned().chain(typed).collect()
    }
}

/// `*` and each action family (`command.*`), from the audit log's own list of actions.
fn families() -> Vec<String> {
    let mut out = vec!["*".to_string()];
    for a in crate::audit::ACTIONS {
        if let Some((family, _)) = a.split_once('.') {
            let f = format!("{family}.*");
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

async fn render(
    panel: &Arc<Panel>,
    p: Principal,
    csrf: &str,
    (notice, error): (&str, String),
    form: &CreateForm,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let pp = p.clone();
    let hooks = match blocking(panel, move |w| w.list(&pp)).await? {
        Ok(rows) => rows,
        Err(e) => return Err(page_error(e)),
    };
    let webhooks: Vec<_> = hooks
        .iter()
        .map(|s| webhook_context(&s.webhook, s.last.as_ref()))
        .collect();
    let families: Vec<_> = families()
        .into_iter()
        .map(|f| minijinja::context! { checked => form.families.contains(&f), name => f })
        .collect();
    Ok(page(
        panel,
        "webhooks.html",
        minijinja::context! {
            title => "Webhooks", me => nav(panel, &p, "webhooks").await, csrf, notice, error,
            webhooks, families, form => minijinja::context! {
                url => &form.url, patterns => &form.patterns,
            },
        },
        status,
    ))
}

/// `GET /webhooks`.
pub async fn list(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    let notice = match done.done.as_deref() {
        Some("deleted") => "The webhook was deleted with its pending deliveries.",
        _ => "",
    };
    let form = CreateForm::default();
    render(
        &panel,
        p,
        &csrf,
        (notice, String::new()),
        &form,
        StatusCode::OK,
    )
    .await
}

/// `POST /webhooks`: adds a webhook and shows its secret, once.
pub async fn create(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, HttpError> {
    let form = CreateForm::from_pairs(pairs);
    let ctx = p.request_context(request_id, peer);
    let created = panel
        .webhooks
        .create(&p, &ctx, &form.url, &form.events())
        .await;
    match created {
        Ok(c) => Ok(page(
            &panel,
            "webhook_created.html",
            minijinja::context! {
                title => "Webhook created", me => nav(&panel, &p, "webhooks").await,
                webhook => webhook_context(&c.webhook, None), secret => c.secret.expose(),
            },
            StatusCode::OK,
        )),
        Err(e) => {
            let (status, message) = refusal(e)?;
            render(&panel, p, &csrf, ("", message), &form, status).await
        }
    }
}

/// `POST /webhooks/{id}/delete`.
pub async fn delete(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Response, HttpError> {
    let ctx = p.request_context(request_id, peer);
    let pp = p.clone();
    match blocking(&panel, move |w| w.delete(&pp, &ctx, &id)).await? {
        Ok(()) => Ok(Redirect::to("/webhooks?done=deleted").into_response()),
        Err(e) => {
            let (status, message) = refusal(e)?;
            let form = CreateForm::default();
            render(&panel, p, &csrf, ("", message), &form, status).await
        }
    }
}
