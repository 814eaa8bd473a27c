//! `tundra acceptance run`: the security self-check (SPEC §9). Exit 0 when nothing fails,
//! 1 when a check fails, 2 when the checks could not run.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::acceptance::{self, Local, Options, Remote, Section, Url};
use crate::config::Config;
use crate::model::acceptance::{AcceptanceReport, CheckStatus};

/// The production config path (packaging/install.sh installs it there).
pub const PRODUCTION_CONFIG: &str = "/etc/tundra/tundra.toml";
/// The production data dir (packaging/tundra.toml).
pub const PRODUCTION_DATA_DIR: &str = "/var/lib/tundra";
/// The installed unit.
pub const PRODUCTION_UNIT: &str = acceptance::DEFAULT_UNIT;

/// `tundra acceptance …`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a deployment's hardening: PASS/FAIL/WARN/SKIP per rule with the fix for each
    /// failure. Exit 0: nothing failed; 1: a check failed; 2: the checks could not run.
    Run(RunArgs),
}

/// `tundra acceptance run` options. `--config` and `--data-dir` (global) choose what the
/// local checks read; without them the production paths are used.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The panel's HTTPS URL, e.g. https://panel.example.com (needed by transport, headers
    /// and identity).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The plain-HTTP redirect listener [default: http://HOST of --url, port 80].
    #[arg(long, value_name = "URL")]
    pub http_url: Option<String>,
    /// Run only this section (repeatable) [default: all].
    #[arg(long = "section", value_enum, value_name = "SECTION")]
    pub sections: Vec<Section>,
    /// Also trust the certificates in this PEM file (a private CA or the self-signed
    /// panel certificate, DATA_DIR/panel-cert.pem).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Also run checks that leave traces: failed logins against throwaway account names
    /// (login throttling), which throttle sign-in from this address for a while.
    #[arg(long)]
    pub active: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The installed systemd unit to check.
    #[arg(long, value_name = "FILE", default_value = PRODUCTION_UNIT)]
    pub unit: PathBuf,
    /// The `tundra serve` process [default: the one holding DATA_DIR/control.sock].
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
}

/// Runs the command.
pub async fn run(
    cmd: Command,
    config_file: &Option<PathBuf>,
    data_dir: &Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let Command::Run(args) = cmd;
    match execute(&args, config_file, data_dir).await {
        Ok(report) => {
            if args.json {
                println!("{}", json(&report)?);
            } else {
                let color =
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                print!("{}", acceptance::table(&report, color));
            }
            Ok(if report.failed() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(e) => {
            eprintln!("error: could not run the acceptance checks: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

async fn execute(
    args: &RunArgs,
    config_file: &Option<PathBuf>,
    data_dir: &Option<PathBuf>,
) -> anyhow::Result<AcceptanceReport> {
    let (config, config_source) = load_config(config_file.as_deref())?;
    let data_dir = match (data_dir, config_source.as_str()) {
        (Some(d), _) => d.clone(),
        (None, "built-in defaults") => PathBuf::from(PRODUCTION_DATA_DIR),
        (None, _) => config.data_dir.clone(),
    };
    let remote = match &args.url {
        Some(u) => Some(remote(args, u)?),
        None => None,
    };
    let opts = Options {
        sections: args.sections.clone(),
        remote,
        local: Local {
            config,
            config_source,
            data_dir,
            unit: args.unit.clone(),
            pid: args.pid,
        },
        now: crate::clock::Clock::now(&crate::clock::SystemClock),
    };
    Ok(acceptance::run(&opts).await?)
}

fn remote(args: &RunArgs, url: &str) -> anyhow::Result<Remote> {
    let url = Url::parse(url).map_err(anyhow::Error::msg)?;
    if url.scheme != "https" {
        anyhow::bail!("--url must be an https:// URL, got {}", url.origin());
    }
    let http_url = match &args.http_url {
        Some(h) => {
            let h = Url::parse(h).map_err(anyhow::Error::msg)?;
            if h.scheme != "http" {
                anyhow::bail!("--http-url must be an http:// URL, got {}", h.origin());
            }
            h
        }
        None => url.with("http", 80),
    };
    let extra_roots = match &args.ca {
        Some(path) => {
            acceptance::net::read_pem_certs(path).map_err(|e| anyhow::anyhow!("--ca {e}"))?
        }
        None => Vec::new(),
    };
    Ok(Remote {
        url,
        http_url,
        extra_roots,
        active: args.active,
        probe_csrf: true,
    })
}

/// `--config`, else the production config when it exists, else the built-in defaults; the
/// `TUNDRA_*` variables apply as for `serve`.
fn load_config(file: Option<&Path>) -> anyhow::Result<(Config, String)> {
    let production = Path::new(PRODUCTION_CONFIG);
    let file = file.or_else(|| production.exists().then_some(production));
    let config = Config::load(file, std::env::vars())?;
    let source = match file {
        Some(f) => f.display().to_string(),
        None => "built-in defaults".to_string(),
    };
    Ok((config, source))
}

fn json(report: &AcceptanceReport) -> anyhow::Result<String> {
    let summary = serde_json::json!({
        "pass": report.count(CheckStatus::Pass),
        "fail": report.count(CheckStatus::Fail),
        "warn": report.count(CheckStatus::Warn),
        "skip": report.count(CheckStatus::Skip),
    });
    let mut value = serde_json::to_value(report)?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("summary".into(), summary);
    }
    Ok(serde_json::to_string_pretty(&value)?)
}
