//! The policy editor's inputs: the draft typed into the textarea (parsed so that a mistake
//! names its exact field), the preview's time field, and the example the page's help shows.

use crate::policy::TeamPolicy;

/// Why a draft cannot be used: the field at fault (a path from the document's root, like
/// `acl.windows[0].days`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftError {
    /// The path of the offending value; `(policy)` for the document as a whole.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl DraftError {
    /// A mistake in `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Parses and validates a draft; a type error names the JSON path serde stopped at, a rule
/// `TeamPolicy::validate` refuses names its own field.
pub fn parse(text: &str) -> Result<TeamPolicy, DraftError> {
    if text.trim().is_empty() {
        return Err(DraftError::new(
            "(policy)",
            "is empty; write {} for the defaults",
        ));
    }
    if text.len() > crate::policy::MAX_POLICY_BYTES {
        return Err(DraftError::new(
            "(policy)",
            format!(
                "is {} bytes; at most {}",
                text.len(),
                crate::policy::MAX_POLICY_BYTES
            ),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let policy: TeamPolicy = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "(policy)".into() } else { path };
        DraftError::new(field, e.into_inner().to_string())
    })?;
    de.end()
        .map_err(|e| DraftError::new("(policy)", format!("text after the document: {e}")))?;
    policy
        .validate()
        .map_err(|e| DraftError::new(e.field, e.reason))?;
    Ok(policy)
}

/// The preview's time: empty is now; otherwise `YYYY-MM-DDTHH:MM` (what a
/// `datetime-local` field sends, read as UTC), with optional seconds, or RFC 3339 with
/// its own offset. Answers unix seconds.
pub fn parse_at(field: &str) -> Result<Option<i64>, String> {
    let field = field.trim();
    if field.is_empty() {
        return Ok(None);
    }
    if let Some(at) = crate::clock::parse_rfc3339(field) {
        return Ok(Some(at.unix_timestamp()));
    }
    let minutes = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let seconds =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(field, &minutes)
        .or_else(|_| time::PrimitiveDateTime::parse(field, &seconds))
        .map(|t| Some(t.assume_utc().unix_timestamp()))
        .map_err(|_| "Time: use YYYY-MM-DDTHH:MM (UTC), or leave it empty for now.".to_string())
}

/// The example the editor's help shows (a unit test keeps it valid).
pub const EXAMPLE: &str = r#"{
  "acl": {
    "default": "allow",
    "allow_agents": [],
    "block_agents": ["tag:prod-db"],
    "roles": {
      "exec": ["owner", "admin", "operator"],
      "shell": ["owner", "admin"],
      "tunnel": ["owner", "admin"]
    },
    "windows": [
      {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "from": "07:30",
        "to": "19:00",
        "time_zone": "Europe/Berlin"
      }
    ]
  },
  "approval_threshold": 40,
  "rules": []
}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_example_is_a_valid_policy() {
        let p = parse(EXAMPLE).unwrap();
        assert_eq!(p.acl.block_agents, ["tag:prod-db"]);
        assert_eq!(p.acl.windows.len(), 1);
    }

    #[test]
    fn an_empty_object_is_the_defaults() {
        assert_eq!(parse("{}").unwrap(), TeamPolicy::default());
    }

    #[test]
    fn a_wrong_type_names_its_json_path() {
        let e = parse(r#"{"acl": {"windows": [{"days": "mon"}]}}"#).unwrap_err();
        assert_eq!(e.field, "acl.windows[0].days", "{e:?}");
        let e = parse(r#"{"acl": {"colour": 1}}"#).unwrap_err();
        assert!(e.field.starts_with("acl"), "{e:?}");
        assert!(e.reason.contains("colour"), "{e:?}");
    }

    #[test]
    fn a_rule_the_validator_refuses_names_its_field() {
        let e = parse(r#"{"approval_threshold": 0}"#).unwrap_err();
        assert_eq!(e.field, "approval_threshold");
        let text = r#"{"acl": {"windows": [{"days": ["mon"], "from": "08:00", "to": "18:00",
            "time_zone": "Mars/Olympus"}]}}"#;
        let e = parse(text).unwrap_err();
        assert_eq!(e.field, "acl.windows[0].time_zone", "{e:?}");
    }

    #[test]
    fn broken_or_trailing_text_is_the_whole_document_s_fault() {
        assert_eq!(parse("").unwrap_err().field, "(policy)");
        assert_eq!(parse("{} {}").unwrap_err().field, "(policy)");
        assert_eq!(parse("42").unwrap_err().field, "(policy)");
    }

    #[test]
    fn the_preview_time_reads_datetime_local_as_utc() {
        assert_eq!(parse_at(""), Ok(None));
        assert_eq!(parse_at("1970-01-02T00:00"), Ok(Some(86_400)));
        assert_eq!(parse_at("1970-01-02T00:00:30"), Ok(Some(86_430)));
        assert_eq!(parse_at("1970-01-02T01:00:00+01:00"), Ok(Some(86_400)));
        assert!(parse_at("tomorrow").is_err());
    }
}
