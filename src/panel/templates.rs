//! The embedded minijinja templates.

use minijinja::{Environment, UndefinedBehavior};
use rust_embed::RustEmbed;
use serde::Serialize;

use crate::web::{ErrorRenderer, HttpError};

#[derive(RustEmbed)]
#[folder = "templates/"]
struct Files;

/// Every template under `templates/`, compiled once at start.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Loads and compiles the embedded templates; a syntax error fails start-up.
    pub fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        // Auto-escaping is on for .html by minijinja's default; undefined values are errors
        // so a misspelled variable fails a test instead of rendering empty.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for name in Files::iter() {
            let Some(file) = Files::get(&name) else {
                continue;
            };
            let text = String::from_utf8_lossy(&file.data).into_owned();
            env.add_template_owned(name.into_owned(), text)?;
        }
        Ok(Self { env })
    }

    /// Renders template `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, HttpError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| HttpError::internal(format!("template {name}: {e:#}")))
    }
}

impl ErrorRenderer for Templates {
    fn render_html(&self, err: &HttpError, request_id: &str) -> String {
        let ctx = minijinja::context! {
            title => format!("{} {}", err.status.as_u16(), err.status.canonical_reason().unwrap_or("Error")),
            status => err.status.as_u16(),
            code => err.code,
            message => &err.message,
            request_id => request_id,
        };
        self.render("error.html", ctx).unwrap_or_else(|e| {
            tracing::error!(error = %e, "error page template failed");
            format!("{} {}", err.status.as_u16(), err.code)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_error_page_escapes() {
        let t = Templates::load().unwrap();
        let err = HttpError::new(http::StatusCode::BAD_REQUEST, "bad", "<script>x</script>");
        let html = t.render_html(&err, "rid");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("rid"));
    }
}
