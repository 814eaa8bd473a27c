//! What the command pages share: running pipeline work off the async threads, the words for
//! its refusals, a command as the templates see it, and the run forms' fields.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::fleet_view::when;
use super::Panel;
use crate::commands::{CommandError, CommandRow, CommandStatus, Commands, NewCommand};
use crate::identity::IdentityError;
use crate::web::HttpError;

/// Characters of a command shown in lists before it is clipped.
const CLIP_CHARS: usize = 80;

/// Runs command pipeline work off the async threads; the pipeline's own error is left to
/// the caller (a page shows most of them as a message).
pub async fn blocking<T: Send + 'static>(
    panel: &Panel,
    f: impl FnOnce(&Commands) -> Result<T, CommandError> + Send + 'static,
) -> Result<Result<T, CommandError>, HttpError> {
    let commands = Arc::clone(&panel.commands);
    tokio::task::spawn_blocking(move || f(&commands))
        .await
        .map_err(HttpError::internal)
}

/// The label a form shows for a request field the pipeline names.
fn label(field: &str) -> &str {
    match field {
        "command" => "Command",
        "timeout_s" => "Timeout",
        "request_id" => "Request id",
        "tag" => "Tag",
        "script" => "Script",
        "name" => "Name",
        "description" => "Description",
        "content" => "Content",
        "at" => "Time",
        other => other,
    }
}

/// A refusal as the page shows it: its status, the message, and for a rate limit the
/// seconds to wait.
pub struct Refusal {
    /// The page's status.
    pub status: StatusCode,
    /// What the user is told.
    pub message: String,
    /// `Retry-After` seconds (a rate limit).
    pub retry_after: Option<u64>,
}

impl Refusal {
    /// A refusal the panel itself makes (a form field it checks before the pipeline).
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Puts `Retry-After` on the page shown for this refusal.
    pub fn finish(&self, mut res: Response) -> Response {
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                res.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
        }
        res
    }
}

/// What the user is told about a refused pipeline operation; `Err` for what is no user
/// mistake (a missing object is the 404 page; failures the log must see).
pub fn refusal(e: CommandError) -> Result<Refusal, HttpError> {
    let plain = |status, message: String| Refusal {
        status,
        message,
        retry_after: None,
    };
    Ok(match e {
        CommandError::Invalid { field, message } => plain(
            StatusCode::BAD_REQUEST,
            format!("{}: {message}.", label(&field)),
        ),
        CommandError::PolicyInvalid { field, reason } => {
            plain(StatusCode::BAD_REQUEST, format!("{field}: {reason}."))
        }
        CommandError::Forbidden(m) => plain(StatusCode::FORBIDDEN, m),
        CommandError::ReauthRequired => plain(
            StatusCode::FORBIDDEN,
            "Approving needs your password confirmed within the last 5 minutes. Confirm it \
             below, then approve again."
                .into(),
        ),
        CommandError::Conflict(m) => plain(StatusCode::CONFLICT, m),
        e @ CommandError::RateLimited {
            retry_after_secs, ..
        } => Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!("{}.", capitalized(&e.to_string())),
            retry_after: Some(retry_after_secs),
        },
        CommandError::Identity(IdentityError::TwoFactorRequired) => plain(
            StatusCode::FORBIDDEN,
            "Set up two-factor authentication on the Account page first: owners and admins \
             need it before they can act."
                .into(),
        ),
        CommandError::Identity(IdentityError::Forbidden) => plain(
            StatusCode::FORBIDDEN,
            "Your role does not allow that.".into(),
        ),
        CommandError::Fleet(e) => {
            let (status, message) = super::fleet_view::message(e)?;
            plain(status, message)
        }
        CommandError::NotFound => return Err(HttpError::not_found()),
        e => return Err(HttpError::internal(e)),
    })
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// RFC 3339 of unix milliseconds.
pub fn when_ms(ms: i64) -> String {
    when(ms.div_euclid(1000))
}

/// `text` clipped to `CLIP_CHARS` characters on one line.
pub fn clip(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.chars().count() <= CLIP_CHARS {
        line
    } else {
        let mut short: String = line.chars().take(CLIP_CHARS - 1).collect();
        short.push('…');
        short
    }
}

/// The status shown: "running" for a queued command its connected agent holds.
pub fn shown_status(row: &CommandRow, commands: &Commands) -> &'static str {
    if row.status == CommandStatus::Queued && commands.is_running(&row.id) {
        "running"
    } else {
        row.status.as_str()
    }
}

/// A command as a list row sees it.
pub fn row_context(row: &CommandRow, commands: &Commands) -> minijinja::Value {
    let result = row.result.as_ref();
    minijinja::context! {
        id => &row.id, agent => &row.agent.0, agent_name => &row.agent_name,
        command => clip(&row.command), requester => &row.requester_email,
        created => when_ms(row.created_ms), status => shown_status(row, commands),
        risk_score => row.risk_score, level => &row.level,
        exit_code => result.and_then(|r| r.exit_code),
        signal => result.and_then(|r| r.signal),
        script => row.script.as_ref().map(|s| format!("{}@{}", s.name, s.version)),
    }
}

/// A fresh idempotency key for a run form: a double submit of one rendered form sends the
/// same key, so it runs once.
pub fn new_request_id() -> String {
    format!("panel:{}", crate::crypto::random::hex_id())
}

/// The fields every run form has.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct RunFields {
    /// The command text.
    pub command: String,
    /// Seconds, or empty for the appliance's default.
    pub timeout_s: String,
    /// The form's idempotency key.
    pub request_id: String,
}

/// The timeout a form field asks for: empty is the default.
pub fn parse_timeout(field: &str) -> Result<Option<u32>, Refusal> {
    let field = field.trim();
    if field.is_empty() {
        return Ok(None);
    }
    field.parse().map(Some).map_err(|_| {
        Refusal::bad_input("Timeout: must be a whole number of seconds, or empty for the default.")
    })
}

impl RunFields {
    /// The request these fields make (a command text).
    pub fn new_command(&self) -> Result<NewCommand, Refusal> {
        Ok(NewCommand {
            command: Some(self.command.clone()),
            request_id: self.request_id.clone(),
            timeout_s: parse_timeout(&self.timeout_s)?,
            ..NewCommand::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_multi_line_commands_are_clipped_to_one_line() {
        assert_eq!(clip("uptime"), "uptime");
        assert_eq!(clip("a\nb\tc"), "a b c");
        let long = "x".repeat(200);
        let short = clip(&long);
        assert_eq!(short.chars().count(), CLIP_CHARS);
        assert!(short.ends_with('…'));
    }

    #[test]
    fn a_timeout_is_empty_or_whole_seconds() {
        assert_eq!(parse_timeout("").ok(), Some(None));
        assert_eq!(parse_timeout(" 30 ").ok(), Some(Some(30)));
        for bad in ["-1", "1.5", "ten"] {
            let e = parse_timeout(bad).err().unwrap();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.starts_with("Timeout:"), "{}", e.message);
        }
    }

    #[test]
    fn a_rate_limit_says_when_to_come_back() {
        let r = refusal(CommandError::RateLimited {
            limit: 60,
            retry_after_secs: 42,
        })
        .ok()
        .unwrap();
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.retry_after, Some(42));
        assert!(r.message.starts_with("Too many commands"), "{}", r.message);
        let res = r.finish(axum::response::IntoResponse::into_response(()));
        assert_eq!(res.headers()["retry-after"], "42");
    }

    #[test]
    fn a_bad_field_is_named_by_its_label() {
        let r = refusal(CommandError::invalid(
            "timeout_s",
            "must be between 1 and 86400 seconds",
        ))
        .ok()
        .unwrap();
        assert_eq!(r.message, "Timeout: must be between 1 and 86400 seconds.");
        assert!(refusal(CommandError::NotFound).is_err());
    }
}
