//! The composition root: opens (or initializes) the data dir, builds the services, wires the
//! routers, starts the listeners and the control socket, and owns shutdown.
//!
//! Nothing below `app` knows how the pieces are assembled; `app` holds no policy of its own.

mod audit_upkeep;
mod auth;
mod control;
mod core;
mod datadir;
mod error;
mod init;
mod notify;
mod run;
mod security;

pub use self::core::{Core, OpenMode};
pub use audit_upkeep::AuditUpkeep;
pub use control::execute;
pub use datadir::DataDir;
pub use error::AppError;
pub use init::{InitError, InitReport};
pub use run::{run, start, Listeners, Running};
pub use security::{SelfCheck, MAX_RUNS};
