//! The front page: for visitors, what this appliance is and how to recognise it; for the
//! signed-in, a dashboard of the team's fleet as well.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use axum::Extension;

use super::fleet_view::{blocking, message, state};
use super::Panel;
use crate::fleet::needs_update;
use crate::identity::Principal;
use crate::policy::{allows, Action};
use crate::web::{Authed, CsrfToken, HttpError};

/// The fleet counts on the dashboard; `None` with a reason when they cannot be shown.
async fn fleet_counts(
    panel: &Arc<Panel>,
    p: &Principal,
) -> Result<(Option<minijinja::Value>, String), HttpError> {
    let pp = p.clone();
    let rows = match blocking(panel, move |f| f.agents(&pp)).await? {
        Ok(rows) => rows,
        Err(e) => return Ok((None, message(e)?.1)),
    };
    let min = panel.fleet.min_agent_version();
    let (mut online, mut offline, mut deactivated, mut outdated) = (0, 0, 0, 0);
    for a in &rows {
        let s = state(a, &panel.hub.status(&a.id));
        match s {
            "online" => online += 1,
            "offline" => offline += 1,
            _ => deactivated += 1,
        }
        if s != "deactivated" && needs_update(&a.version, min) {
            outdated += 1;
        }
    }
    let pp = p.clone();
    let events = match blocking(panel, move |f| f.recent_events(&pp, 10)).await? {
        Ok(records) => records
            .into_iter()
            .map(|r| {
                minijinja::context! {
                    seq => r.seq, ts => r.ts, actor => r.actor.to_string(),
                    action => r.action, target => r.target.unwrap_or_default(),
                }
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let counts = minijinja::context! {
        total => rows.len(), online, offline, deactivated, outdated, events,
        can_enroll => allows(p.role(), Action::ManageFleet),
    };
    Ok((Some(counts), String::new()))
}

/// `GET /`: who you are and the fleet at a glance (signed in) or how to get in (visitors).
pub async fn page(
    State(panel): State<Arc<Panel>>,
    who: Option<Authed<Principal>>,
    Extension(CsrfToken(csrf)): Extension<CsrfToken>,
) -> Result<Html<String>, HttpError> {
    let identity = Arc::clone(&panel.identity);
    let setup_pending = tokio::task::spawn_blocking(move || identity.setup_pending())
        .await
        .map_err(HttpError::internal)?
        .map_err(HttpError::internal)?;
    let (me, fleet, fleet_error) = match who {
        Some(Authed(p)) => {
            let (fleet, error) = fleet_counts(&panel, &p).await?;
            (Some(super::nav(&panel, &p, "home").await), fleet, error)
        }
        None => (None, None, String::new()),
    };
    let html = panel.templates.render(
        "index.html",
        minijinja::context! {
            title => "Tundra", info => &panel.info, me, setup_pending, csrf, fleet, fleet_error,
        },
    )?;
    Ok(Html(html))
}
