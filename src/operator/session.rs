//! A client acting with the saved API token: what `agents`, `exec` and `logout` use.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::client::{Auth, Client, Request, Response};
use super::config::OperatorConfig;
use super::OperatorError;
use crate::crypto::Secret;

/// The appliance and the token to act with; cheap to clone (for one task per command).
#[derive(Clone)]
pub struct Session {
    client: Client,
    token: Arc<Secret<String>>,
}

impl Session {
    /// A session for the saved login.
    pub fn new(config: &OperatorConfig) -> Result<Self, OperatorError> {
        Ok(Self {
            client: Client::new(config.server.clone(), config.trust.clone())?,
            token: Arc::new(Secret::new(config.token.expose().clone())),
        })
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `GET path`, whatever the status, allowing `timeout` for the whole request.
    pub async fn get_raw(&self, path: &str, timeout: Duration) -> Result<Response, OperatorError> {
        let req = Request::get(path, Auth::Bearer(&self.token)).timeout(timeout);
        self.checked(self.client.send(req).await?)
    }

    /// `GET path` as JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, OperatorError> {
        let res = self.get_raw(path, super::client::REQUEST_TIMEOUT).await?;
        self.client.parse(&res)
    }

    /// `POST path` with `body`, the answer as JSON.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, OperatorError> {
        let req = Request::post(path, Auth::Bearer(&self.token), body);
        let res = self.checked(self.client.send(req).await?)?;
        self.client.parse(&res)
    }

    /// A 2xx answer, or the error it carries (401: the token is no longer accepted).
    fn checked(&self, res: Response) -> Result<Response, OperatorError> {
        if res.status.is_success() {
            return Ok(res);
        }
        if res.status == http::StatusCode::UNAUTHORIZED {
            return Err(OperatorError::TokenRefused {
                server: self.client.server().to_string(),
            });
        }
        Err(res.error())
    }
}
