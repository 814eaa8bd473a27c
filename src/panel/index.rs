//! The front page: what this appliance is and how to recognise it.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;

use super::Panel;
use crate::web::HttpError;

/// `GET /`.
pub async fn page(State(panel): State<Arc<Panel>>) -> Result<Html<String>, HttpError> {
    let html = panel.templates.render(
        "index.html",
        minijinja::context! { title => "Tundra", info => &panel.info },
    )?;
    Ok(Html(html))
}
