//! Shared by the agent's command tests: a fake enrollment, a context over a temp state dir,
//! and readers for what a reply puts on the stream.

use std::path::Path;
use std::sync::Arc;

use super::command::CommandContext;
use super::exec::unix_ms;
use super::journal::Journal;
use super::state::{Enrollment, Loaded};
use crate::clock::SystemClock;
use crate::crypto::{Secret, SigningKey};
use crate::proto::agent::agent_message::Kind;
use crate::proto::agent::{
    AgentMessage, CommandOutput, CommandResult, OutputStream, RunCommand, COMMAND_RESULT_DOMAIN,
    MAX_OUTPUT_CHUNK,
};

pub const AGENT_ID: &str = "agt_test";

pub fn loaded() -> Arc<Loaded> {
    Arc::new(Loaded {
        identity: SigningKey::generate(),
        mtls_key_pem: Secret::new(String::new()),
        cert_pem: String::new(),
        ca_pem: String::new(),
        enrollment: Enrollment {
            agent_id: AGENT_ID.into(),
            server: "https://panel.example".into(),
            rendezvous: Vec::new(),
            grant_public_key: String::new(),
            ca_sha256: String::new(),
        },
    })
}

/// A context over `state`, as a fresh agent process would build it.
pub fn ctx(state: &Path, loaded: &Arc<Loaded>) -> CommandContext {
    let now = unix_ms(&SystemClock);
    CommandContext {
        journal: Arc::new(Journal::open(state, now).unwrap()),
        config_path: state.join("agent.toml"),
        loaded: Arc::clone(loaded),
        clock: Arc::new(SystemClock),
    }
}

pub fn run(id: &str, command: &str) -> RunCommand {
    RunCommand {
        command_id: id.into(),
        command: command.into(),
        timeout_s: 30,
        output_cap_bytes: 1 << 20,
        request_id: "req-1".into(),
    }
}

/// The output chunks and the one result, which must come last.
pub fn split(msgs: &[AgentMessage]) -> (Vec<CommandOutput>, CommandResult) {
    let (last, rest) = msgs.split_last().expect("a reply");
    let Some(Kind::CommandResult(result)) = &last.kind else {
        panic!("the last message is not the result: {last:?}");
    };
    let chunks = rest
        .iter()
        .map(|m| match &m.kind {
            Some(Kind::CommandOutput(o)) => o.clone(),
            other => panic!("not an output chunk: {other:?}"),
        })
        .collect();
    (chunks, result.clone())
}

/// One stream's bytes from its chunks, checking sizes and offsets.
pub fn reassemble(chunks: &[CommandOutput], stream: OutputStream) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks.iter().filter(|c| c.stream == stream as i32) {
        assert_eq!(
            c.offset,
            out.len() as u64,
            "offsets are contiguous per stream"
        );
        assert!(!c.data.is_empty() && c.data.len() <= MAX_OUTPUT_CHUNK);
        out.extend_from_slice(&c.data);
    }
    out
}

pub fn verifies(loaded: &Loaded, r: &CommandResult) -> bool {
    let sig = <[u8; 64]>::try_from(r.signature.as_slice()).unwrap();
    loaded
        .identity
        .public()
        .verify(COMMAND_RESULT_DOMAIN, &r.payload(AGENT_ID), &sig)
        .is_ok()
}
