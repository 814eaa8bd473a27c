//! Identity errors as API answers: the user gets a clear message, the log the detail.

use http::StatusCode;

use crate::fleet::FleetError;
use crate::identity::IdentityError;
use crate::web::HttpError;

/// Maps an identity error to its HTTP answer.
pub fn identity(e: IdentityError) -> HttpError {
    use IdentityError as E;
    match e {
        E::NotFound | E::NoSuchUser(_) | E::NoSuchTeam(_) => HttpError::not_found(),
        E::Forbidden => HttpError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
        E::TwoFactorRequired => {
            HttpError::new(StatusCode::FORBIDDEN, "two_factor_required", e.to_string())
        }
        E::ReauthRequired => {
            HttpError::new(StatusCode::FORBIDDEN, "reauth_required", e.to_string())
        }
        E::AlreadyMember { .. } | E::TeamExists(_) => {
            HttpError::new(StatusCode::CONFLICT, "conflict", e.to_string())
        }
        E::Invalid(_) | E::Password(_) | E::PasswordRequired | E::SetupRefused(_) => {
            HttpError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
        }
        E::Hash(_) | E::Audit(_) | E::Store(_) => HttpError::internal(e),
    }
}

/// Runs identity work off the async threads and maps its error to an API answer.
pub async fn blocking<T: Send + 'static>(
    api: &super::ApiState,
    f: impl FnOnce(&crate::identity::Identity) -> Result<T, IdentityError> + Send + 'static,
) -> Result<T, HttpError> {
    let service = std::sync::Arc::clone(&api.identity);
    tokio::task::spawn_blocking(move || f(&service))
        .await
        .map_err(HttpError::internal)?
        .map_err(identity)
}

/// Maps a fleet error to its HTTP answer.
pub fn fleet(e: FleetError) -> HttpError {
    match e {
        FleetError::Invalid { field, message } => HttpError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{field}: {message}"),
        ),
        FleetError::NotFound => HttpError::not_found(),
        FleetError::Forbidden => HttpError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
        FleetError::ReauthRequired => {
            HttpError::new(StatusCode::FORBIDDEN, "reauth_required", e.to_string())
        }
        FleetError::TooMany(m) => HttpError::new(StatusCode::CONFLICT, "too_many", m),
        FleetError::Enroll(r) => {
            let status = match r {
                crate::fleet::EnrollRefusal::UnknownToken
                | crate::fleet::EnrollRefusal::TokenExpired
                | crate::fleet::EnrollRefusal::TokenUsedUp => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            };
            HttpError::new(status, r.code(), r.to_string())
        }
        FleetError::Identity(e) => identity(e),
        e @ (FleetError::Audit(_) | FleetError::Store(_) | FleetError::X509(_)) => {
            HttpError::internal(e)
        }
    }
}

/// Runs fleet work off the async threads and maps its error to an API answer.
pub async fn fleet_blocking<T: Send + 'static>(
    api: &super::ApiState,
    f: impl FnOnce(&crate::fleet::Fleet) -> Result<T, FleetError> + Send + 'static,
) -> Result<T, HttpError> {
    let service = std::sync::Arc::clone(&api.fleet);
    tokio::task::spawn_blocking(move || f(&service))
        .await
        .map_err(HttpError::internal)?
        .map_err(fleet)
}

/// Maps a command pipeline error to its HTTP answer.
pub fn command(e: crate::commands::CommandError) -> HttpError {
    use crate::commands::CommandError as E;
    match e {
        E::Invalid { field, message } => HttpError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{field}: {message}"),
        ),
        E::PolicyInvalid { field, reason } => HttpError::new(
            StatusCode::BAD_REQUEST,
            "invalid_policy",
            format!("{field}: {reason}"),
        ),
        E::NotFound => HttpError::not_found(),
        E::Forbidden(m) => HttpError::new(StatusCode::FORBIDDEN, "forbidden", m),
        E::ReauthRequired => HttpError::new(
            StatusCode::FORBIDDEN,
            "reauth_required",
            "Approving needs your password confirmed within the last 5 minutes \
             (POST /api/v1/auth/reauth with a session; API tokens cannot approve).",
        ),
        E::Conflict(m) => HttpError::new(StatusCode::CONFLICT, "conflict", m),
        e @ E::RateLimited {
            retry_after_secs, ..
        } => HttpError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string())
            .retry_after(retry_after_secs),
        e @ E::TooManyRefused { retry_after_secs } => HttpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_refused",
            e.to_string(),
        )
        .retry_after(retry_after_secs),
        E::Identity(e) => identity(e),
        E::Fleet(e) => fleet(e),
        e @ (E::Audit(_) | E::Store(_)) => HttpError::internal(e),
    }
}

/// Runs command pipeline work off the async threads and maps its error to an API answer.
pub async fn commands_blocking<T: Send + 'static>(
    api: &super::ApiState,
    f: impl FnOnce(&crate::commands::Commands) -> Result<T, crate::commands::CommandError>
        + Send
        + 'static,
) -> Result<T, HttpError> {
    let service = std::sync::Arc::clone(&api.commands);
    tokio::task::spawn_blocking(move || f(&service))
        .await
        .map_err(HttpError::internal)?
        .map_err(command)
}

/// Maps a webhook error to its HTTP answer.
pub fn webhook(e: crate::webhooks::WebhookError) -> HttpError {
    use crate::webhooks::WebhookError as E;
    match e {
        E::Invalid { field, message } => HttpError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{field}: {message}"),
        ),
        E::NotFound => HttpError::not_found(),
        E::Forbidden(m) => HttpError::new(StatusCode::FORBIDDEN, "forbidden", m),
        E::Conflict(m) => HttpError::new(StatusCode::CONFLICT, "conflict", m),
        E::Identity(e) => identity(e),
        e @ (E::Audit(_) | E::Store(_) | E::Task(_)) => HttpError::internal(e),
    }
}

/// Runs webhook work off the async threads and maps its error to an API answer.
pub async fn webhooks_blocking<T: Send + 'static>(
    api: &super::ApiState,
    f: impl FnOnce(&crate::webhooks::Webhooks) -> Result<T, crate::webhooks::WebhookError>
        + Send
        + 'static,
) -> Result<T, HttpError> {
    let service = std::sync::Arc::clone(&api.webhooks);
    tokio::task::spawn_blocking(move || f(&service))
        .await
        .map_err(HttpError::internal)?
        .map_err(webhook)
}
