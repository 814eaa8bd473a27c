//! Reaching the store from a local CLI command: through the running server's control socket
//! when there is one, directly otherwise. Both paths run `app::execute`, so output is the
//! same either way.

use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::app::{self, Core, DataDir, OpenMode};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::proto::control::{Envelope, Request, Response, VERSION};

/// A connection to the appliance's store.
pub enum Local {
    /// `serve` is running: talk to it.
    Socket(BufReader<UnixStream>),
    /// Nobody holds the store: open it here.
    Direct(Arc<Core>),
}

impl Local {
    /// Connects to the control socket, or opens the store when no server answers.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let path = DataDir::new(&config.data_dir).control_socket();
        if let Ok(stream) = UnixStream::connect(&path).await {
            return Ok(Local::Socket(BufReader::new(stream)));
        }
        let clock: SharedClock = Arc::new(SystemClock);
        let core =
            tokio::task::spawn_blocking(move || Core::open(config, clock, OpenMode::Existing))
                .await
                .context("while opening the data dir")??;
        Ok(Local::Direct(Arc::new(core)))
    }

    /// Sends one request and returns the answer; an `Error` answer becomes `Err`.
    pub async fn request(&mut self, request: Request) -> anyhow::Result<Response> {
        let response = match self {
            Local::Direct(core) => {
                let core = Arc::clone(core);
                tokio::task::spawn_blocking(move || app::execute(&core, request)).await?
            }
            Local::Socket(stream) => {
                let mut line = serde_json::to_vec(&Envelope {
                    v: VERSION,
                    request,
                })?;
                line.push(b'\n');
                stream
                    .get_mut()
                    .write_all(&line)
                    .await
                    .context("while writing to the control socket")?;
                let mut answer = String::new();
                if stream.read_line(&mut answer).await? == 0 {
                    bail!("the server closed the control socket without answering");
                }
                serde_json::from_str(&answer).context("while reading the server's answer")?
            }
        };
        if let Response::Error { code, message } = &response {
            bail!("{message} ({code})");
        }
        Ok(response)
    }
}
