//! Following a command until it is final: long polls of `GET /api/v1/commands/{id}`, each
//! answered when the command changes or after [`POLL_WAIT_S`], retried with backoff when
//! the network or the appliance fails for a moment.

use std::time::Duration;

use super::api::{Agent, Command};
use super::session::Session;
use super::OperatorError;

/// How long one poll asks the appliance to hold the answer.
pub const POLL_WAIT_S: u64 = 25;
/// A poll's whole-request timeout: the hold plus time for the network.
const POLL_TIMEOUT: Duration = Duration::from_secs(POLL_WAIT_S + 15);
/// Failed polls in a row after which the CLI gives up (the command carries on).
pub const MAX_POLL_FAILURES: u32 = 5;

/// The pause before retry number `attempt` (0-based): 0.5 s, doubling, at most 8 s.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(4)))
}

/// Something to say once while waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The command waits for an owner's or admin's approval.
    Approval {
        /// Why it needs one.
        reason: String,
        /// Unix seconds after which it expires.
        expires: i64,
    },
    /// The command is queued for an agent that is offline.
    Offline,
}

/// Follows `current` until it is final (with its output), calling `notice` at most once
/// per kind of [`Notice`].
pub async fn until_final(
    session: &Session,
    mut current: Command,
    mut notice: impl FnMut(Notice),
) -> Result<Command, OperatorError> {
    let mut told_approval = false;
    let mut checked_agent = false;
    let mut failures = 0;
    loop {
        // A submit answer carries no output: a final command that ran (a repeated
        // request_id) is fetched once more; one that never ran has none to fetch.
        if current.is_final && current.result.is_none() {
            return Ok(current);
        }
        if current.status == "pending_approval" && !told_approval {
            told_approval = true;
            if let Some(a) = &current.approval {
                notice(Notice::Approval {
                    reason: a.reason.clone(),
                    expires: a.expires,
                });
            }
        }
        if current.status == "queued" && !checked_agent {
            checked_agent = true;
            let agent: Result<Agent, _> = session
                .get(&format!("/api/v1/agents/{}", current.agent))
                .await;
            if agent.is_ok_and(|a| !a.online) {
                notice(Notice::Offline);
            }
        }
        let wait = if current.is_final { 0 } else { POLL_WAIT_S };
        let path = format!(
            "/api/v1/commands/{}?wait_s={wait}&encoding=base64",
            current.id
        );
        match session.get_raw(&path, POLL_TIMEOUT).await {
            Ok(res) => {
                failures = 0;
                current = session.client().parse(&res)?;
                if current.is_final {
                    return Ok(current);
                }
            }
            Err(e) if e.is_transient() && failures < MAX_POLL_FAILURES => {
                tokio::time::sleep(retry_delay(failures)).await;
                failures += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_doubling_up_to_eight_seconds() {
        let d: Vec<u64> = (0..7).map(|a| retry_delay(a).as_millis() as u64).collect();
        assert_eq!(d, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
    }
}
