//! The front page: what this appliance is and how to recognise it.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use axum::Extension;

use super::Panel;
use crate::identity::Principal;
use crate::web::{Authed, CsrfToken, HttpError};

/// `GET /`: who you are (signed in) or how to get in (visitors).
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
    let me = who.map(|Authed(p)| super::nav(&p));
    let html = panel.templates.render(
        "index.html",
        minijinja::context! { title => "Tundra", info => &panel.info, me, setup_pending, csrf },
    )?;
    Ok(Html(html))
}
