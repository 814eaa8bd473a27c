//! Agent tags and names: what they may contain.

use super::FleetError;

/// At most this many tags on one agent.
pub const MAX_TAGS: usize = 16;

/// Checks and normalizes tags: 1–32 characters of `a-z 0-9 - _ . :`, lowercased, no
/// duplicates, at most [`MAX_TAGS`].
pub fn check_tags(field: &'static str, tags: Vec<String>) -> Result<Vec<String>, FleetError> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_ascii_lowercase();
        if !crate::model::is_well_formed_tag(&t) {
            return Err(FleetError::Invalid {
                field,
                message: format!(
                    "{t:?} is not a tag (1-32 characters of a-z, 0-9, '-', '_', '.', ':')"
                ),
            });
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(FleetError::Invalid {
            field,
            message: format!("at most {MAX_TAGS} tags"),
        });
    }
    Ok(out)
}

/// Checks a free-text label (agent name, host name, OS): 1–`max` printable characters.
pub fn check_text(field: &'static str, s: &str, max: usize) -> Result<String, FleetError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(FleetError::Invalid {
            field,
            message: format!("must be 1 to {max} printable characters"),
        });
    }
    Ok(s.to_string())
}
