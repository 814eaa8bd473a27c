//! The report as a table for people.

use crate::model::acceptance::{AcceptanceReport, CheckStatus};

fn paint(status: CheckStatus, color: bool) -> String {
    let text = format!("{:<4}", status.as_str());
    if !color {
        return text;
    }
    let code = match status {
        CheckStatus::Pass => "32",
        CheckStatus::Warn => "33",
        CheckStatus::Skip => "2",
        CheckStatus::Fail => "1;31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// One block per check (status, id, title; then what was seen and, unless it passed, the
/// fix), grouped by section, and a summary line. ANSI colors only when `color`.
pub fn table(report: &AcceptanceReport, color: bool) -> String {
    let mut out = format!("Tundra acceptance checks against {}\n", report.target);
    let mut section = "";
    for r in &report.results {
        if r.section != section {
            section = &r.section;
            out.push_str(&format!("\n{section}\n"));
        }
        out.push_str(&format!(
            "  {}  {:<30} {}\n",
            paint(r.status, color),
            r.id,
            r.title
        ));
        out.push_str(&format!("        seen: {}\n", r.evidence));
        if !r.remediation.is_empty() {
            out.push_str(&format!("        why:  {}\n", r.rationale));
            out.push_str(&format!("        fix:  {}\n", r.remediation));
        }
    }
    out.push_str(&format!(
        "\n{} passed, {} failed, {} warnings, {} skipped\n",
        report.count(CheckStatus::Pass),
        report.count(CheckStatus::Fail),
        report.count(CheckStatus::Warn),
        report.count(CheckStatus::Skip)
    ));
    out
}
