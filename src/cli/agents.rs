//! `tundra agents`: the team's agents, as a table or as the API's JSON.

use std::process::ExitCode;

use clap::Args;

use crate::clock::{Clock, SystemClock};
use crate::operator::api::AgentList;
use crate::operator::client::REQUEST_TIMEOUT;
use crate::operator::output::agents_table;
use crate::operator::{config, OperatorConfig, Session};

/// `tundra agents` arguments.
#[derive(Debug, Args)]
pub struct Agents {
    /// Print the API's JSON instead of the table.
    #[arg(long)]
    json: bool,
}

/// Runs `tundra agents`.
pub async fn run(args: Agents) -> anyhow::Result<ExitCode> {
    let saved = OperatorConfig::load(&config::default_path()?)?;
    let session = Session::new(&saved)?;
    let res = session.get_raw("/api/v1/agents", REQUEST_TIMEOUT).await?;
    if args.json {
        let v: serde_json::Value = session.client().parse(&res)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let list: AgentList = session.client().parse(&res)?;
        let now = SystemClock.now().unix_timestamp();
        print!("{}", agents_table(&list.agents, now));
    }
    Ok(ExitCode::SUCCESS)
}
