//! Running one non-interactive command: `/bin/sh -c COMMAND` with stdin `/dev/null`, a cleared
//! environment and the home directory as cwd, as the configured user, in its own process
//! group so that everything it starts can be signalled together.
//!
//! Lifetime: the command is the shell *and its process group*. After `timeout` the group gets
//! SIGTERM, and SIGKILL [`TERM_GRACE`] later. When the shell exits, whatever it left in its
//! group (background jobs, daemons that did not call `setsid`) gets [`LINGER`] to finish and
//! is then killed, so nothing it started can hold the command — or its output pipes — open.
//! A process that left the group (`setsid`, `setpgid`) escapes the kill; if it still holds the
//! pipes, reading stops [`PIPE_GRACE`] after the kill and the result says so.
//!
//! Output: stdout and stderr share one budget of `output_cap` bytes, spent in arrival order;
//! the rest is read (so the command never blocks on a full pipe) and dropped.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{kill_process_group, test_kill_process_group, Pid, Signal};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::time::{sleep, sleep_until, Instant};

use super::account;
use crate::clock::Clock;
use crate::proto::agent::CommandStatus;

/// `PATH` in a command's environment.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Time between SIGTERM and SIGKILL when a command runs out of time.
pub const TERM_GRACE: Duration = Duration::from_secs(2);

/// How long processes left in the group may run on after the shell exited.
pub const LINGER: Duration = Duration::from_millis(200);

/// How long output is still read after the final SIGKILL.
pub const PIPE_GRACE: Duration = Duration::from_secs(1);

/// How often the group is checked for leftovers while it lingers.
const LINGER_POLL: Duration = Duration::from_millis(10);

const READ_BUF: usize = 16 * 1024;

/// The user a command runs as, resolved from `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// `USER` and `LOGNAME`.
    pub name: String,
    /// The uid set when switching.
    pub uid: u32,
    /// The gid set when switching.
    pub gid: u32,
    /// `HOME` (the passwd entry's, even if it does not exist).
    pub home: PathBuf,
    /// The working directory: the home if it is a directory, else `/`.
    pub cwd: PathBuf,
    /// Whether the agent (root) switches to `uid`/`gid` for the command; std then also drops
    /// the supplementary groups.
    pub switch: bool,
}

impl RunAs {
    /// Who a command runs as when `agent.toml` (at `config_path`) says `run_as`, given the
    /// passwd text and the agent's effective uid. `Err` is the reason it cannot start: an
    /// unknown user, or a switch only root could make.
    pub fn resolve(
        run_as: Option<&str>,
        passwd: &str,
        agent_uid: u32,
        config_path: &Path,
    ) -> Result<Self, String> {
        let Some(name) = run_as else {
            // A uid without a passwd entry (e.g. in a container) still runs, named by number.
            return Ok(match account::by_uid(passwd, agent_uid) {
                Some(a) => Self::from_account(a, false),
                None => Self::from_account(
                    account::Account {
                        name: agent_uid.to_string(),
                        uid: agent_uid,
                        gid: 0,
                        home: PathBuf::from("/"),
                    },
                    false,
                ),
            });
        };
        let Some(a) = account::by_name(passwd, name) else {
            return Err(format!(
                "run_as = {name:?} in {}: no such user in {}",
                config_path.display(),
                account::PASSWD
            ));
        };
        if a.uid == agent_uid {
            Ok(Self::from_account(a, false))
        } else if agent_uid == 0 {
            Ok(Self::from_account(a, true))
        } else {
            Err(format!(
                "run_as = {name:?} in {} needs an agent running as root (this one runs as uid \
                 {agent_uid}); run the agent as root or remove run_as",
                config_path.display()
            ))
        }
    }

    /// [`RunAs::resolve`] against this host: reads `/etc/passwd`, the effective uid, and
    /// whether the home exists (blocking file access: call it off the async thread).
    pub fn for_this_host(run_as: Option<&str>, config_path: &Path) -> Result<Self, String> {
        let passwd = account::read_passwd().map_err(|e| format!("{}: {e}", account::PASSWD))?;
        let uid = rustix::process::geteuid().as_raw();
        let mut me = Self::resolve(run_as, &passwd, uid, config_path)?;
        if me.home.is_absolute() && me.home.is_dir() {
            me.cwd.clone_from(&me.home);
        }
        Ok(me)
    }

    fn from_account(a: account::Account, switch: bool) -> Self {
        Self {
            name: a.name,
            uid: a.uid,
            gid: a.gid,
            home: a.home,
            cwd: PathBuf::from("/"),
            switch,
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The shell command text (no NUL byte).
    pub command: String,
    /// Who runs it.
    pub run_as: RunAs,
    /// When its process group is terminated.
    pub timeout: Duration,
    /// The most stdout + stderr bytes kept.
    pub output_cap: usize,
}

/// How a command went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `EXITED`, `TIMED_OUT` or `FAILED_TO_START`.
    pub status: CommandStatus,
    /// The shell's exit code; -1 when a signal ended it or it never started.
    pub exit_code: i32,
    /// The signal that ended the shell, or 0.
    pub signal: i32,
    /// Wall clock at spawn, ms since the epoch.
    pub started_ms: i64,
    /// Wall clock when the group was done and its output collected.
    pub finished_ms: i64,
    /// The stdout kept.
    pub stdout: Vec<u8>,
    /// The stderr kept.
    pub stderr: Vec<u8>,
    /// Output beyond the cap was dropped.
    pub truncated: bool,
    /// What the result's message should say, in order.
    pub notes: Vec<String>,
}

/// Milliseconds since the epoch on `clock`.
pub fn unix_ms(clock: &dyn Clock) -> i64 {
    i64::try_from(clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Runs `spec` to the end as described in the module docs. Cancelling the future kills the
/// command's process group.
pub async fn execute(spec: &Spec, clock: &dyn Clock) -> Outcome {
    let started_ms = unix_ms(clock);
    let failed = |message: String| Outcome {
        status: CommandStatus::FailedToStart,
        exit_code: -1,
        signal: 0,
        started_ms,
        finished_ms: unix_ms(clock),
        stdout: Vec::new(),
        stderr: Vec::new(),
        truncated: false,
        notes: vec![message],
    };
    let mut child = match command(spec).spawn() {
        Ok(c) => c,
        Err(e) => {
            return failed(format!(
                "could not start /bin/sh as {} in {}: {e}",
                spec.run_as.name,
                spec.run_as.cwd.display()
            ))
        }
    };
    // The shell leads its own group (process_group(0)), so the group id is its pid. Pid 1 is
    // refused: kill(-1) would signal every process the agent may signal.
    let Some(mut group) = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .filter(|id| *id > 1)
        .and_then(Pid::from_raw)
        .map(Group::new)
    else {
        let _ = child.start_kill();
        return failed("the shell has no usable process id".into());
    };
    let mut pipes = Pipes {
        stdout: child.stdout.take(),
        stderr: child.stderr.take(),
        out_buf: vec![0; READ_BUF],
        err_buf: vec![0; READ_BUF],
        kept: Kept::new(spec.output_cap),
    };
    let mut notes = Vec::new();

    let now = Instant::now();
    let term_at = now.checked_add(spec.timeout).unwrap_or(now + TERM_GRACE);
    let kill_at = term_at + TERM_GRACE;
    let mut signalled = 0u8;
    let status = loop {
        tokio::select! {
            st = child.wait() => break st,
            () = pipes.read_some(), if pipes.open() => {}
            () = sleep_until(term_at), if signalled == 0 => {
                group.signal(Signal::TERM);
                signalled = 1;
            }
            () = sleep_until(kill_at), if signalled == 1 => {
                group.signal(Signal::KILL);
                signalled = 2;
            }
        }
    };
    if signalled > 0 {
        notes.push(format!(
            "timed out after {} s; its process group was terminated",
            spec.timeout.as_secs()
        ));
    }

    // The shell is gone; give what it left behind a moment, then kill it.
    let linger_until = Instant::now() + LINGER;
    let mut left_over = false;
    while group.alive() {
        tokio::select! {
            () = pipes.read_some(), if pipes.open() => {}
            () = sleep(LINGER_POLL) => {}
            () = sleep_until(linger_until) => {
                left_over = true;
                break;
            }
        }
    }
    if left_over {
        group.signal(Signal::KILL);
        notes.push(format!(
            "processes still in its process group {} ms after the shell exited were killed",
            LINGER.as_millis()
        ));
    }
    group.disarm();

    let drain_until = Instant::now() + PIPE_GRACE;
    while pipes.open() {
        tokio::select! {
            () = pipes.read_some() => {}
            () = sleep_until(drain_until) => {
                notes.push(
                    "output was cut off: a process outside its process group kept it open".into(),
                );
                break;
            }
        }
    }

    let (exit_code, signal) = match &status {
        Ok(st) => exit_of(*st),
        Err(e) => {
            notes.push(format!("could not wait for the shell: {e}"));
            (-1, 0)
        }
    };
    Outcome {
        status: if signalled > 0 {
            CommandStatus::TimedOut
        } else {
            CommandStatus::Exited
        },
        exit_code,
        signal,
        started_ms,
        finished_ms: unix_ms(clock),
        truncated: pipes.kept.truncated,
        stdout: pipes.kept.stdout,
        stderr: pipes.kept.stderr,
        notes,
    }
}

fn command(spec: &Spec) -> Command {
    let who = &spec.run_as;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&spec.command)
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", &who.home)
        .env("USER", &who.name)
        .env("LOGNAME", &who.name)
        .env("SHELL", "/bin/sh")
        .env("LANG", "C.UTF-8")
        .current_dir(&who.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if who.switch {
        // std sets the gid, then (as root) clears the supplementary groups, then the uid.
        cmd.gid(who.gid).uid(who.uid);
    }
    cmd
}

/// `(exit_code, signal)`: a signal-ended shell has no exit code (-1).
fn exit_of(status: ExitStatus) -> (i32, i32) {
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, 0),
        (None, Some(sig)) => (-1, sig),
        (None, None) => (-1, 0),
    }
}

/// The command's process group; killed with SIGKILL if dropped while armed, so a cancelled
/// command leaves nothing running.
struct Group {
    pid: Pid,
    armed: bool,
}

impl Group {
    fn new(pid: Pid) -> Self {
        Self { pid, armed: true }
    }

    fn signal(&self, sig: Signal) {
        // ESRCH (nobody left) is the normal end; nothing else can be done about other errors.
        let _ = kill_process_group(self.pid, sig);
    }

    /// Whether any process is still in the group (zombies count until they are reaped).
    fn alive(&self) -> bool {
        !matches!(test_kill_process_group(self.pid), Err(Errno::SRCH))
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.armed {
            self.signal(Signal::KILL);
        }
    }
}

/// stdout + stderr kept under one budget, in arrival order.
struct Kept {
    cap: usize,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    truncated: bool,
}

impl Kept {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            stdout: Vec::new(),
            stderr: Vec::new(),
            truncated: false,
        }
    }

    fn push(&mut self, to_stderr: bool, data: &[u8]) {
        let room = self
            .cap
            .saturating_sub(self.stdout.len() + self.stderr.len());
        let keep = data.len().min(room);
        let target = if to_stderr {
            &mut self.stderr
        } else {
            &mut self.stdout
        };
        target.extend_from_slice(data.get(..keep).unwrap_or_default());
        if keep < data.len() {
            self.truncated = true;
        }
    }
}

struct Pipes {
    stdout: Option<tokio::process::ChildStdout>,
    stderr: Option<tokio::process::ChildStderr>,
    out_buf: Vec<u8>,
    err_buf: Vec<u8>,
    kept: Kept,
}

impl Pipes {
    fn open(&self) -> bool {
        self.stdout.is_some() || self.stderr.is_some()
    }

    /// Reads from whichever pipe has data first (cancel-safe: a read either completes and is
    /// kept here, or reads nothing). A pipe at EOF or in error is closed.
    async fn read_some(&mut self) {
        let (to_stderr, read) = tokio::select! {
            r = read_from(&mut self.stdout, &mut self.out_buf) => (false, r),
            r = read_from(&mut self.stderr, &mut self.err_buf) => (true, r),
        };
        let buf = if to_stderr {
            &self.err_buf
        } else {
            &self.out_buf
        };
        match read {
            Ok(n) if n > 0 => self.kept.push(to_stderr, buf.get(..n).unwrap_or_default()),
            _ if to_stderr => self.stderr = None,
            _ => self.stdout = None,
        }
    }
}

/// One read from `pipe`; never completes for a closed pipe.
async fn read_from<R: AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match pipe {
        Some(p) => p.read(buf).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
