//! `berth runtime`: runc's command line over the runtime library.
//!
//! containerd's runc shim and dockerd drive it exactly as they drive runc: global `--root`,
//! `--log`, `--log-format json`, and the commands `create`, `start`, `state`, `kill`,
//! `delete`, `exec`, `ps`, `pause`, `resume`, `update`, `features`.

pub mod args;
mod commands;
mod foreground;
mod log;
mod processes;
mod update;

use std::ffi::OsString;
use std::path::PathBuf;

use berth_errdefs::chain;
use clap::Parser;

pub use args::{DEFAULT_ROOT, RuntimeCli};

use crate::error::RuntimeError;

/// Errors of the command line itself (the library's are wrapped).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(
        "the systemd cgroup driver is not supported by berth (it manages cgroupfs directly); drop --systemd-cgroup"
    )]
    SystemdCgroup,
    #[error("invalid signal {0:?}")]
    Signal(String),
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Sys {
        what: String,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    ExeGuard(#[from] crate::exe_guard::ExeGuardError),
}

/// Runs `berth runtime` with `args` (argv without the leading `berth`), returning the exit
/// code.
pub fn main(args: Vec<OsString>) -> i32 {
    let cli = match RuntimeCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let mut logger = log::Logger::open(cli.log.as_deref(), cli.log_format, cli.debug);
    logger.debug(&format!("berth runtime {:?}", cli.command));
    if cli.systemd_cgroup {
        logger.error(&CliError::SystemdCgroup.to_string());
        return 1;
    }
    match commands::dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            logger.error(&chain(&e));
            1
        }
    }
}
