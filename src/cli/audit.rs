//! `tundra audit export|pubkey|head|verify`.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;

use super::local::Local;
use crate::audit::{verify_jsonl, SignedHead};
use crate::config::Config;
use crate::crypto::PublicKey;
use crate::proto::control::{Request, Response, MAX_PAGE};

/// Audit log commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the log as JSON lines (to stdout, or a new 0600 file with --out).
    Export {
        /// First sequence number to include (default: the whole log).
        #[arg(long, value_name = "SEQ", default_value_t = 1)]
        since: u64,
        /// File to create (refuses to overwrite).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print the audit public key (hex) that verifies records and heads.
    Pubkey,
    /// Print a signed head (newest seq + hash); keep it to detect a cut-off tail later.
    Head,
    /// Verify an export offline: hashes, chain, order, signatures and optionally a saved head.
    Verify {
        /// The JSONL export.
        file: PathBuf,
        /// The audit public key: 64 hex characters or a file holding them.
        #[arg(long, value_name = "KEY")]
        pubkey: String,
        /// A saved head: a file from `tundra audit head`, or its JSON.
        #[arg(long, value_name = "HEAD")]
        head: Option<String>,
    },
}

/// Runs an audit command; `config` is loaded only by the commands that need the store.
pub async fn run(
    cmd: Command,
    config: impl FnOnce() -> anyhow::Result<Config>,
) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Export { since, out } => {
            export(Local::connect(config()?).await?, since, out).await
        }
        Command::Pubkey => {
            match Local::connect(config()?)
                .await?
                .request(Request::AuditPubkey)
                .await?
            {
                Response::AuditPubkey { hex } => println!("{hex}"),
                other => bail!("unexpected answer: {other:?}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Head => {
            match Local::connect(config()?)
                .await?
                .request(Request::AuditHead)
                .await?
            {
                Response::AuditHead { head } => println!("{head}"),
                other => bail!("unexpected answer: {other:?}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { file, pubkey, head } => verify(file, &pubkey, head.as_deref()),
    }
}

async fn export(mut local: Local, since: u64, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let mut sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(BufWriter::new(
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("while creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut after = since.saturating_sub(1);
    let mut count = 0u64;
    loop {
        let lines = match local
            .request(Request::AuditExport {
                after,
                limit: MAX_PAGE,
            })
            .await?
        {
            Response::AuditPage { lines } => lines,
            other => bail!("unexpected answer: {other:?}"),
        };
        for line in &lines {
            sink.write_all(line.as_bytes())?;
            sink.write_all(b"\n")?;
        }
        count += lines.len() as u64;
        after += lines.len() as u64;
        if lines.len() < MAX_PAGE as usize {
            break;
        }
    }
    sink.flush()?;
    if let Some(path) = out {
        eprintln!("wrote {count} records to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(file: PathBuf, pubkey: &str, head: Option<&str>) -> anyhow::Result<ExitCode> {
    let key_text = if std::path::Path::new(pubkey).is_file() {
        std::fs::read_to_string(pubkey).with_context(|| format!("while reading {pubkey}"))?
    } else {
        pubkey.to_string()
    };
    let key = PublicKey::from_hex(&key_text).context("--pubkey")?;
    let head: Option<SignedHead> = match head {
        None => None,
        Some(h) => {
            let text = if h.trim_start().starts_with('{') {
                h.to_string()
            } else {
                std::fs::read_to_string(h).with_context(|| format!("while reading {h}"))?
            };
            Some(serde_json::from_str(text.trim()).context("--head is not a signed head")?)
        }
    };
    let input = BufReader::new(
        File::open(&file).with_context(|| format!("while opening {}", file.display()))?,
    );
    match verify_jsonl(input, &key, head.as_ref()) {
        Ok(r) => {
            println!(
                "OK: records {}..{} verified (hashes, chain, order, signatures){}; last hash {}",
                r.first,
                r.last,
                if r.head_checked {
                    ", saved head matched"
                } else {
                    ""
                },
                r.last_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => {
            println!("FAILED: {f}");
            Ok(ExitCode::from(1))
        }
    }
}
