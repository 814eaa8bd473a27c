//! `tundra logout`: revoke the saved API token and forget the login.

use std::process::ExitCode;

use crate::operator::login::revoke;
use crate::operator::{config, OperatorConfig, OperatorError};

/// Runs `tundra logout`. The file is deleted even when revoking fails (then exit status 1
/// and what to do instead), so a lost network never leaves the token on this machine.
pub async fn run() -> anyhow::Result<ExitCode> {
    let path = config::default_path()?;
    let saved = match OperatorConfig::load(&path) {
        Ok(c) => c,
        Err(OperatorError::NotLoggedIn(p)) => {
            println!("Not logged in (no {}).", p.display());
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e.into()),
    };
    let mut status = ExitCode::SUCCESS;
    match &saved.token_id {
        Some(id) => match revoke(&saved, id).await {
            Ok(()) => println!("Revoked token {id} on {}.", saved.server),
            Err(e) => {
                eprintln!(
                    "warning: could not revoke token {id} on {} ({e}); it stays valid until \
                     it expires: revoke it on the panel's API tokens page",
                    saved.server
                );
                status = ExitCode::FAILURE;
            }
        },
        None => eprintln!(
            "note: this token was given with --token-stdin and the CLI does not know its id, \
             so it was not revoked; revoke it on the panel's API tokens page"
        ),
    }
    config::remove(&path)?;
    println!("Forgot the login ({} deleted).", path.display());
    Ok(status)
}
