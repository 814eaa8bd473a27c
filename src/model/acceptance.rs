//! The security self-check's results as plain data, so the panel can show them and the store
//! can keep them without knowing how the checks run (SPEC §9).

use serde::{Deserialize, Serialize};

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CheckStatus {
    /// The rule holds.
    Pass,
    /// Not broken, but worth a look (e.g. nothing to check against yet).
    Warn,
    /// Not run, with the reason in the evidence.
    Skip,
    /// The rule is broken; the remediation says how to fix it.
    Fail,
}

impl CheckStatus {
    /// `PASS`, `WARN`, `SKIP` or `FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "PASS",
            CheckStatus::Warn => "WARN",
            CheckStatus::Skip => "SKIP",
            CheckStatus::Fail => "FAIL",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The catalog id, e.g. `headers.hsts`.
    pub id: String,
    /// The section, e.g. `headers`.
    pub section: String,
    /// What the rule says.
    pub title: String,
    /// The verdict.
    pub status: CheckStatus,
    /// Why the rule matters.
    pub rationale: String,
    /// What was seen.
    pub evidence: String,
    /// How to fix it (empty on PASS).
    pub remediation: String,
}

/// One run of the self-check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptanceReport {
    /// When the run started (Unix seconds).
    pub started: i64,
    /// What was checked (the URL, or `local` when only local sections ran).
    pub target: String,
    /// Every check that was selected, in catalog order.
    pub results: Vec<CheckResult>,
}

impl AcceptanceReport {
    /// How many results have `status`.
    pub fn count(&self, status: CheckStatus) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }

    /// Whether any check failed (the CLI then exits 1).
    pub fn failed(&self) -> bool {
        self.count(CheckStatus::Fail) > 0
    }
}
