//! [`AclPolicy::validate`]: what serde cannot check, each refusal naming its JSON path.

use std::collections::HashMap;
use std::hash::Hash;

use super::window::{self, TimeWindow};
use super::{shown, AclPolicy, ActionKind, PolicyInvalid};
use crate::model::{is_well_formed_tag, AgentId, Role};
use crate::policy::rbac::{self, Action};

/// At most this many entries in `allow_agents` and in `block_agents`, each.
pub const MAX_AGENT_ENTRIES: usize = 500;

/// At most this many time windows.
pub const MAX_WINDOWS: usize = 50;

/// How an agent-list entry names a tag rather than an agent id.
pub(super) const TAG_PREFIX: &str = "tag:";

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> PolicyInvalid {
    PolicyInvalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Every check, in field order; the first failure wins.
pub(super) fn policy(p: &AclPolicy) -> Result<(), PolicyInvalid> {
    agent_list("allow_agents", &p.allow_agents)?;
    agent_list("block_agents", &p.block_agents)?;
    for kind in ActionKind::ALL {
        roles(&format!("roles.{}", kind.as_str()), p.roles.for_kind(kind))?;
    }
    if p.windows.len() > MAX_WINDOWS {
        return Err(invalid(
            "windows",
            format!("at most {MAX_WINDOWS} windows (got {})", p.windows.len()),
        ));
    }
    for (i, w) in p.windows.iter().enumerate() {
        time_window(&format!("windows[{i}]"), w)?;
    }
    Ok(())
}

/// `Err` naming `field[i]` when item `i` repeats an earlier one.
fn no_duplicates<T: Eq + Hash>(field: &str, items: &[T]) -> Result<(), PolicyInvalid> {
    let mut first: HashMap<&T, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(j) = first.insert(item, i) {
            return Err(invalid(
                format!("{field}[{i}]"),
                format!("duplicates {field}[{j}]"),
            ));
        }
    }
    Ok(())
}

fn agent_list(field: &str, entries: &[String]) -> Result<(), PolicyInvalid> {
    if entries.len() > MAX_AGENT_ENTRIES {
        return Err(invalid(
            field,
            format!(
                "at most {MAX_AGENT_ENTRIES} entries (got {})",
                entries.len()
            ),
        ));
    }
    for (i, entry) in entries.iter().enumerate() {
        let ok = match entry.strip_prefix(TAG_PREFIX) {
            Some(tag) => is_well_formed_tag(tag),
            None => AgentId::is_well_formed(entry),
        };
        if !ok {
            return Err(invalid(
                format!("{field}[{i}]"),
                format!(
                    "{} is neither an agent id (agt_ and 26 lowercase hex digits) nor \
                     tag:NAME (1-32 characters of a-z, 0-9, '-', '_', '.', ':')",
                    shown(entry)
                ),
            ));
        }
    }
    no_duplicates(field, entries)
}

fn roles(field: &str, listed: &[Role]) -> Result<(), PolicyInvalid> {
    for (i, role) in listed.iter().enumerate() {
        // The RBAC matrix decides who may operate at all; the ACL can only narrow it.
        if !rbac::allows(*role, Action::Operate) {
            return Err(invalid(
                format!("{field}[{i}]"),
                format!("{role} cannot run commands, shells or tunnels (RBAC)"),
            ));
        }
    }
    no_duplicates(field, listed)
}

fn time_window(field: &str, w: &TimeWindow) -> Result<(), PolicyInvalid> {
    if w.days.is_empty() {
        return Err(invalid(
            format!("{field}.days"),
            "name at least one day".to_string(),
        ));
    }
    for (i, day) in w.days.iter().enumerate() {
        if window::weekday(day).is_none() {
            return Err(invalid(
                format!("{field}.days[{i}]"),
                format!("{} is not a day ({})", shown(day), window::day_names()),
            ));
        }
    }
    no_duplicates(&format!("{field}.days"), &w.days)?;
    let Some(from) = window::minutes(&w.from, false) else {
        return Err(invalid(
            format!("{field}.from"),
            format!("{} is not a time HH:MM from 00:00 to 23:59", shown(&w.from)),
        ));
    };
    let Some(to) = window::minutes(&w.to, true) else {
        return Err(invalid(
            format!("{field}.to"),
            format!("{} is not a time HH:MM from 00:00 to 24:00", shown(&w.to)),
        ));
    };
    if from == to {
        return Err(invalid(
            format!("{field}.to"),
            "must differ from `from` (a window past midnight has `to` before `from`)".to_string(),
        ));
    }
    if window::zone(&w.time_zone).is_none() {
        return Err(invalid(
            format!("{field}.time_zone"),
            format!(
                "{} is not a time zone in the tz database (e.g. Europe/Berlin, UTC)",
                shown(&w.time_zone)
            ),
        ));
    }
    Ok(())
}
