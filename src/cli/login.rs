//! `tundra login`: sign in to an appliance from this machine and keep an API token for the
//! other operator commands.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::crypto::Secret;
use crate::model::Role;
use crate::operator::login::{login, login_with_token, revoke, this_host, LoginOptions};
use crate::operator::output::timestamp;
use crate::operator::prompt::{Credentials, Lines, Terminal};
use crate::operator::trust::{parse_pin, parse_roots};
use crate::operator::{config, OperatorError, ServerUrl, TrustMode};

/// The largest `--ca` file read.
const MAX_CA_BYTES: u64 = 1 << 20;

/// `tundra login` arguments.
#[derive(Debug, Args)]
#[command(
    after_help = "Without --ca or --pin-sha256 the system's root certificates are \
    trusted (for an appliance with a publicly issued certificate).\n\nThe token is saved in \
    $TUNDRA_OPERATOR_CONFIG, else $XDG_CONFIG_HOME/tundra/operator.json, else \
    ~/.config/tundra/operator.json (mode 0600). The password is never saved."
)]
pub struct Login {
    /// The appliance's panel, e.g. https://panel.example.com or https://10.0.0.5:8443.
    #[arg(long, value_name = "URL")]
    server: String,
    /// Trust the CA or self-signed certificate(s) in this PEM file (e.g. the appliance's
    /// panel-cert.pem); the certificate must also be valid for the URL's host.
    #[arg(long, value_name = "FILE", conflicts_with = "pin_sha256")]
    ca: Option<PathBuf>,
    /// Trust exactly the panel certificate with this SHA-256 (64 hex digits, colons
    /// allowed), as `tundra serve` prints it ("Panel certificate SHA-256"). The
    /// certificate's host names and validity dates are NOT checked then: the pin alone
    /// identifies the appliance.
    #[arg(long, value_name = "HEX")]
    pin_sha256: Option<String>,
    /// The account's email (asked for when not given).
    #[arg(long, value_name = "E")]
    email: Option<String>,
    /// Read the password from the first line of stdin (and a two-factor code, when
    /// asked for, from the next); needs --email.
    #[arg(long, conflicts_with = "token_stdin")]
    password_stdin: bool,
    /// Instead of signing in, save an API token read from stdin (checked first).
    #[arg(long, conflicts_with_all = ["email", "ttl_days", "role"])]
    token_stdin: bool,
    /// Days until the issued token expires (1-365).
    #[arg(long, value_name = "N", default_value_t = 30)]
    ttl_days: u32,
    /// The token's role (default: operator, or your own role if lower). admin and owner
    /// need your password confirmed again, which a fresh sign-in does.
    #[arg(long, value_name = "R")]
    role: Option<Role>,
}

fn trust(args: &Login) -> Result<TrustMode, OperatorError> {
    if let Some(file) = &args.ca {
        let name = file.display().to_string();
        let mut pem = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(
                std::fs::File::open(file)
                    .map_err(|e| OperatorError::Usage(format!("--ca {name}: {e}")))?,
                MAX_CA_BYTES,
            ),
            &mut pem,
        )
        .map_err(|e| OperatorError::Usage(format!("--ca {name}: {e}")))?;
        parse_roots(&name, &pem)?;
        return Ok(TrustMode::Ca { file: name, pem });
    }
    if let Some(pin) = &args.pin_sha256 {
        return Ok(TrustMode::Pin {
            sha256: hex::encode(parse_pin(pin)?),
        });
    }
    Ok(TrustMode::System)
}

fn token_from_stdin() -> Result<Secret<String>, OperatorError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| OperatorError::Input {
            what: "the token from stdin",
            message: e.to_string(),
        })?;
    let token = Secret::new(line.trim().to_string());
    zeroize::Zeroize::zeroize(&mut line);
    Ok(token)
}

/// Runs `tundra login`.
pub async fn run(args: Login) -> anyhow::Result<ExitCode> {
    let server = ServerUrl::parse(&args.server)?;
    let trust = trust(&args)?;
    let path = config::default_path()?;
    let saved = if args.token_stdin {
        login_with_token(server, trust, token_from_stdin()?).await?
    } else {
        let opts = LoginOptions {
            server,
            trust,
            ttl_days: args.ttl_days,
            role: args.role,
            hostname: this_host(),
        };
        let mut creds: Box<dyn Credentials> = if args.password_stdin {
            Box::new(Lines::new(std::io::stdin().lock(), args.email.clone()))
        } else {
            Box::new(Terminal::open(args.email.clone())?)
        };
        login(&opts, creds.as_mut()).await?
    };
    if let Err(e) = saved.save(&path) {
        // A token nobody holds is only a risk: take it back.
        if let Some(id) = &saved.token_id {
            if let Err(r) = revoke(&saved, id).await {
                eprintln!(
                    "warning: could not revoke the new token {id} ({r}); revoke it in the panel"
                );
            }
        }
        return Err(e).context("while saving the login");
    }
    println!(
        "Logged in to {} as {} (role {} in team {}).",
        saved.server, saved.email, saved.role, saved.team
    );
    match (saved.expires, &saved.token_id) {
        (Some(at), Some(id)) => println!("Token {id} expires {}.", timestamp(at)),
        (None, Some(id)) => println!("Token {id} does not expire."),
        (_, None) => println!("The token given on stdin is saved; its expiry is not known here."),
    }
    println!("Saved in {}.", path.display());
    Ok(ExitCode::SUCCESS)
}
