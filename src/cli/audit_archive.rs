//! `tundra audit archive --before SEQ --out FILE`: the oldest records move to a file, then
//! leave the store.
//!
//! The order makes a failure at any step lose nothing: the records are written to a
//! temporary file beside FILE, flushed to disk and verified with the audit key; the file is
//! then put in place (never over an existing one) and its directory synced; only then does the
//! appliance remove the records — after checking, in one transaction, that the store still
//! holds exactly what the file does — and append the `audit.archived` anchor.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use super::audit::{page, seq_of};
use super::local::Local;
use crate::audit::verify_jsonl;
use crate::crypto::PublicKey;
use crate::proto::control::{Request, Response, MAX_PAGE};

/// What was written to the temporary file.
struct Written {
    records: u64,
    first_seq: u64,
    last_seq: u64,
    last_hash: String,
    sha256: String,
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

fn last_hash(line: &str) -> anyhow::Result<String> {
    #[derive(serde::Deserialize)]
    struct Hash {
        hash: String,
    }
    Ok(serde_json::from_str::<Hash>(line)
        .context("the appliance sent a line that is not a record")?
        .hash)
}

async fn write_records(local: &mut Local, before: u64, file: File) -> anyhow::Result<Written> {
    let mut sink = BufWriter::new(file);
    let mut digest = Sha256::new();
    let mut w = Written {
        records: 0,
        first_seq: 0,
        last_seq: 0,
        last_hash: String::new(),
        sha256: String::new(),
    };
    let mut after = 0;
    'pages: loop {
        let lines = page(local, after).await?;
        for line in &lines {
            let seq = seq_of(line)?;
            if seq >= before {
                break 'pages;
            }
            if w.records == 0 {
                w.first_seq = seq;
            }
            w.records += 1;
            w.last_seq = seq;
            w.last_hash = last_hash(line)?;
            for part in [line.as_bytes(), b"\n"] {
                sink.write_all(part)?;
                digest.update(part);
            }
            after = seq;
        }
        if lines.len() < MAX_PAGE as usize {
            break;
        }
    }
    let file = sink.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    w.sha256 = hex::encode(digest.finalize());
    Ok(w)
}

async fn pubkey(local: &mut Local) -> anyhow::Result<PublicKey> {
    match local.request(Request::AuditPubkey).await? {
        Response::AuditPubkey { hex } => Ok(PublicKey::from_hex(&hex)?),
        other => bail!("unexpected answer: {other:?}"),
    }
}

fn sync_dir(path: &Path) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("while syncing {}", dir.display()))
}

/// Archives the records below `before` into `out`.
pub async fn archive(mut local: Local, before: u64, out: &Path) -> anyhow::Result<ExitCode> {
    if before < 2 {
        bail!("--before must be above 1: the records below it are archived");
    }
    if out.exists() {
        bail!("{} exists; choose a new file", out.display());
    }
    let key = pubkey(&mut local).await?;
    let partial = partial_path(out);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("while creating {}", partial.display()))?;
    let written = match write_records(&mut local, before, file).await {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let refuse = |why: String| -> anyhow::Result<ExitCode> {
        let _ = std::fs::remove_file(&partial);
        bail!("{why}; nothing was archived")
    };
    if written.records == 0 {
        return refuse(format!("the store holds no records below {before}"));
    }
    if written.last_seq + 1 != before {
        return refuse(format!(
            "the newest record is {}, below --before {before}",
            written.last_seq
        ));
    }
    let check = File::open(&partial)
        .map_err(anyhow::Error::from)
        .and_then(|f| verify_jsonl(BufReader::new(f), &key, None).map_err(anyhow::Error::from));
    if let Err(e) = check {
        return refuse(format!("the exported records do not verify: {e}"));
    }
    // Link, not rename: linking refuses to replace a file that appeared meanwhile.
    std::fs::hard_link(&partial, out)
        .with_context(|| format!("while creating {}", out.display()))?;
    std::fs::remove_file(&partial)?;
    sync_dir(out)?;
    let answer = local
        .request(Request::AuditArchive {
            before,
            records: written.records,
            first_seq: written.first_seq,
            last_hash: written.last_hash.clone(),
            file_sha256: written.sha256.clone(),
        })
        .await;
    match answer {
        Ok(Response::Done { message }) => {
            eprintln!(
                "wrote {} records ({}..{}) to {} (sha256 {}); {message}",
                written.records,
                written.first_seq,
                written.last_seq,
                out.display(),
                written.sha256
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Response::Error { message, .. }) => {
            let _ = std::fs::remove_file(out);
            bail!("the appliance refused: {message}; nothing was removed")
        }
        Ok(other) => bail!("unexpected answer: {other:?}"),
        Err(e) => Err(e.context(format!(
            "the appliance did not answer; {} is kept — check `tundra audit export` before \
             archiving again",
            out.display()
        ))),
    }
}
