//! `tundra audit verify`: an export checked offline with only the public key — the whole log
//! (`tundra audit export`) or one team's (API, panel), against a saved head if given.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};

use crate::audit::{verify_jsonl, verify_team_jsonl, SignedHead, TeamHead};
use crate::crypto::PublicKey;

/// A saved head of either kind.
enum Head {
    Log(SignedHead),
    Team(TeamHead),
}

fn read_arg(value: &str, what: &str) -> anyhow::Result<String> {
    if value.trim_start().starts_with('{') {
        return Ok(value.to_string());
    }
    std::fs::read_to_string(value).with_context(|| format!("while reading {what} {value}"))
}

fn parse_head(text: &str) -> anyhow::Result<Head> {
    let text = text.trim();
    if let Ok(h) = serde_json::from_str::<TeamHead>(text) {
        return Ok(Head::Team(h));
    }
    serde_json::from_str::<SignedHead>(text)
        .map(Head::Log)
        .context(
            "--head is neither a signed head (`tundra audit head`) nor a team head (API, panel)",
        )
}

/// Verifies `file`; exit code 1 (and `FAILED: …` naming the record) when it does not hold.
pub fn verify(
    file: &Path,
    pubkey: &str,
    head: Option<&str>,
    team: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let key_text = if Path::new(pubkey).is_file() {
        std::fs::read_to_string(pubkey).with_context(|| format!("while reading {pubkey}"))?
    } else {
        pubkey.to_string()
    };
    let key = PublicKey::from_hex(key_text.trim()).context("--pubkey")?;
    let head = head
        .map(|h| read_arg(h, "--head").and_then(|t| parse_head(&t)))
        .transpose()?;
    let input = BufReader::new(
        File::open(file).with_context(|| format!("while opening {}", file.display()))?,
    );
    let team = match (&head, team) {
        (Some(Head::Team(h)), Some(t)) if h.team != t => {
            bail!("--head is the head of team {}, not of {t}", h.team)
        }
        (Some(Head::Team(h)), _) => Some(h.team.clone()),
        (Some(Head::Log(_)), Some(_)) => {
            bail!(
                "--head is a whole-log head (`tundra audit head`); a team export needs a team head"
            )
        }
        (_, t) => t.map(str::to_string),
    };
    let outcome = match (team, &head) {
        (Some(team), head) => {
            let head = match head {
                Some(Head::Team(h)) => Some(h),
                _ => None,
            };
            verify_team_jsonl(input, &key, &team, head).map(|r| {
                format!(
                    "OK: team {} records {} (positions {}..{}) verified (hashes, team chain, \
                     signatures, nothing of another team){}; last hash {}",
                    r.team,
                    r.records,
                    r.first_position.map_or("-".into(), |p| p.to_string()),
                    r.last_position.map_or("-".into(), |p| p.to_string()),
                    if r.head_checked {
                        ", saved head matched"
                    } else {
                        ""
                    },
                    r.last_hash
                )
            })
        }
        (None, head) => {
            let head = match head {
                Some(Head::Log(h)) => Some(h),
                _ => None,
            };
            verify_jsonl(input, &key, head).map(|r| {
                format!(
                    "OK: records {}..{} verified (hashes, chain, order, signatures){}; last hash {}",
                    r.first,
                    r.last,
                    if r.head_checked {
                        ", saved head matched"
                    } else {
                        ""
                    },
                    r.last_hash
                )
            })
        }
    };
    match outcome {
        Ok(line) => {
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => {
            println!("FAILED: {f}");
            Ok(ExitCode::from(1))
        }
    }
}
