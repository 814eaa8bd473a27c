//! The programs people nest in arguments: the `-c` string of a shell, the code of a script
//! interpreter (`python -c`, `perl -e`, awk programs), what `powershell` runs (`-Command`,
//! `-EncodedCommand`), the remote command of `ssh`, `find -exec`.

use super::decode::base64_utf16le;
use super::part::{Fact, Lang};

const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "rbash", "fish", "csh", "tcsh", "yash",
    "posh",
];

/// Whether `program` is a POSIX-ish shell.
pub(crate) fn is_shell(program: &str) -> bool {
    SHELLS.contains(&program)
}

/// The script language `program` interprets, if any (`python3.11` is python).
pub(crate) fn script_lang(program: &str) -> Option<Lang> {
    let p = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    match p {
        "python" | "pypy" | "ipython" => Some(Lang::Python),
        "perl" => Some(Lang::Perl),
        "ruby" | "irb" => Some(Lang::Ruby),
        "node" | "nodejs" | "bun" | "deno" => Some(Lang::Node),
        "php" => Some(Lang::Php),
        "awk" | "gawk" | "mawk" | "nawk" => Some(Lang::Awk),
        "lua" | "luajit" => Some(Lang::Lua),
        _ => None,
    }
}

/// The first argument after `-c` in a shell's options (`-c`, `-lc`, `-xec`).
pub(crate) fn shell_command(argv: &[String]) -> Option<String> {
    let mut i = 1;
    let mut wants_command = false;
    while i < argv.len() {
        let a = &argv[i];
        if a == "-o" || a == "+o" || a == "-O" || a == "+O" || a == "--rcfile" || a == "--init-file"
        {
            i += 2;
            continue;
        }
        if a.starts_with('-') && !a.starts_with("--") && a.len() > 1 {
            wants_command |= a.contains('c');
            i += 1;
            continue;
        }
        if a.starts_with("--") {
            i += 1;
            continue;
        }
        return wants_command.then(|| a.clone());
    }
    None
}

/// Code given on a script interpreter's command line (`-c`, `-e`, `-r`, `--eval`), with
/// module flags (`perl -MIO::Socket`, `ruby -rsocket`) made part of the code.
pub(crate) fn script_code(lang: Lang, argv: &[String]) -> Option<String> {
    let code_flags: &[&str] = match lang {
        Lang::Python => &["-c"],
        Lang::Perl => &["-e", "-E"],
        Lang::Ruby | Lang::Lua => &["-e"],
        Lang::Node => &["-e", "--eval", "-p", "--print", "eval"],
        Lang::Php => &["-r"],
        _ => &[],
    };
    let mut code: Vec<String> = Vec::new();
    let mut modules: Vec<String> = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        let clustered = a.len() > 2
            && a.starts_with('-')
            && !a.starts_with("--")
            && code_flags
                .iter()
                .any(|f| f.len() == 2 && a.ends_with(&f[1..]))
            && matches!(lang, Lang::Perl | Lang::Python | Lang::Ruby);
        if code_flags.contains(&a) || clustered {
            if let Some(c) = argv.get(i + 1) {
                code.push(c.clone());
            }
            i += 2;
            continue;
        }
        // Code attached to its flag: `-e'print 1'`, `-c'import os'`.
        if let Some(f) = code_flags
            .iter()
            .find(|f| f.len() == 2 && a.len() > 2 && a.starts_with(**f))
        {
            code.push(a[f.len()..].to_string());
            i += 1;
            continue;
        }
        if let Some(m) = a
            .strip_prefix("-M")
            .or_else(|| a.strip_prefix("-m"))
            .filter(|_| lang == Lang::Perl)
        {
            modules.push(format!("use {};", m.trim_start_matches('-')));
        }
        if let Some(m) = a
            .strip_prefix("-r")
            .filter(|m| lang == Lang::Ruby && !m.is_empty())
        {
            modules.push(format!("require '{m}'"));
        }
        i += 1;
    }
    if code.is_empty() {
        return None;
    }
    modules.extend(code);
    Some(modules.join("\n"))
}

/// An awk program: the first operand that is not an option (`-F x`, `-v a=b`, `-f file`).
pub(crate) fn awk_program(argv: &[String]) -> Option<String> {
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        match a {
            "-f" | "--file" => return None,
            "-F" | "-v" | "--assign" | "--field-separator" => i += 2,
            _ if a.starts_with('-') && a.len() > 1 => i += 1,
            _ => return Some(a.to_string()),
        }
    }
    None
}

/// What `powershell`/`pwsh` runs: `-Command …`, `-EncodedCommand <base64 UTF-16LE>` or the
/// first operand. Parameter names may be abbreviated, as PowerShell allows.
pub(crate) fn powershell_command(argv: &[String]) -> Option<(String, Option<Fact>)> {
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        let Some(name) = a.strip_prefix('-').or_else(|| a.strip_prefix('/')) else {
            return Some((argv[i..].join(" "), None));
        };
        let n = name.to_ascii_lowercase();
        let prefix_of = |full: &str, min: usize| n.len() >= min && full.starts_with(n.as_str());
        if n == "ec" || (prefix_of("encodedcommand", 1) && !n.starts_with("ex")) {
            let payload = argv.get(i + 1)?;
            return base64_utf16le(payload).map(|t| (t, Some(Fact::Decoded)));
        }
        if prefix_of("command", 1) {
            let rest = argv.get(i + 1..).unwrap_or(&[]).join(" ");
            return (!rest.is_empty() && rest != "-").then_some((rest, None));
        }
        if prefix_of("file", 1) {
            return None;
        }
        let takes_value = n == "ep"
            || prefix_of("executionpolicy", 2)
            || prefix_of("windowstyle", 1)
            || prefix_of("version", 1)
            || prefix_of("inputformat", 2)
            || prefix_of("outputformat", 1)
            || prefix_of("configurationname", 3)
            || prefix_of("workingdirectory", 2)
            || n == "wd"
            || prefix_of("settingsfile", 2)
            || prefix_of("custompipename", 2)
            || prefix_of("psconsolefile", 2);
        i += if takes_value { 2 } else { 1 };
    }
    None
}

/// The command `ssh` runs on the remote host, if one is given.
pub(crate) fn ssh_command(argv: &[String]) -> Option<String> {
    const VALUE: &str = "BbcDEeFIiJLlmOoPpQRSWw";
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        if let Some(opts) = a.strip_prefix('-') {
            let last = opts.chars().last().unwrap_or(' ');
            let attached = opts.len() > 1 && VALUE.contains(opts.chars().next().unwrap_or(' '));
            i += if VALUE.contains(last) && !attached {
                2
            } else {
                1
            };
            continue;
        }
        // `a` is the host; the rest is the remote command.
        let rest = argv.get(i + 1..).unwrap_or(&[]);
        return (!rest.is_empty()).then(|| rest.join(" "));
    }
    None
}

/// `find … -exec CMD … ;` (and `-execdir`, `-ok`, `-okdir`).
pub(crate) fn find_execs(argv: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut i = 1;
    while i < argv.len() && out.len() < 16 {
        if matches!(argv[i].as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
            let cmd: Vec<String> = argv[i + 1..]
                .iter()
                .take_while(|a| *a != ";" && *a != "+" && *a != "\\;")
                .cloned()
                .collect();
            i += cmd.len() + 1;
            if !cmd.is_empty() {
                out.push(cmd);
            }
        }
        i += 1;
    }
    out
}
