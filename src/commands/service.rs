//! The command service: its state, construction and the checks every operation shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{broadcast, Notify};

use super::dispatch::Inflight;
use super::policy_store::StoredPolicy;
use super::rows::CommandRow;
use super::CommandError;
use crate::audit::{AuditContext, AuditEvent, AuditLog};
use crate::clock::SharedClock;
use crate::crypto::{random, ColumnSealer, MasterKey};
use crate::fleet::Fleet;
use crate::identity::Principal;
use crate::model::{TeamId, UserId};
use crate::policy::engine::Engine;
use crate::policy::rate::RateLimiter;
use crate::policy::{allows, Action};
use crate::rendezvous::{AgentEvents, Hub};
use crate::store::{Store, Table};

/// What the service takes from the config.
#[derive(Debug, Clone)]
pub struct CommandSettings {
    /// Command requests one member may make in one team per hour.
    pub rate_per_hour: u32,
    /// Bytes of stdout and stderr together kept per command.
    pub output_max_bytes: u64,
    /// Seconds a command waits for an offline agent before it expires.
    pub queue_ttl_secs: u64,
    /// Seconds a command may run when the request does not say.
    pub default_timeout_s: u32,
}

/// How long a command waits for an approval.
pub const APPROVAL_TTL_MS: i64 = 15 * 60 * 1000;
/// Members the rate limiter remembers at most.
const RATE_KEYS: usize = 100_000;

/// The command pipeline: submits commands through the policy stages, hands approved ones to
/// their agents, stores what comes back, and keeps the approval queue and script library.
pub struct Commands {
    pub(super) store: Arc<Store>,
    pub(super) audit: Arc<AuditLog>,
    pub(super) fleet: Arc<Fleet>,
    pub(super) hub: Arc<Hub>,
    pub(super) clock: SharedClock,
    pub(super) sealer: ColumnSealer,
    pub(super) settings: CommandSettings,
    builtin: Arc<Engine>,
    engines: Mutex<HashMap<TeamId, (u64, Arc<Engine>)>>,
    pub(super) rate: Mutex<RateLimiter<(TeamId, UserId)>>,
    /// Commands handed to a live connection, with their output as it arrives.
    pub(super) inflight: Mutex<HashMap<String, Inflight>>,
    /// Ids of commands whose state changed (for long polls and benchmarks).
    pub(super) changed: broadcast::Sender<String>,
    /// Wakes the expiry and redelivery sweep early.
    pub(super) wake: Notify,
    /// Itself, for the tasks its callbacks start.
    me: Weak<Commands>,
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands").finish_non_exhaustive()
    }
}

impl Commands {
    /// The service, registered with `hub` as the receiver of agents' command traffic.
    #[allow(clippy::too_many_arguments)] // the services and keys it is built from
    pub fn new(
        store: Arc<Store>,
        audit: Arc<AuditLog>,
        fleet: Arc<Fleet>,
        hub: Arc<Hub>,
        clock: SharedClock,
        master: &MasterKey,
        key_version: u32,
        settings: CommandSettings,
    ) -> Result<Arc<Self>, CommandError> {
        let builtin = Engine::builtin().map_err(|e| CommandError::PolicyInvalid {
            field: format!("built-in rules[{}].{}", e.index, e.field),
            reason: e.reason,
        })?;
        let (changed, _) = broadcast::channel(4096);
        let commands = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            rate: Mutex::new(RateLimiter::new(settings.rate_per_hour, 3600, RATE_KEYS)),
            store,
            audit,
            fleet,
            hub: Arc::clone(&hub),
            clock,
            sealer: ColumnSealer::new(master, "commands", "output", key_version),
            settings,
            builtin: Arc::new(builtin),
            engines: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            changed,
            wake: Notify::new(),
        });
        let events: Arc<dyn AgentEvents> = commands.clone();
        hub.set_events(Arc::downgrade(&events));
        Ok(commands)
    }

    /// Ids of commands as their state changes (a lagging receiver re-reads what it needs).
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.changed.subscribe()
    }

    pub(super) fn myself(&self) -> Option<Arc<Self>> {
        self.me.upgrade()
    }

    pub(super) fn notify(&self, id: &str) {
        let _ = self.changed.send(id.to_string());
    }

    pub(super) fn now_ms(&self) -> i64 {
        (self.clock.now().unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// The engine for a team's policy: the built-in rules, plus the team's own (compiled
    /// once per policy version).
    pub(super) fn engine_for(
        &self,
        team: &TeamId,
        policy: &StoredPolicy,
    ) -> Result<Arc<Engine>, CommandError> {
        if policy.policy.rules.is_empty() {
            return Ok(Arc::clone(&self.builtin));
        }
        let mut engines = lock(&self.engines);
        if let Some((v, e)) = engines.get(team) {
            if *v == policy.version {
                return Ok(Arc::clone(e));
            }
        }
        let engine = Arc::new(self.builtin.with_rules(&policy.policy.rules).map_err(|e| {
            CommandError::PolicyInvalid {
                field: format!("rules[{}].{}", e.index, e.field),
                reason: e.reason,
            }
        })?);
        engines.insert(team.clone(), (policy.version, Arc::clone(&engine)));
        Ok(engine)
    }

    /// The built-in engine (for previews without a team's rules).
    pub(super) fn builtin(&self) -> &Arc<Engine> {
        &self.builtin
    }

    /// Refuses principals whose role does not allow `action` (or who must enroll 2FA).
    pub(super) fn check(&self, p: &Principal, action: Action) -> Result<(), CommandError> {
        p.check_can_act()?;
        if !allows(p.role(), action) {
            let what = match action {
                Action::Operate => "run commands",
                Action::Approve => "approve commands or scripts",
                Action::ManageFleet => "change the team's policy",
                _ => "do that",
            };
            return Err(CommandError::Forbidden(format!(
                "Your role ({}) may not {what}.",
                p.role()
            )));
        }
        Ok(())
    }

    /// A command of `p`'s team within its agent scope; anything else is `NotFound`, audited
    /// as `access.denied` with the reason in the record only.
    pub(super) fn command_in(
        &self,
        p: &Principal,
        ctx: &AuditContext,
        id: &str,
    ) -> Result<CommandRow, CommandError> {
        let row = if well_formed_id(id) {
            self.store
                .read(|tx| tx.row::<CommandRow>(Table::Commands, id))?
        } else {
            None
        };
        let reason = match &row {
            None => "missing",
            Some(r) if r.team != *p.team() => "other_team",
            Some(r) if !self.in_scope(p, r)? => "out_of_scope",
            Some(_) => "",
        };
        match row {
            Some(r) if reason.is_empty() => Ok(r),
            _ => {
                let event = AuditEvent::AccessDenied {
                    target: format!("command:{}", id.chars().take(80).collect::<String>()),
                    reason: reason.into(),
                };
                self.audit.append_denial(&self.store, ctx, &event)?;
                Err(CommandError::NotFound)
            }
        }
    }

    /// Whether `p`'s agent scope (an API token's restriction) reaches `row`'s agent.
    pub(super) fn in_scope(&self, p: &Principal, row: &CommandRow) -> Result<bool, CommandError> {
        if !p.agent_scope().is_restricted() {
            return Ok(true);
        }
        let agent = self
            .store
            .read(|tx| tx.row::<crate::fleet::AgentRow>(Table::Agents, &row.agent.0))?;
        Ok(agent.is_some_and(|a| p.agent_scope().allows(&a.id.0, &a.tags)))
    }
}

/// A fresh command id: `cmd_` and 26 hex characters.
pub(super) fn new_id(prefix: &str) -> String {
    let hex = hex::encode(random::bytes::<13>());
    format!("{prefix}_{hex}")
}

/// Whether `s` has the shape of a command id (checked before any lookup, and before a
/// command id goes into a redirect).
pub fn well_formed_id(s: &str) -> bool {
    s.strip_prefix("cmd_").is_some_and(|h| {
        h.len() == 26
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
