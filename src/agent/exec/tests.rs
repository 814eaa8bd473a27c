//! Real processes: these run `/bin/sh` (as root in CI, where the `run_as` test switches user).

use std::time::Instant as StdInstant;

use super::*;
use crate::clock::SystemClock;

const CONFIG: &str = "/var/lib/tundra-agent/agent.toml";

fn spec(command: &str) -> Spec {
    Spec {
        command: command.into(),
        run_as: RunAs::for_this_host(None, Path::new(CONFIG)).unwrap(),
        timeout: Duration::from_secs(30),
        output_cap: 1 << 20,
    }
}

async fn run(spec: Spec) -> Outcome {
    execute(&spec, &SystemClock).await
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

/// Whether `pid` has ended (a zombie waiting for a reaper counts: it runs no more).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))),
    }
}

/// Whether `pid` ends within a second (SIGKILL is delivered asynchronously).
async fn ends(pid: &str) -> bool {
    for _ in 0..50 {
        if gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[tokio::test]
async fn exit_codes_are_reported() {
    for code in [0, 3, 255] {
        let o = run(spec(&format!("exit {code}"))).await;
        assert_eq!(o.status, CommandStatus::Exited);
        assert_eq!((o.exit_code, o.signal), (code, 0));
        assert!(o.started_ms > 0 && o.finished_ms >= o.started_ms);
        assert!(o.notes.is_empty(), "{:?}", o.notes);
    }
}

#[tokio::test]
async fn stdout_and_stderr_are_kept_apart() {
    let o = run(spec("printf out; printf err >&2; printf more")).await;
    assert_eq!(text(&o.stdout), "outmore");
    assert_eq!(text(&o.stderr), "err");
    assert!(!o.truncated);
}

#[tokio::test]
async fn the_environment_is_cleared_and_stdin_is_empty() {
    let o = run(spec("env | sort; pwd; cat; echo read-nothing")).await;
    let out = text(&o.stdout);
    let me = RunAs::for_this_host(None, Path::new(CONFIG)).unwrap();
    let mut keys: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| *k != "PWD") // dash exports its cwd itself
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["HOME", "LANG", "LOGNAME", "PATH", "SHELL", "USER"]);
    assert!(out.contains(&format!("PATH={PATH}\n")));
    assert!(out.contains("SHELL=/bin/sh\n") && out.contains("LANG=C.UTF-8\n"));
    assert!(out.contains(&format!("USER={}\n", me.name)));
    assert!(out.contains(&format!("\n{}\nread-nothing\n", me.cwd.display())));
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let mut s = spec("sleep 60 & echo $!; sleep 60");
    s.timeout = Duration::from_millis(300);
    let t = StdInstant::now();
    let o = run(s).await;
    assert_eq!(o.status, CommandStatus::TimedOut);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(o.signal, 15);
    assert!(
        o.notes.iter().any(|n| n.contains("timed out")),
        "{:?}",
        o.notes
    );
    assert!(ends(text(&o.stdout)).await, "the grandchild survived");
}

#[tokio::test]
async fn a_command_ignoring_sigterm_is_killed_two_seconds_later() {
    let mut s = spec("trap '' TERM; sleep 60 & echo $!; sleep 60");
    s.timeout = Duration::from_millis(100);
    let t = StdInstant::now();
    let o = run(s).await;
    let took = t.elapsed();
    assert_eq!(o.status, CommandStatus::TimedOut);
    assert_eq!(o.signal, 9);
    assert!(
        took >= TERM_GRACE && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(ends(text(&o.stdout)).await);
}

#[tokio::test]
async fn background_children_are_killed_when_the_shell_exits() {
    // One holds the output pipes, one does not: neither keeps the command alive.
    for cmd in ["sleep 60 & echo $!", "sleep 60 >/dev/null 2>&1 & echo $!"] {
        let t = StdInstant::now();
        let o = run(spec(cmd)).await;
        assert_eq!((o.status, o.exit_code), (CommandStatus::Exited, 0), "{cmd}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{cmd}: {:?}",
            t.elapsed()
        );
        assert!(
            ends(text(&o.stdout)).await,
            "{cmd}: the background child survived"
        );
        assert!(
            o.notes.iter().any(|n| n.contains("were killed")),
            "{:?}",
            o.notes
        );
    }
}

#[tokio::test]
async fn the_cap_truncates_and_the_command_still_finishes() {
    let mut s = spec("head -c 5000000 /dev/zero; echo done; echo err >&2; exit 7");
    s.output_cap = 1000;
    let o = run(s).await;
    assert_eq!((o.status, o.exit_code), (CommandStatus::Exited, 7));
    assert_eq!(o.stdout.len() + o.stderr.len(), 1000);
    assert!(o.truncated);

    // The budget is shared in arrival order.
    let mut s = spec("printf aaaa; sleep 0.1; printf bbbb >&2; sleep 0.1; printf cccc");
    s.output_cap = 6;
    let o = run(s).await;
    assert_eq!((text(&o.stdout), text(&o.stderr)), ("aaaa", "bb"));
    assert!(o.truncated);

    let mut s = spec("printf 123456");
    s.output_cap = 6;
    assert!(!run(s).await.truncated, "exactly the cap is not truncated");
}

#[tokio::test]
async fn a_signal_killed_command_reports_its_signal() {
    let o = run(spec("kill -KILL $$")).await;
    assert_eq!(o.status, CommandStatus::Exited);
    assert_eq!((o.exit_code, o.signal), (-1, 9));
}

#[tokio::test]
async fn a_shell_that_cannot_start_is_failed_to_start() {
    let mut s = spec("true");
    s.run_as.cwd = PathBuf::from("/no/such/dir");
    let o = run(s).await;
    assert_eq!(o.status, CommandStatus::FailedToStart);
    assert!(o.notes.join(" ").contains("/no/such/dir"), "{:?}", o.notes);
}

#[tokio::test]
async fn dropping_a_running_command_kills_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let cmd = format!("sleep 60 & echo $! > {}; wait", pid_file.display());
    let s = spec(&cmd);
    let cut = tokio::time::timeout(Duration::from_millis(500), run(s)).await;
    assert!(cut.is_err(), "it should still have been running");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        ends(&pid).await,
        "the grandchild {pid} survived its command being dropped"
    );
}

#[tokio::test]
async fn run_as_switches_to_nobody_with_only_its_primary_group() {
    if !is_root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let run_as = RunAs::for_this_host(Some("nobody"), Path::new(CONFIG)).unwrap();
    assert!(run_as.switch);
    let mut s = spec("id -u; id -g; id -G; echo \"$HOME $USER $LOGNAME\"; pwd");
    s.run_as = run_as.clone();
    let o = run(s).await;
    assert_eq!(o.exit_code, 0, "{}", text(&o.stderr));
    let gid = run_as.gid;
    let home = run_as.home.display();
    assert_eq!(
        text(&o.stdout),
        format!("65534\n{gid}\n{gid}\n{home} nobody nobody\n/\n")
    );
}

#[test]
fn resolve_picks_the_user_and_refuses_switches_only_root_can_make() {
    let passwd = "root:x:0:0:root:/root:/bin/sh\n\
                  agent:x:998:997::/var/lib/tundra-agent:/usr/sbin/nologin\n\
                  app:x:1001:1001::/home/app:/bin/sh\n";
    let path = Path::new(CONFIG);
    let own = RunAs::resolve(None, passwd, 998, path).unwrap();
    assert_eq!((own.name.as_str(), own.switch), ("agent", false));
    let same = RunAs::resolve(Some("agent"), passwd, 998, path).unwrap();
    assert!(!same.switch);
    let from_root = RunAs::resolve(Some("app"), passwd, 0, path).unwrap();
    assert_eq!(
        (from_root.uid, from_root.gid, from_root.switch),
        (1001, 1001, true)
    );
    assert_eq!(from_root.home, PathBuf::from("/home/app"));

    let refused = RunAs::resolve(Some("app"), passwd, 998, path).unwrap_err();
    assert!(
        refused.contains("run the agent as root or remove run_as"),
        "{refused}"
    );
    assert!(refused.contains(CONFIG), "{refused}");
    let unknown = RunAs::resolve(Some("ghost"), passwd, 0, path).unwrap_err();
    assert!(unknown.contains("no such user"), "{unknown}");
    let nameless = RunAs::resolve(None, passwd, 4242, path).unwrap();
    assert_eq!((nameless.name.as_str(), nameless.switch), ("4242", false));
}
