//! The HTTP(S) machinery: TLS, listeners with connection caps and timeouts, the redirect
//! listener, security headers, request ids, `Host` checks, body limits and the one place
//! errors become responses.
//!
//! `web` knows no features: it never names a page, an API route or a store table. Pages and
//! endpoints come from `panel` and `api`, composed by `app`.

mod auth;
pub mod cookies;
mod csrf;
mod error;
mod harden;
pub mod headers;
mod idle;
mod limiter;
mod listener;
mod redirect;
pub mod tls;

pub use auth::{Authed, Authenticate, Authenticator, BoxFuture};
pub use csrf::{csrf, CsrfPolicy, CsrfToken};
pub use error::{ErrorRenderer, HttpError, PendingError, Rendered};
pub use harden::{harden, RequestId, WebPolicy, MAX_BODY_BYTES};
pub use limiter::ConnLimiter;
pub use listener::{serve, ListenerLimits, Transport};
pub use redirect::redirect_router;
