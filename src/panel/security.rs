//! The security page: the appliance's latest self-check results (SPEC §9) with the fix for
//! each failure, the bounded history, and a "Run checks now" button. Owners and admins only.
//!
//! The panel never runs the checks itself: `app` hands it a [`SecurityChecks`] that runs
//! them and keeps the history, so the page sees only plain report values.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{nav, page, Panel};
use crate::identity::Principal;
use crate::model::acceptance::{AcceptanceReport, CheckStatus};
use crate::policy::{allows, Action};
use crate::web::{Authed, BoxFuture, CsrfToken, HttpError};

/// What the page needs from whoever runs the self-check.
pub trait SecurityChecks: Send + Sync {
    /// Stored runs, newest first.
    fn history(&self) -> BoxFuture<'_, Result<Vec<AcceptanceReport>, String>>;
    /// Runs the checks now and stores the result, audited with `ctx`.
    fn run_now(&self, ctx: crate::audit::AuditContext) -> BoxFuture<'_, Result<(), String>>;
}

/// `?done=` codes (fixed messages; nothing from the URL is echoed).
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

fn when(unix: i64) -> String {
    crate::clock::rfc3339(
        OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH),
    )
}

/// Refuses members whose role may not see the checks.
fn authorize(p: &Principal) -> Result<(), HttpError> {
    if allows(p.role(), Action::SecurityChecks) {
        Ok(())
    } else {
        Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Only owners and admins see the security checks.",
        ))
    }
}

fn summary(r: &AcceptanceReport) -> minijinja::Value {
    minijinja::context! {
        when => when(r.started), target => &r.target,
        pass => r.count(CheckStatus::Pass), fail => r.count(CheckStatus::Fail),
        warn => r.count(CheckStatus::Warn), skip => r.count(CheckStatus::Skip),
    }
}

/// `GET /security`.
pub async fn show(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    authorize(&p)?;
    let notice = match done.done.as_deref() {
        Some("ran") => "The checks ran; the results below are new.",
        _ => "",
    };
    let can_act = !p.needs_two_factor();
    let runs = if can_act {
        panel
            .security
            .history()
            .await
            .map_err(HttpError::internal)?
    } else {
        Vec::new()
    };
    let latest = runs.first().map(|r| {
        let results = r
            .results
            .iter()
            .map(|c| {
                minijinja::context! {
                    id => &c.id, section => &c.section, title => &c.title,
                    status => c.status.as_str(), css => c.status.as_str().to_ascii_lowercase(),
                    evidence => &c.evidence, remediation => &c.remediation,
                }
            })
            .collect::<Vec<_>>();
        minijinja::context! { summary => summary(r), results }
    });
    let history = runs.iter().map(summary).collect::<Vec<_>>();
    Ok(page(
        &panel,
        "security.html",
        minijinja::context! {
            title => "Security", me => nav(&panel, &p, "security").await, csrf, notice, can_act, latest, history,
        },
        StatusCode::OK,
    ))
}

/// `POST /security/run`: runs the checks now, then shows the page again.
pub async fn run(
    State(panel): State<Arc<Panel>>,
    Authed(p): Authed<Principal>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    axum::Extension(crate::web::RequestId(request_id)): axum::Extension<crate::web::RequestId>,
) -> Result<Response, HttpError> {
    authorize(&p)?;
    if p.needs_two_factor() {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "two_factor_required",
            "Set up two-factor authentication on the Account page first.",
        ));
    }
    panel
        .security
        .run_now(p.request_context(request_id, peer))
        .await
        .map_err(HttpError::internal)?;
    Ok(Redirect::to("/security?done=ran").into_response())
}
