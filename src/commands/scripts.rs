//! The team's approved script library: owners and admins approve scripts (each save is a new
//! version, content-hashed), members run them by name. A library script skips the engine's
//! score threshold — an admin has read it — but never its hard blocks, which are checked
//! when it is approved and again every time it runs.

use super::policy_store::stored_policy;
use super::rows::ScriptRow;
use super::submit::check_command_text;
use super::{CommandError, Commands};
use crate::audit::{AuditContext, AuditEvent};
use crate::crypto::digest::sha256;
use crate::identity::Principal;
use crate::model::TeamId;
use crate::policy::Action;
use crate::store::{RowRead, Table};

/// Script names one team may have at most.
const MAX_SCRIPTS: usize = 500;
/// The longest description.
const MAX_DESCRIPTION: usize = 500;

/// A script (or a new version of one) to approve.
#[derive(Debug, Clone, Default)]
pub struct NewScript {
    /// 1–64 characters of a-z 0-9 - _ .
    pub name: String,
    /// What it does.
    pub description: String,
    /// The script text.
    pub content: String,
}

fn check_name(name: &str) -> Result<(), CommandError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if !ok {
        return Err(CommandError::invalid(
            "name",
            "must be 1 to 64 characters of a-z, 0-9, '-', '_', '.'",
        ));
    }
    Ok(())
}

fn versions(tx: &impl RowRead, team: &TeamId, name: &str) -> Result<Vec<ScriptRow>, CommandError> {
    let mut rows: Vec<ScriptRow> = tx
        .get_rows::<ScriptRow>(Table::Scripts, &format!("{team}/{name}/"))?
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    rows.sort_by_key(|s| std::cmp::Reverse(s.version));
    Ok(rows)
}

/// The script a run names: its newest version, or the one asked for, if not retired.
pub(super) fn script_for_run(
    tx: &impl RowRead,
    team: &TeamId,
    name: &str,
    version: Option<u32>,
) -> Result<ScriptRow, CommandError> {
    let all = versions(tx, team, name)?;
    let found = match version {
        Some(v) => all.into_iter().find(|s| s.version == v),
        None => all.into_iter().next(),
    };
    match found {
        Some(s) if !s.retired => Ok(s),
        Some(s) => Err(CommandError::invalid(
            "script",
            format!("{}@{} is retired", s.name, s.version),
        )),
        None => Err(CommandError::invalid(
            "script",
            format!("no approved script {name:?} (version {version:?}) in your team"),
        )),
    }
}

fn key(s: &ScriptRow) -> String {
    format!("{}/{}/{:08}", s.team, s.name, s.version)
}

impl Commands {
    /// The newest version of each script in the team's library, by name (every role).
    pub fn scripts(&self, p: &Principal) -> Result<Vec<ScriptRow>, CommandError> {
        self.check(p, Action::View)?;
        let all = self.store.read(|tx| {
            tx.rows::<ScriptRow>(Table::Scripts, &format!("{}/", p.team()))
                .map_err(CommandError::from)
        })?;
        let mut newest: Vec<ScriptRow> = Vec::new();
        for (_, s) in all {
            match newest.last_mut() {
                Some(last) if last.name == s.name => *last = s,
                _ => newest.push(s),
            }
        }
        Ok(newest)
    }

    /// Every version of one script, newest first.
    pub fn script_versions(
        &self,
        p: &Principal,
        name: &str,
    ) -> Result<Vec<ScriptRow>, CommandError> {
        self.check(p, Action::View)?;
        check_name(name).map_err(|_| CommandError::NotFound)?;
        let all = self.store.read(|tx| versions(tx, p.team(), name))?;
        if all.is_empty() {
            return Err(CommandError::NotFound);
        }
        Ok(all)
    }

    /// Approves a script into the library as its next version (owners and admins). Content
    /// that a hard-block rule refuses cannot be approved.
    pub fn approve_script(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        new: NewScript,
    ) -> Result<ScriptRow, CommandError> {
        self.check(p, Action::Approve)?;
        check_name(&new.name)?;
        if new.description.chars().count() > MAX_DESCRIPTION
            || new.description.chars().any(char::is_control)
        {
            return Err(CommandError::invalid(
                "description",
                format!("at most {MAX_DESCRIPTION} printable characters"),
            ));
        }
        check_command_text(&new.content).map_err(|e| match e {
            CommandError::Invalid { message, .. } => CommandError::invalid("content", message),
            other => other,
        })?;
        let now = self.now_ms();
        let row = self.store.write(|tx| {
            let stored = stored_policy(tx, p.team())?;
            let verdict = self.engine_for(p.team(), &stored)?.judge(&new.content);
            if let Some(hit) = verdict.hard_block {
                return Err(CommandError::invalid(
                    "content",
                    format!(
                        "refused by rule {} ({}): {}",
                        hit.rule, hit.part, hit.description
                    ),
                ));
            }
            let existing = tx.rows::<ScriptRow>(Table::Scripts, &format!("{}/", p.team()))?;
            let version = existing
                .iter()
                .filter(|(_, s)| s.name == new.name)
                .map(|(_, s)| s.version)
                .max()
                .unwrap_or(0)
                + 1;
            let mut names: Vec<&str> = existing.iter().map(|(_, s)| s.name.as_str()).collect();
            names.dedup();
            if version == 1 && names.len() >= MAX_SCRIPTS {
                return Err(CommandError::Conflict(format!(
                    "The library holds {MAX_SCRIPTS} scripts; retire one first."
                )));
            }
            let row = ScriptRow {
                team: p.team().clone(),
                name: new.name.clone(),
                version,
                description: new.description.trim().to_string(),
                sha256: hex::encode(sha256(new.content.as_bytes())),
                content: new.content.clone(),
                approved_by: p.email().to_string(),
                approved_ms: now,
                risk_score: verdict.score,
                retired: false,
            };
            tx.put_row(Table::Scripts, &key(&row), &row)?;
            let ctx = AuditContext {
                command: Some(row.content.clone()),
                ..ctx.clone()
            };
            let event = AuditEvent::ScriptApproved {
                name: row.name.clone(),
                version,
                sha256: row.sha256.clone(),
            };
            self.audit.append(tx, &ctx, &event)?;
            Ok(row)
        })?;
        Ok(row)
    }

    /// Retires every version of a script (owners and admins): it can no longer run.
    pub fn retire_script(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        name: &str,
    ) -> Result<(), CommandError> {
        self.check(p, Action::Approve)?;
        check_name(name).map_err(|_| CommandError::NotFound)?;
        self.store.write(|tx| {
            let all = versions(tx, p.team(), name)?;
            if all.is_empty() {
                return Err(CommandError::NotFound);
            }
            for mut s in all.into_iter().filter(|s| !s.retired) {
                s.retired = true;
                tx.put_row(Table::Scripts, &key(&s), &s)?;
            }
            let event = AuditEvent::ScriptRetired { name: name.into() };
            self.audit.append(tx, ctx, &event)?;
            Ok(())
        })
    }
}
