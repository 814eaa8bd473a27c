//! `tundra audit export|pubkey|head|verify|archive`.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;

use super::local::Local;
use crate::config::Config;
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
    /// A team's export (from the API or the panel) is verified with `--team` or a saved team
    /// head: its team chain too, and that it holds nothing of another team.
    Verify {
        /// The JSONL export.
        file: PathBuf,
        /// The audit public key: 64 hex characters or a file holding them.
        #[arg(long, value_name = "KEY")]
        pubkey: String,
        /// A saved head: a file from `tundra audit head` or the API/panel (a team head), or
        /// its JSON.
        #[arg(long, value_name = "HEAD")]
        head: Option<String>,
        /// Verify a team's export: the team id its records carry.
        #[arg(long, value_name = "TEAM_ID")]
        team: Option<String>,
    },
    /// Move the records below SEQ into a new archive file and remove them from the store,
    /// leaving an `audit.archived` anchor: the archive and the remaining log each verify.
    Archive {
        /// Archive the records with a lower sequence number.
        #[arg(long, value_name = "SEQ")]
        before: u64,
        /// The archive file to create (refuses to overwrite).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
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
        Command::Verify {
            file,
            pubkey,
            head,
            team,
        } => super::audit_verify::verify(&file, &pubkey, head.as_deref(), team.as_deref()),
        Command::Archive { before, out } => {
            super::audit_archive::archive(Local::connect(config()?).await?, before, &out).await
        }
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
        let lines = page(&mut local, after).await?;
        for line in &lines {
            sink.write_all(line.as_bytes())?;
            sink.write_all(b"\n")?;
        }
        count += lines.len() as u64;
        // Sequence numbers need not start at 1 (older records may be archived): go on after
        // the last one received.
        match lines.last() {
            Some(last) => after = seq_of(last)?,
            None => break,
        }
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

/// The `seq` of one exported line.
pub(super) fn seq_of(line: &str) -> anyhow::Result<u64> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    Ok(serde_json::from_str::<Seq>(line)
        .context("the appliance sent a line that is not a record")?
        .seq)
}

/// One page of the whole log: up to [`MAX_PAGE`] records after seq `after`.
pub(super) async fn page(local: &mut Local, after: u64) -> anyhow::Result<Vec<String>> {
    match local
        .request(Request::AuditExport {
            after,
            limit: MAX_PAGE,
        })
        .await?
    {
        Response::AuditPage { lines } => Ok(lines),
        other => bail!("unexpected answer: {other:?}"),
    }
}
