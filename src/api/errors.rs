//! Identity errors as API answers: the user gets a clear message, the log the detail.

use http::StatusCode;

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
