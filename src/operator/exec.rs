//! `tundra exec TARGET -- CMD…`: resolve the target, submit the command (retrying safely:
//! the request id makes a repeat answer the first submission), follow each command until
//! it is final and hand its output and exit status back as ssh would.

use std::io::Write;

use base64::Engine as _;
use serde::Serialize;
use tokio::sync::mpsc;

use super::api::{Agent, AgentList, Batch, Command};
use super::output::{prefixed, timestamp};
use super::session::Session;
use super::verdict::{exit_status, explain, EXIT_ERROR};
use super::wait::{retry_delay, until_final, Notice};
use super::OperatorError;

/// Attempts at submitting before giving up on a failing network or appliance.
pub const SUBMIT_ATTEMPTS: u32 = 4;

/// What `tundra exec` was asked to do.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// `agt_…`, `tag:NAME`, or an agent's name or host name.
    pub target: String,
    /// The words after `--`; joined with spaces into the command text, as ssh does.
    pub words: Vec<String>,
    /// The idempotency key; a random one when `None`.
    pub request_id: Option<String>,
    /// Seconds the command may run.
    pub timeout_s: Option<u32>,
    /// Follow the commands to the end (`false`: `--no-wait`).
    pub wait: bool,
}

/// What TARGET names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One agent by id.
    Agent(String),
    /// Every active agent with this tag.
    Tag(String),
    /// The one agent with this name or host name.
    Name(String),
}

impl Target {
    /// Reads TARGET: `agt_…` is an id, `tag:NAME` a tag, anything else a name.
    pub fn parse(s: &str) -> Result<Self, OperatorError> {
        let s = s.trim();
        if let Some(tag) = s.strip_prefix("tag:") {
            if tag.is_empty() {
                return Err(OperatorError::Usage("TARGET tag: needs a tag name".into()));
            }
            return Ok(Target::Tag(tag.to_string()));
        }
        if s.is_empty() {
            return Err(OperatorError::Usage("TARGET is empty".into()));
        }
        if s.starts_with("agt_") {
            return Ok(Target::Agent(s.to_string()));
        }
        Ok(Target::Name(s.to_string()))
    }
}

/// The one agent whose name or host name is `name` (ignoring ASCII case); otherwise an
/// error listing the candidates.
pub fn pick_agent<'a>(agents: &'a [Agent], name: &str) -> Result<&'a Agent, OperatorError> {
    let matches: Vec<&Agent> = agents
        .iter()
        .filter(|a| a.name.eq_ignore_ascii_case(name) || a.hostname.eq_ignore_ascii_case(name))
        .collect();
    let list = |agents: &[&Agent]| {
        let mut names: Vec<String> = agents
            .iter()
            .take(20)
            .map(|a| format!("{} ({}, {})", a.name, a.id, a.state()))
            .collect();
        if agents.len() > 20 {
            names.push(format!("and {} more", agents.len() - 20));
        }
        names.join(", ")
    };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            let all: Vec<&Agent> = agents.iter().collect();
            Err(OperatorError::Usage(if all.is_empty() {
                format!("no agent is named {name:?}: you can see no agents")
            } else {
                format!("no agent is named {name:?}; agents: {}", list(&all))
            }))
        }
        many => Err(OperatorError::Usage(format!(
            "{name:?} names {} agents: {}; give the id (agt_…) instead",
            many.len(),
            list(many)
        ))),
    }
}

#[derive(Serialize)]
struct RunBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'a str>,
    command: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_s: Option<u32>,
}

/// Where the command goes once names are resolved.
enum Resolved {
    Agent(String),
    Tag(String),
}

/// Runs `opts`; `out` and `err` get the remote stdout and stderr (and the notes on
/// stderr). Returns the exit status.
pub async fn run(
    session: &Session,
    opts: ExecOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, OperatorError> {
    let command = opts.words.join(" ");
    if command.trim().is_empty() {
        return Err(OperatorError::Usage(
            "no command: give it after --, e.g. tundra exec web-1 -- uptime".into(),
        ));
    }
    let resolved = match Target::parse(&opts.target)? {
        Target::Agent(id) => Resolved::Agent(id),
        Target::Tag(tag) => Resolved::Tag(tag),
        Target::Name(name) => {
            let list: AgentList = session.get("/api/v1/agents").await?;
            Resolved::Agent(pick_agent(&list.agents, &name)?.id.clone())
        }
    };
    let request_id = opts
        .request_id
        .unwrap_or_else(|| format!("cli-{}", crate::crypto::random::hex_id()));
    let fan_out = matches!(resolved, Resolved::Tag(_));
    let body = RunBody {
        tag: match &resolved {
            Resolved::Tag(t) => Some(t),
            Resolved::Agent(_) => None,
        },
        command: &command,
        request_id: &request_id,
        timeout_s: opts.timeout_s,
    };
    let commands = submit(session, &resolved, &body).await?;
    if !opts.wait {
        return Ok(no_wait(&commands, fan_out, out, err));
    }
    match (fan_out, commands.as_slice()) {
        (false, [one]) => single(session, one.clone(), out, err).await,
        _ => several(session, commands, out, err).await,
    }
}

/// Submits, retrying the same request (same request id) on network errors and 5xx.
async fn submit(
    session: &Session,
    target: &Resolved,
    body: &RunBody<'_>,
) -> Result<Vec<Command>, OperatorError> {
    let mut attempt = 0;
    loop {
        let sent = match target {
            Resolved::Agent(id) => session
                .post::<Command>(&format!("/api/v1/agents/{id}/commands"), body)
                .await
                .map(|c| vec![c]),
            Resolved::Tag(_) => session
                .post::<Batch>("/api/v1/commands", body)
                .await
                .map(|b| b.commands),
        };
        match sent {
            Err(e) if e.is_transient() && attempt + 1 < SUBMIT_ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "retrying the submission");
                tokio::time::sleep(retry_delay(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn label(c: &Command) -> &str {
    if c.agent_name.is_empty() {
        &c.agent
    } else {
        &c.agent_name
    }
}

fn notice_text(n: &Notice) -> String {
    match n {
        Notice::Approval { reason, expires } => format!(
            "waiting for an approval ({reason}); an owner or admin other than you can approve \
             it in the panel until {}",
            timestamp(*expires)
        ),
        Notice::Offline => {
            "the agent is offline; the command is queued and runs when it connects".into()
        }
    }
}

/// `--no-wait`: the ids on stdout, what is already known on stderr. A command that is
/// already final (e.g. blocked) counts with its exit status; anything still on its way, 0.
fn no_wait(commands: &[Command], fan_out: bool, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut status = 0;
    for c in commands {
        let _ = writeln!(out, "{}", c.id);
        let prefix = if fan_out || commands.len() > 1 {
            format!("[{}] ", label(c))
        } else {
            String::new()
        };
        if c.status == "pending_approval" {
            if let Some(a) = &c.approval {
                let n = Notice::Approval {
                    reason: a.reason.clone(),
                    expires: a.expires,
                };
                let _ = writeln!(err, "{prefix}{}: {}", c.id, notice_text(&n));
            }
        } else if c.is_final {
            if let Some(text) = explain(c) {
                let _ = writeln!(err, "{prefix}{}: {text}", c.id);
            }
            if status == 0 {
                status = exit_status(c);
            }
        } else {
            let _ = writeln!(err, "{prefix}{}: {}", c.id, c.status);
        }
    }
    let _ = out.flush();
    status
}

fn decode(session: &Session, field: &Option<String>) -> Result<Vec<u8>, OperatorError> {
    match field {
        None => Ok(Vec::new()),
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| session.client().unexpected(format!("output: {e}"))),
    }
}

/// One agent: its stdout to stdout and its stderr to stderr, byte for byte.
async fn single(
    session: &Session,
    first: Command,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, OperatorError> {
    let done = until_final(session, first, |n| {
        let _ = writeln!(err, "tundra: {}", notice_text(&n));
    })
    .await?;
    let stdout = decode(session, &done.stdout_base64)?;
    let stderr = decode(session, &done.stderr_base64)?;
    let _ = out.write_all(&stdout);
    let _ = out.flush();
    let _ = err.write_all(&stderr);
    if let Some(text) = explain(&done) {
        let _ = writeln!(err, "tundra: {}: {text}", done.id);
    }
    Ok(exit_status(&done))
}

/// What a follower task reports.
enum Event {
    Notice(usize, Notice),
    Done(usize, Box<Result<Command, OperatorError>>),
}

/// Several agents: each followed in its own task; each one's lines, prefixed with its
/// name, printed as it finishes. The status is 0 when all are, else the first non-zero in
/// the order the appliance listed the agents.
async fn several(
    session: &Session,
    commands: Vec<Command>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, OperatorError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    let labels: Vec<String> = commands.iter().map(|c| label(c).to_string()).collect();
    let ids: Vec<String> = commands.iter().map(|c| c.id.clone()).collect();
    for (i, c) in commands.into_iter().enumerate() {
        let (session, tx) = (session.clone(), tx.clone());
        tasks.spawn(async move {
            let notices = tx.clone();
            let done = until_final(&session, c, |n| {
                let _ = notices.send(Event::Notice(i, n));
            })
            .await;
            let _ = tx.send(Event::Done(i, Box::new(done)));
        });
    }
    drop(tx);
    let mut statuses = vec![EXIT_ERROR; labels.len()];
    while let Some(event) = rx.recv().await {
        match event {
            Event::Notice(i, n) => {
                let name = labels.get(i).map_or("?", String::as_str);
                let _ = writeln!(err, "[{name}] {}", notice_text(&n));
            }
            Event::Done(i, done) => {
                let name = labels.get(i).map_or("?", String::as_str);
                let prefix = format!("[{name}] ");
                match *done {
                    Ok(c) => {
                        let _ =
                            out.write_all(&prefixed(&prefix, &decode(session, &c.stdout_base64)?));
                        let _ = out.flush();
                        let _ =
                            err.write_all(&prefixed(&prefix, &decode(session, &c.stderr_base64)?));
                        if let Some(text) = explain(&c) {
                            let _ = writeln!(err, "{prefix}{}: {text}", c.id);
                        }
                        if let Some(s) = statuses.get_mut(i) {
                            *s = exit_status(&c);
                        }
                    }
                    Err(e) => {
                        let id = ids.get(i).map_or("?", String::as_str);
                        let _ = writeln!(err, "{prefix}lost track of {id}: {e}");
                    }
                }
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    Ok(statuses.into_iter().find(|s| *s != 0).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, name: &str, hostname: &str) -> Agent {
        Agent {
            id: id.into(),
            name: name.into(),
            hostname: hostname.into(),
            version: String::new(),
            tags: vec![],
            status: "active".into(),
            online: true,
            last_seen: None,
        }
    }

    #[test]
    fn targets_are_ids_tags_or_names() {
        assert_eq!(
            Target::parse("agt_12").unwrap(),
            Target::Agent("agt_12".into())
        );
        assert_eq!(Target::parse("tag:web").unwrap(), Target::Tag("web".into()));
        assert_eq!(
            Target::parse("web-1").unwrap(),
            Target::Name("web-1".into())
        );
        assert!(Target::parse("tag:").is_err());
        assert!(Target::parse(" ").is_err());
    }

    #[test]
    fn a_name_must_pick_exactly_one_agent() {
        let agents = [
            agent("agt_1", "web-1", "web-1.example.com"),
            agent("agt_2", "db", "db-a.example.com"),
            agent("agt_3", "db", "db-b.example.com"),
        ];
        assert_eq!(pick_agent(&agents, "WEB-1").unwrap().id, "agt_1");
        assert_eq!(pick_agent(&agents, "db-b.example.com").unwrap().id, "agt_3");
        let many = pick_agent(&agents, "db").unwrap_err().to_string();
        assert!(
            many.contains("names 2 agents") && many.contains("agt_2") && many.contains("agt_3"),
            "{many}"
        );
        let none = pick_agent(&agents, "mail").unwrap_err().to_string();
        assert!(
            none.contains("no agent is named") && none.contains("web-1 (agt_1, online)"),
            "{none}"
        );
    }
}
