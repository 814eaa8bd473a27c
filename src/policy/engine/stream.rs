//! How a command treats its standard input: produces a literal, passes it on, decodes it,
//! runs it as code, or schedules it to run later.

use super::decode::{base64_text, decode_escapes, hex_text, printf, rev, tr, Escapes};
use super::nested::{is_shell, script_lang};
use super::part::Lang;

/// A transformation of literal data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decoder {
    Base64,
    Hex,
    Rev,
    Tr(String, Option<String>),
}

impl Decoder {
    /// The decoded text, if the input decodes to text.
    pub(crate) fn apply(&self, input: &str) -> Option<String> {
        match self {
            Decoder::Base64 => base64_text(input),
            Decoder::Hex => hex_text(&hexdump_bytes(input)),
            Decoder::Rev => Some(rev(input.strip_suffix('\n').unwrap_or(input))),
            Decoder::Tr(from, to) => Some(tr(input, from, to.as_deref())),
        }
    }
}

/// The hex digits of `xxd` output (`00000000: 726d 2d72  rm-r`), or the input if plain.
fn hexdump_bytes(input: &str) -> String {
    if !input.contains(": ") {
        return input.to_string();
    }
    input
        .lines()
        .map(|l| {
            let body = l.split_once(": ").map_or(l, |(_, b)| b);
            body.split("  ").next().unwrap_or("").replace(' ', "")
        })
        .collect()
}

/// How a command treats its standard input.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Behavior {
    /// Prints this literal (`echo`, `printf`), ignoring its input.
    Produce(String),
    /// Copies input to output (`cat`).
    Pass,
    /// Copies input to output and to files; `Some(system)` when a file runs later.
    Tee {
        persist: Option<bool>,
    },
    Decode(Decoder),
    /// Runs its input as code in this language.
    Run(Lang),
    /// Schedules its input to run later (`crontab -`, `at`); `system` when lines carry a user.
    Persist {
        system: bool,
    },
    #[default]
    Other,
}

fn has(args: &[String], flags: &[&str]) -> bool {
    args.iter().any(|a| flags.contains(&a.as_str()))
}

/// `echo`'s output.
fn echo(args: &[String]) -> String {
    let mut newline = true;
    let mut escapes = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let Some(opts) = a.strip_prefix('-') else {
            break;
        };
        if opts.is_empty() || !opts.chars().all(|c| "neE".contains(c)) {
            break;
        }
        newline &= !opts.contains('n');
        escapes = opts.contains('e') || (escapes && !opts.contains('E'));
        i += 1;
    }
    let mut out = args[i.min(args.len())..].join(" ");
    if escapes {
        out = decode_escapes(&out, Escapes::Echo);
    }
    if newline {
        out.push('\n');
    }
    out
}

/// How `program args…` treats its standard input (args are its arguments, not its name).
pub(crate) fn behavior(program: &str, args: &[String]) -> Behavior {
    let operands: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-') || *a == "-")
        .collect();
    match program {
        "echo" => Behavior::Produce(echo(args)),
        "printf" if !args.is_empty() && args[0] != "-v" => {
            Behavior::Produce(printf(&args[0], &args[1..]))
        }
        "cat" if operands.is_empty() || operands.iter().all(|a| *a == "-") => Behavior::Pass,
        "tee" => Behavior::Tee {
            persist: operands.iter().find_map(|a| persist_target(a)),
        },
        "base64" | "basenc" if has(args, &["-d", "--decode", "-D", "-di", "-id"]) => {
            Behavior::Decode(Decoder::Base64)
        }
        "openssl"
            if args.iter().any(|a| a.contains("base64") || a == "-a") && has(args, &["-d"]) =>
        {
            Behavior::Decode(Decoder::Base64)
        }
        "xxd"
            if args
                .iter()
                .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('r')) =>
        {
            Behavior::Decode(Decoder::Hex)
        }
        "rev" if operands.is_empty() => Behavior::Decode(Decoder::Rev),
        "tr" => {
            let delete = has(args, &["-d", "--delete"]);
            let sets: Vec<&String> = args
                .iter()
                .filter(|a| !a.starts_with('-') || a.len() == 1)
                .collect();
            match (delete, sets.first(), sets.get(1)) {
                (true, Some(s), _) => Behavior::Decode(Decoder::Tr(s.to_string(), None)),
                (false, Some(a), Some(b)) => {
                    Behavior::Decode(Decoder::Tr(a.to_string(), Some(b.to_string())))
                }
                _ => Behavior::Other,
            }
        }
        "crontab" if !has(args, &["-l", "-r", "-e"]) && operands.iter().all(|a| *a == "-") => {
            Behavior::Persist { system: false }
        }
        "at" | "batch" if !has(args, &["-f", "-l", "-r", "-c", "-d"]) => {
            Behavior::Persist { system: false }
        }
        "source" | "."
            if operands
                .first()
                .is_some_and(|a| *a == "/dev/stdin" || *a == "-") =>
        {
            Behavior::Run(Lang::Shell)
        }
        "ssh" if remote_command_absent(args) => Behavior::Run(Lang::Shell),
        "powershell" | "pwsh" if args.is_empty() || args.iter().any(|a| a == "-") => {
            Behavior::Run(Lang::PowerShell)
        }
        "iex" | "invoke-expression" => Behavior::Run(Lang::PowerShell),
        p if is_shell(p) => {
            let reads_stdin = has(args, &["-s", "-"])
                || operands.first().is_some_and(|a| *a == "/dev/stdin")
                || (operands.is_empty()
                    && !args.iter().any(|a| a.starts_with('-') && a.contains('c')));
            if reads_stdin {
                Behavior::Run(Lang::Shell)
            } else {
                Behavior::Other
            }
        }
        p => match script_lang(p) {
            Some(Lang::Awk) | None => Behavior::Other,
            Some(lang) => {
                let code_flag = has(
                    args,
                    &["-c", "-e", "-E", "-r", "--eval", "-p", "--print", "-m"],
                );
                if !code_flag && (operands.is_empty() || operands[0] == "-") {
                    Behavior::Run(lang)
                } else {
                    Behavior::Other
                }
            }
        },
    }
}

/// `ssh host` with no remote command reads commands from standard input.
fn remote_command_absent(args: &[String]) -> bool {
    const VALUE: &str = "BbcDEeFIiJLlmOoPpQRSWw";
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some(o) = a.strip_prefix('-') {
            let takes = o.len() == 1 && VALUE.contains(o);
            i += if takes { 2 } else { 1 };
            continue;
        }
        return i + 1 == args.len();
    }
    false
}

/// Whether a redirection target or file runs later: `Some(true)` for a system crontab
/// (lines carry a user field), `Some(false)` for other schedules, units and rc files.
pub(crate) fn persist_target(target: &str) -> Option<bool> {
    let path = target.rsplit(' ').next().unwrap_or(target);
    const SYSTEM: &[&str] = &["/etc/crontab", "/etc/cron.d/"];
    const OTHER: &[&str] = &[
        "/etc/cron.",
        "/var/spool/cron",
        "/etc/systemd/",
        "/lib/systemd/",
        "/.config/systemd/",
        "/etc/init.d/",
        "/etc/rc.local",
        "/etc/rc.d/",
        "/etc/profile",
        "/etc/bash.bashrc",
        ".bashrc",
        ".bash_profile",
        ".bash_login",
        ".profile",
        ".zshrc",
        ".zprofile",
        ".zlogin",
        "/.config/autostart",
        "/etc/xdg/autostart",
        "/etc/update-motd.d/",
    ];
    if SYSTEM.iter().any(|s| path.contains(s)) {
        Some(true)
    } else if OTHER.iter().any(|s| path.contains(s)) {
        Some(false)
    } else {
        None
    }
}

fn cron_field(f: &str) -> bool {
    !f.is_empty()
        && (f.chars().all(|c| c.is_ascii_digit() || "*/,-".contains(c))
            || (f.len() == 3 && f.chars().all(|c| c.is_ascii_alphabetic())))
}

/// The commands in a crontab, a systemd unit or an rc file: schedules, `Exec*=` keys and
/// section headers removed, so the commands are judged as commands.
pub(crate) fn scheduled_commands(text: &str, system: bool) -> String {
    let unit = text.contains("[Service]") || text.contains("[Unit]") || text.contains("ExecStart");
    let mut out = Vec::new();
    for line in text.lines().take(4096) {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if unit {
            if let Some((key, value)) = l.split_once('=') {
                if key.starts_with("Exec") {
                    out.push(
                        value
                            .trim_start_matches(['-', '@', ':', '+', '!'])
                            .to_string(),
                    );
                }
            }
            continue;
        }
        let fields: Vec<&str> = l.split_whitespace().collect();
        let skip = if l.starts_with('@') {
            1
        } else if fields.len() > 5 && fields[..5].iter().all(|f| cron_field(f)) {
            5
        } else {
            0
        };
        let skip = if skip > 0 && system { skip + 1 } else { skip };
        if skip > 0 {
            out.push(fields.get(skip..).unwrap_or(&[]).join(" "));
        } else {
            out.push(l.to_string());
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn producers_decoders_runners() {
        assert_eq!(
            behavior("echo", &v("-n hi there")),
            Behavior::Produce("hi there".into())
        );
        assert_eq!(
            behavior("base64", &v("-d")),
            Behavior::Decode(Decoder::Base64)
        );
        assert_eq!(behavior("bash", &[]), Behavior::Run(Lang::Shell));
        assert_eq!(behavior("bash", &v("-s -- x")), Behavior::Run(Lang::Shell));
        assert_eq!(behavior("bash", &v("script.sh")), Behavior::Other);
        assert_eq!(behavior("python3", &v("-")), Behavior::Run(Lang::Python));
        assert_eq!(
            behavior("crontab", &v("-")),
            Behavior::Persist { system: false }
        );
        assert_eq!(behavior("crontab", &v("-l")), Behavior::Other);
        assert_eq!(
            behavior("ssh", &v("-p 22 host")),
            Behavior::Run(Lang::Shell)
        );
        assert_eq!(behavior("ssh", &v("host uptime")), Behavior::Other);
    }

    #[test]
    fn schedules_are_stripped_to_commands() {
        assert_eq!(
            scheduled_commands("*/5 * * * * curl x | sh", false),
            "curl x | sh"
        );
        assert_eq!(scheduled_commands("@reboot /tmp/x", false), "/tmp/x");
        assert_eq!(scheduled_commands("* * * * * root /tmp/x", true), "/tmp/x");
        assert_eq!(
            scheduled_commands("[Service]\nExecStart=/bin/sh -c 'id'\nUser=root", false),
            "/bin/sh -c 'id'"
        );
        assert_eq!(persist_target(">> /home/u/.bashrc"), Some(false));
        assert_eq!(persist_target("> /etc/cron.d/x"), Some(true));
        assert_eq!(persist_target("> /tmp/x"), None);
    }
}
