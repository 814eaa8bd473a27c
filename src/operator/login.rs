//! `tundra login`: sign in with the password (and a two-factor code when asked), issue an
//! API token for this machine, sign the session out again, save the token. The password
//! lives only in memory, in a [`Secret`], and only for this flow; the token is never shown.

use serde::Serialize;

use super::api::{IssuedToken, Me};
use super::client::{Auth, Client, Cookies, Request};
use super::config::OperatorConfig;
use super::prompt::Credentials;
use super::trust::TrustMode;
use super::url::ServerUrl;
use super::OperatorError;
use crate::crypto::Secret;
use crate::model::Role;

/// The longest token lifetime the appliance grants, in days.
pub const MAX_TTL_DAYS: u32 = 365;
/// The appliance's limit on a token name, in characters.
const MAX_TOKEN_NAME: usize = 64;

/// What `tundra login` was asked for.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// The appliance.
    pub server: ServerUrl,
    /// How to trust it.
    pub trust: TrustMode,
    /// Days until the token expires (1–365).
    pub ttl_days: u32,
    /// The token's role; `None`: operator, or the user's own role if lower.
    pub role: Option<Role>,
    /// This machine's name, for the token's name.
    pub hostname: String,
}

#[derive(Serialize)]
struct LoginBody<'a> {
    email: &'a str,
    password: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    totp: Option<&'a str>,
}

#[derive(Serialize)]
struct ReauthBody<'a> {
    password: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    totp: Option<&'a str>,
}

#[derive(Serialize)]
struct NewToken<'a> {
    name: &'a str,
    role: &'a str,
    expires_in_days: u32,
}

/// `tundra CLI on <hostname>`, cut to the appliance's name limit.
pub fn token_name(hostname: &str) -> String {
    let name = format!("tundra CLI on {}", hostname.trim());
    name.chars()
        .filter(|c| !c.is_control())
        .take(MAX_TOKEN_NAME)
        .collect()
}

/// This machine's name (uname's node name), for the token's name.
pub fn this_host() -> String {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy().trim().to_string();
    if name.is_empty() {
        "unknown host".into()
    } else {
        name
    }
}

/// The role a token gets when `--role` is not given: operator, or lower if the user is.
pub fn default_role(own: Role) -> Role {
    own.min(Role::Operator)
}

/// Signs in, issues the token, signs out. Returns the login to save (the caller saves it
/// and revokes the token with [`revoke`] if it cannot).
pub async fn login(
    opts: &LoginOptions,
    creds: &mut dyn Credentials,
) -> Result<OperatorConfig, OperatorError> {
    if !(1..=MAX_TTL_DAYS).contains(&opts.ttl_days) {
        return Err(OperatorError::Usage(format!(
            "--ttl-days must be from 1 to {MAX_TTL_DAYS}"
        )));
    }
    let client = Client::new(opts.server.clone(), opts.trust.clone())?;
    // Any answer sets the CSRF cookie. Asking for it first also proves the server is the
    // trusted one before anyone types a password.
    let mut jar = Cookies::default();
    let res = client.send(Request::get("/healthz", Auth::None)).await?;
    jar.update(&res);

    let email = creds.email()?;
    let password = creds.password()?;
    let mut used_code = false;
    let mut body = LoginBody {
        email: &email,
        password: password.expose(),
        totp: None,
    };
    let mut res = client
        .send(Request::post(
            "/api/v1/auth/login",
            Auth::Cookies(&jar),
            &body,
        ))
        .await?;
    let code;
    if !res.status.is_success() && res.error().api_code() == Some("totp_required") {
        code = Secret::new(creds.code("Two-factor code (or a recovery code)")?);
        used_code = true;
        body.totp = Some(code.expose());
        res = client
            .send(Request::post(
                "/api/v1/auth/login",
                Auth::Cookies(&jar),
                &body,
            ))
            .await?;
    }
    if !res.status.is_success() {
        return Err(res.error());
    }
    jar.update(&res);
    if !jar.signed_in() {
        return Err(client.unexpected("signed in, but no session cookie came back".into()));
    }

    let issued = issue(&client, &jar, opts, &password, used_code, creds).await;
    // The session was only a means to issue the token: end it whatever happened.
    let signed_out = client
        .send(Request::post(
            "/api/v1/auth/logout",
            Auth::Cookies(&jar),
            &(),
        ))
        .await;
    if let Ok(r) = &signed_out {
        if !r.status.is_success() {
            tracing::warn!(error = %r.error(), "could not sign the login session out");
        }
    } else if let Err(e) = &signed_out {
        tracing::warn!(error = %e, "could not sign the login session out");
    }
    let (me, token) = issued?;
    Ok(OperatorConfig {
        server: opts.server.clone(),
        trust: opts.trust.clone(),
        token: token.token,
        token_id: Some(token.id),
        email: me.user.email,
        team: me.team.id,
        role: token.role,
        expires: token.expires,
    })
}

/// Reads who signed in and issues the token, confirming the password again if the
/// appliance asks for it (admin-scope tokens).
async fn issue(
    client: &Client,
    jar: &Cookies,
    opts: &LoginOptions,
    password: &Secret<String>,
    used_code: bool,
    creds: &mut dyn Credentials,
) -> Result<(Me, IssuedToken), OperatorError> {
    let me: Me = client
        .call(Request::get("/api/v1/me", Auth::Cookies(jar)))
        .await?;
    if me.two_factor_required {
        return Err(OperatorError::Usage(format!(
            "{} must enroll two-factor before acting as {} (the panel's Account page); \
             then log in again",
            me.user.email, me.role
        )));
    }
    let own: Role = me
        .role
        .parse()
        .map_err(|e: String| client.unexpected(format!("me.role: {e}")))?;
    let role = opts.role.unwrap_or_else(|| default_role(own));
    let name = token_name(&opts.hostname);
    let body = NewToken {
        name: &name,
        role: role.as_str(),
        expires_in_days: opts.ttl_days,
    };
    let create = || Request::post("/api/v1/tokens", Auth::Cookies(jar), &body);
    let res = client.send(create()).await?;
    if res.status.is_success() {
        return Ok((me, client.parse(&res)?));
    }
    let err = res.error();
    if err.api_code() != Some("reauth_required") {
        return Err(err);
    }
    // A fresh sign-in normally counts as a confirmation; when it does not, confirm again.
    // A two-factor code works once, so this one must be the next.
    let code = if used_code {
        Some(Secret::new(creds.code(
            "Admin-scope tokens need a fresh confirmation: the NEXT two-factor code",
        )?))
    } else {
        None
    };
    let reauth = ReauthBody {
        password: password.expose(),
        totp: code.as_ref().map(|c| c.expose().as_str()),
    };
    let _: serde_json::Value = client
        .call(Request::post(
            "/api/v1/auth/reauth",
            Auth::Cookies(jar),
            &reauth,
        ))
        .await?;
    let token = client.call(create()).await?;
    Ok((me, token))
}

/// Checks a token given on stdin with `GET /api/v1/me` and returns the login to save. Its
/// id and expiry are unknown to the CLI (the API does not tell a token its own id), so
/// `tundra logout` cannot revoke it.
pub async fn login_with_token(
    server: ServerUrl,
    trust: TrustMode,
    token: Secret<String>,
) -> Result<OperatorConfig, OperatorError> {
    if !token.expose().starts_with("tnd_") || token.expose().chars().any(char::is_whitespace) {
        return Err(OperatorError::Usage(
            "--token-stdin: stdin does not hold an API token (tnd_live_…)".into(),
        ));
    }
    let client = Client::new(server.clone(), trust.clone())?;
    let me: Me = client
        .call(Request::get("/api/v1/me", Auth::Bearer(&token)))
        .await
        .map_err(|e| match e {
            OperatorError::Api { status: 401, .. } => OperatorError::Usage(
                "the appliance refused this token (unknown, expired or revoked)".into(),
            ),
            e => e,
        })?;
    Ok(OperatorConfig {
        server,
        trust,
        token,
        token_id: None,
        email: me.user.email,
        team: me.team.id,
        role: me.role,
        expires: None,
    })
}

/// Revokes the saved token with itself (`DELETE /api/v1/tokens/{id}`). A token the
/// appliance no longer accepts (401) counts as revoked.
pub async fn revoke(config: &OperatorConfig, token_id: &str) -> Result<(), OperatorError> {
    let client = Client::new(config.server.clone(), config.trust.clone())?;
    let path = format!("/api/v1/tokens/{token_id}");
    let res = client
        .send(Request::delete(path, Auth::Bearer(&config.token)))
        .await?;
    match res.status.as_u16() {
        200..=299 | 401 => Ok(()),
        _ => Err(res.error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_named_after_the_host_within_the_limit() {
        assert_eq!(token_name("laptop\n"), "tundra CLI on laptop");
        let long = token_name(&"h".repeat(100));
        assert_eq!(long.chars().count(), MAX_TOKEN_NAME);
        assert!(long.starts_with("tundra CLI on hhh"));
    }

    #[test]
    fn the_default_role_is_operator_or_lower() {
        assert_eq!(default_role(Role::Owner), Role::Operator);
        assert_eq!(default_role(Role::Admin), Role::Operator);
        assert_eq!(default_role(Role::Operator), Role::Operator);
        assert_eq!(default_role(Role::Viewer), Role::Viewer);
    }
}
