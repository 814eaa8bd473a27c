//! The opened appliance: config, store, keys and audit log — what both `serve` and the local
//! CLI (when `serve` is not running) work on.

use std::sync::Arc;

use super::datadir::DataDir;
use super::init::{initialize, InitError, InitReport};
use crate::audit::AuditLog;
use crate::clock::SharedClock;
use crate::config::{parse_version, Config};
use crate::crypto::password::HashPool;
use crate::crypto::{ColumnSealer, MasterKey};
use crate::fleet::{Fleet, FleetSettings};
use crate::identity::Identity;
use crate::policy::ThrottleConfig;
use crate::store::Store;
use crate::webhooks::{TargetRules, WebhookSettings, Webhooks};

/// Whether opening may create what is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// `init` and `serve`: create a missing data dir, key, store or certificate.
    Initialize,
    /// Local CLI commands: the data dir must already be initialized.
    Existing,
}

/// Everything the services need from the data dir.
pub struct Core {
    /// The validated configuration.
    pub config: Config,
    /// The data dir's paths.
    pub dir: DataDir,
    /// The store.
    pub store: Arc<Store>,
    /// The master key.
    pub master: Arc<MasterKey>,
    /// The master key version sealed columns use.
    pub key_version: u32,
    /// The audit log.
    pub audit: Arc<AuditLog>,
    /// Teams, users and memberships.
    pub identity: Arc<Identity>,
    /// Registration tokens, agents and their history.
    pub fleet: Arc<Fleet>,
    /// Per-team webhooks; its outbox is the audit log's append hook.
    pub webhooks: Arc<Webhooks>,
    /// The clock.
    pub clock: SharedClock,
    /// What init found or made (fingerprints, public key).
    pub report: InitReport,
}

impl Core {
    /// Checks (and in `Initialize` mode completes) the data dir, then opens it.
    pub fn open(config: Config, clock: SharedClock, mode: OpenMode) -> Result<Self, InitError> {
        let dir = DataDir::new(&config.data_dir);
        let opened = initialize(&config, &dir, &clock, mode == OpenMode::Initialize)?;
        let store = Arc::new(opened.store);
        let audit = Arc::new(opened.audit);
        let filled = crate::audit::backfill_team_heads(&store)?;
        if filled > 0 {
            tracing::info!(
                teams = filled,
                "audit: team chains continue from earlier records"
            );
        }
        let slots = match config.hash_pool_slots {
            0 => HashPool::default_slots(),
            n => n as usize,
        };
        let pool = HashPool::new(
            slots,
            std::time::Duration::from_millis(config.hash_queue_timeout_ms),
        );
        let identity = Arc::new(Identity::new(
            Arc::clone(&store),
            Arc::clone(&audit),
            clock.clone(),
            pool,
            throttle_config(&config),
            ColumnSealer::new(&opened.master, "users", "totp", opened.key_version),
            config.require_two_factor,
        ));
        let fleet = Fleet::open(
            Arc::clone(&store),
            Arc::clone(&audit),
            clock.clone(),
            &opened.master,
            opened.key_version,
            FleetSettings {
                rendezvous: config.agent_dial_addrs(),
                min_agent_version: parse_version(&config.min_agent_version).unwrap_or((0, 0, 0)),
            },
        )
        .map_err(|e| InitError::Fleet(e.to_string()))?;
        let webhooks = Webhooks::new(
            Arc::clone(&store),
            Arc::clone(&audit),
            clock.clone(),
            &opened.master,
            opened.key_version,
            webhook_settings(&config)?,
        )
        .map_err(|e| InitError::Webhooks(e.to_string()))?;
        audit.set_hook(webhooks.outbox());
        Ok(Self {
            webhooks,
            fleet: Arc::new(fleet),
            config,
            dir,
            store,
            master: Arc::new(opened.master),
            key_version: opened.key_version,
            audit,
            identity,
            clock,
            report: opened.report,
        })
    }
}

/// The webhook service's settings from the config's `webhook_*` keys.
fn webhook_settings(c: &Config) -> Result<WebhookSettings, InitError> {
    let extra_roots = match &c.webhook_ca_file {
        Some(path) => crate::config::webhook_roots(path)
            .map_err(|m| InitError::Webhooks(format!("webhook_ca_file: {m}")))?,
        None => Vec::new(),
    };
    Ok(WebhookSettings {
        rules: TargetRules {
            allow_loopback_http: c.webhook_allow_loopback_http,
            allow_private: c.webhook_allow_private_targets,
        },
        timeout: std::time::Duration::from_secs(c.webhook_timeout_secs),
        max_attempts: c.webhook_max_attempts,
        extra_roots,
    })
}

/// The login throttle's settings from the config's flat `login_*` keys.
fn throttle_config(c: &Config) -> ThrottleConfig {
    ThrottleConfig {
        pair_max_failures: c.login_lockout_failures,
        pair_window_secs: c.login_lockout_window_secs,
        pair_lockout_secs: c.login_lockout_secs,
        ip_max_failures: c.login_ip_max_failures,
        ip_window_secs: c.login_ip_window_secs,
        account_delay_after: c.login_delay_after_failures,
        account_window_secs: c.login_lockout_window_secs,
        account_delay_base_secs: c.login_delay_base_secs,
        account_delay_max_secs: c.login_delay_max_secs,
        ..ThrottleConfig::default()
    }
}
