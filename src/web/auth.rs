//! Authentication as an extractor. `web` knows no users: the app registers an
//! [`Authenticate`] implementation, and handlers that take [`Authed<P>`] only run for
//! requests it accepts. Others get 401.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use super::error::HttpError;

/// A boxed future, as async trait methods need.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Turns a request's credentials into a principal of type `P`.
pub trait Authenticate<P>: Send + Sync + 'static {
    /// The principal, or the error to answer with (401 when there are no credentials).
    fn authenticate<'a>(&'a self, parts: &'a Parts) -> BoxFuture<'a, Result<P, HttpError>>;
}

/// The registered authenticator, stored as a request extension by the app.
pub struct Authenticator<P>(pub Arc<dyn Authenticate<P>>);

impl<P> Clone for Authenticator<P> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

/// An authenticated principal.
#[derive(Debug, Clone)]
pub struct Authed<P>(pub P);

impl<S: Send + Sync, P: Send + Sync + 'static> FromRequestParts<S> for Authed<P> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(auth) = parts.extensions.get::<Authenticator<P>>().cloned() else {
            return Err(HttpError::internal("no authenticator registered"));
        };
        auth.0.authenticate(parts).await.map(Authed)
    }
}

/// `Option<Authed<P>>`: `None` for a request without valid credentials (pages that show
/// something else to visitors), an error only when authentication itself failed.
impl<S: Send + Sync, P: Send + Sync + 'static> OptionalFromRequestParts<S> for Authed<P> {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match <Self as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(a) => Ok(Some(a)),
            Err(e) if e.status == http::StatusCode::UNAUTHORIZED => Ok(None),
            Err(e) => Err(e),
        }
    }
}
