//! Seeing through wrappers (`sudo`, `env`, `timeout 5`, `xargs`, …) and deciding what else a
//! command runs (the nested programs found by [`super::nested`]).

use super::nested::{
    awk_program, find_execs, is_shell, powershell_command, script_code, script_lang, shell_command,
    ssh_command,
};
use super::part::{Fact, Lang};

/// What to do after a command's own part is emitted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Peel {
    /// The command runs `argv[i..]`.
    Inner(usize),
    /// The command runs this argv instead (`env -S "…"`).
    Replace(Vec<String>),
    /// The command runs each of these (`find -exec … ;`).
    Also(Vec<Vec<String>>),
    /// The command runs these texts.
    Nested(Vec<(String, Lang, Option<Fact>)>),
    /// Nothing further.
    Done,
}

/// A wrapper: its options that take a value, and how many positional words it takes before
/// the command it runs.
struct Wrapper {
    name: &'static str,
    value_opts: &'static [&'static str],
    positionals: usize,
}

const fn w(name: &'static str, value_opts: &'static [&'static str], positionals: usize) -> Wrapper {
    Wrapper {
        name,
        value_opts,
        positionals,
    }
}

const WRAPPERS: &[Wrapper] = &[
    w(
        "sudo",
        &[
            "-u",
            "-g",
            "-h",
            "-p",
            "-C",
            "-D",
            "-r",
            "-t",
            "-U",
            "-T",
            "--user",
            "--group",
            "--host",
            "--prompt",
            "--chdir",
            "--role",
            "--type",
            "--other-user",
            "--command-timeout",
            "--close-from",
        ],
        0,
    ),
    w("doas", &["-u", "-C"], 0),
    w("pkexec", &["--user"], 0),
    w("env", &["-u", "-C", "--unset", "--chdir"], 0),
    w("nohup", &[], 0),
    w("setsid", &[], 0),
    w("time", &["-f", "-o", "--format", "--output"], 0),
    w("nice", &["-n", "--adjustment"], 0),
    w(
        "ionice",
        &["-c", "-n", "-p", "-P", "-u", "--class", "--classdata"],
        0,
    ),
    w(
        "stdbuf",
        &["-i", "-o", "-e", "--input", "--output", "--error"],
        0,
    ),
    w("timeout", &["-s", "-k", "--signal", "--kill-after"], 1),
    w("command", &[], 0),
    w("exec", &["-a"], 0),
    w("builtin", &[], 0),
    w("busybox", &[], 0),
    w(
        "xargs",
        &[
            "-n",
            "-I",
            "-L",
            "-P",
            "-d",
            "-E",
            "-s",
            "-a",
            "--max-args",
            "--replace",
            "--max-lines",
            "--max-procs",
            "--delimiter",
            "--eof",
            "--max-chars",
            "--arg-file",
        ],
        0,
    ),
    w("chroot", &["--userspec", "--groups"], 1),
    w(
        "flock",
        &["-w", "-E", "--timeout", "--conflict-exit-code"],
        1,
    ),
    w(
        "strace",
        &[
            "-o", "-e", "-p", "-s", "-u", "-E", "-P", "-a", "-b", "-O", "-S", "-X",
        ],
        0,
    ),
    w("ltrace", &["-o", "-e", "-p", "-s", "-u", "-a", "-n"], 0),
    w(
        "runuser",
        &["-u", "-g", "-G", "--user", "--group", "--supp-group"],
        0,
    ),
    w("unbuffer", &[], 0),
    w("sshpass", &["-p", "-f", "-d", "-P"], 0),
    w("chrt", &[], 1),
    w("taskset", &[], 1),
    w(
        "nsenter",
        &[
            "-t", "--target", "-S", "--setuid", "-G", "--setgid", "-w", "--wd", "-r", "--root",
        ],
        0,
    ),
    w("unshare", &["--map-user", "--map-group"], 0),
    w("proxychains", &["-f"], 0),
    w("proxychains4", &["-f"], 0),
    w("torsocks", &[], 0),
    w("tsocks", &[], 0),
    w("firejail", &[], 0),
    w("faketime", &[], 1),
    w("numactl", &[], 0),
    w("catchsegv", &[], 0),
    w(
        "systemd-run",
        &[
            "-p",
            "--property",
            "--unit",
            "-u",
            "--description",
            "--slice",
            "-E",
            "--setenv",
            "--uid",
            "--gid",
            "-M",
            "--machine",
            "-H",
            "--host",
            "--working-directory",
            "--on-active",
            "--on-boot",
            "--on-startup",
            "--on-unit-active",
            "--on-unit-inactive",
            "--on-calendar",
            "--timer-property",
        ],
        0,
    ),
];

/// Index of the wrapped command in `argv`, skipping the wrapper's options.
fn skip_options(wrapper: &Wrapper, argv: &[String]) -> Option<usize> {
    let mut i = 1;
    let mut positionals = wrapper.positionals;
    while i < argv.len() {
        let a = argv[i].as_str();
        if a == "--" {
            i += 1;
            break;
        }
        if wrapper.name == "env" && a.contains('=') && !a.starts_with('-') {
            i += 1;
            continue;
        }
        if a.starts_with('-') && a.len() > 1 {
            let takes_value = wrapper.value_opts.contains(&a);
            let attached = wrapper
                .value_opts
                .iter()
                .any(|o| o.len() == 2 && a.starts_with(o) && a.len() > 2)
                || (a.starts_with("--") && a.contains('='));
            i += if takes_value && !attached { 2 } else { 1 };
            continue;
        }
        if positionals > 0 {
            positionals -= 1;
            i += 1;
            continue;
        }
        break;
    }
    (i < argv.len()).then_some(i)
}

/// What `program` (with `argv[0]` being its name) runs besides itself.
pub(crate) fn peel(program: &str, argv: &[String]) -> Peel {
    if program == "command" && argv.iter().skip(1).any(|a| a == "-v" || a == "-V") {
        return Peel::Done;
    }
    if program == "env" {
        if let Some(i) = argv.iter().position(|a| a == "-S" || a == "--split-string") {
            if let Some(s) = argv.get(i + 1) {
                let mut new: Vec<String> = s.split_whitespace().map(str::to_string).collect();
                new.extend(argv.iter().skip(i + 2).cloned());
                return Peel::Replace(new);
            }
        }
    }
    if let Some(wr) = WRAPPERS.iter().find(|wr| wr.name == program) {
        if program == "flock" || program == "su" || program == "runuser" {
            if let Some(i) = argv.iter().position(|a| a == "-c" || a == "--command") {
                if let Some(c) = argv.get(i + 1) {
                    return Peel::Nested(vec![(c.clone(), Lang::Shell, None)]);
                }
            }
        }
        if program == "systemd-run" && argv.iter().any(|a| a.starts_with("--on-")) {
            if let Some(i) = skip_options(wr, argv) {
                return Peel::Nested(vec![(
                    argv[i..].join(" "),
                    Lang::Shell,
                    Some(Fact::Persisted),
                )]);
            }
        }
        return match skip_options(wr, argv) {
            Some(i) => Peel::Inner(i),
            None => Peel::Done,
        };
    }
    if is_shell(program) {
        return match shell_command(argv) {
            Some(c) => Peel::Nested(vec![(c, Lang::Shell, None)]),
            None => Peel::Done,
        };
    }
    if let Some(lang) = script_lang(program) {
        let code = if lang == Lang::Awk {
            awk_program(argv)
        } else {
            script_code(lang, argv)
        };
        return match code {
            Some(c) => Peel::Nested(vec![(c, lang, None)]),
            None => Peel::Done,
        };
    }
    match program {
        "eval" | "watch" => {
            let words: Vec<&String> = argv
                .iter()
                .skip(1)
                .skip_while(|a| program == "watch" && a.starts_with('-'))
                .collect();
            if words.is_empty() {
                return Peel::Done;
            }
            let text = words
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            Peel::Nested(vec![(text, Lang::Shell, None)])
        }
        "su" | "script" => match argv
            .iter()
            .position(|a| a == "-c" || a == "--command" || a == "-qc")
        {
            Some(i) => match argv.get(i + 1) {
                Some(c) => Peel::Nested(vec![(c.clone(), Lang::Shell, None)]),
                None => Peel::Done,
            },
            None => Peel::Done,
        },
        "ssh" => match ssh_command(argv) {
            Some(c) => Peel::Nested(vec![(c, Lang::Shell, None)]),
            None => Peel::Done,
        },
        "find" => {
            let execs = find_execs(argv);
            if execs.is_empty() {
                Peel::Done
            } else {
                Peel::Also(execs)
            }
        }
        "docker" | "podman" | "nerdctl" if argv.get(1).is_some_and(|a| a == "exec") => {
            // docker exec [opts] CONTAINER CMD…
            let mut i = 2;
            while i < argv.len() && argv[i].starts_with('-') {
                let takes = matches!(
                    argv[i].as_str(),
                    "-e" | "--env"
                        | "-u"
                        | "--user"
                        | "-w"
                        | "--workdir"
                        | "--env-file"
                        | "--detach-keys"
                );
                i += if takes { 2 } else { 1 };
            }
            if i + 1 < argv.len() {
                Peel::Inner(i + 1)
            } else {
                Peel::Done
            }
        }
        "kubectl" | "oc" if argv.get(1).is_some_and(|a| a == "exec") => {
            match argv.iter().position(|a| a == "--") {
                Some(i) if i + 1 < argv.len() => Peel::Inner(i + 1),
                _ => Peel::Done,
            }
        }
        "powershell" | "pwsh" => match powershell_command(argv) {
            Some((text, fact)) => Peel::Nested(vec![(text, Lang::PowerShell, fact)]),
            None => Peel::Done,
        },
        "cmd" => match argv.iter().position(|a| {
            a.eq_ignore_ascii_case("/c")
                || a.eq_ignore_ascii_case("/k")
                || a.eq_ignore_ascii_case("/r")
        }) {
            Some(i) if i + 1 < argv.len() => {
                Peel::Nested(vec![(argv[i + 1..].join(" "), Lang::PowerShell, None)])
            }
            _ => Peel::Done,
        },
        _ => Peel::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn wrappers_skip_their_options() {
        assert_eq!(peel("sudo", &v("sudo -u root -E rm -rf /")), Peel::Inner(4));
        assert_eq!(
            peel("timeout", &v("timeout -s KILL 5 rm x")),
            Peel::Inner(4)
        );
        assert_eq!(peel("env", &v("env -i A=1 B=2 rm x")), Peel::Inner(4));
        assert_eq!(peel("nice", &v("nice -n 10 rm x")), Peel::Inner(3));
        assert_eq!(peel("xargs", &v("xargs -0 -I{} rm {}")), Peel::Inner(3));
        assert_eq!(peel("command", &v("command -v rm")), Peel::Done);
    }

    #[test]
    fn nested_programs_are_found() {
        let args = vec![
            "bash".to_string(),
            "-lc".to_string(),
            "rm -rf /".to_string(),
        ];
        assert_eq!(
            peel("bash", &args),
            Peel::Nested(vec![("rm -rf /".into(), Lang::Shell, None)])
        );
        let args = vec![
            "perl".to_string(),
            "-MIO::Socket".to_string(),
            "-e".to_string(),
            "x".to_string(),
        ];
        assert_eq!(
            peel("perl", &args),
            Peel::Nested(vec![("use IO::Socket;\nx".into(), Lang::Perl, None)])
        );
        assert_eq!(
            peel("ssh", &v("ssh -p 22 host uptime")),
            Peel::Nested(vec![("uptime".into(), Lang::Shell, None)])
        );
        assert_eq!(
            peel("find", &v("find / -exec rm -rf {} ;")),
            Peel::Also(vec![v("rm -rf {}")])
        );
        let enc = vec![
            "powershell".into(),
            "-NoP".into(),
            "-enc".into(),
            "ZABpAHIA".into(),
        ];
        assert_eq!(
            peel("powershell", &enc),
            Peel::Nested(vec![("dir".into(), Lang::PowerShell, Some(Fact::Decoded))])
        );
    }
}
