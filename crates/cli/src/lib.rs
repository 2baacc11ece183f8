//! berth-cli: berth's client, Docker's command syntax over the Docker Engine API.
//!
//! `cli.rs` holds the command line (clap) and the dispatch; each command family has its own
//! module; `client.rs` is the connection; `format.rs`/`table.rs` reproduce docker's output.
#![forbid(unsafe_code)]

mod build;
mod cli;
mod client;
mod containers;
mod cp;
mod exec;
mod format;
mod host;
mod images;
mod networks;
mod observe;
mod opts;
mod ps;
mod run;
mod stream;
mod system;
mod table;
mod tty;
mod util;
mod volumes;

use std::ffi::OsString;

/// Ends a command with an exit code, and optionally a message for stderr. Errors that are not a
/// `StatusError` exit 1, as docker's do.
#[derive(Debug)]
pub(crate) struct StatusError {
    pub(crate) code: i32,
    pub(crate) message: Option<String>,
}

impl StatusError {
    pub(crate) fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: Some(message.into()),
        }
    }

    /// Exit quietly with `code` (e.g. the container's exit status).
    pub(crate) fn code(code: i32) -> Self {
        Self {
            code,
            message: None,
        }
    }
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for StatusError {}

/// Runs a client command (`args[0]` is the program name) and returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: {e}");
            return 1;
        }
    };
    let code = rt.block_on(cli::run(args));
    // A task may still be blocked reading stdin; do not wait for it.
    rt.shutdown_background();
    code
}

/// Prints an error the way docker does and returns the exit code.
pub(crate) fn report(err: &anyhow::Error, default_code: i32) -> i32 {
    if let Some(s) = err.downcast_ref::<StatusError>() {
        if let Some(m) = &s.message {
            eprintln!("{m}");
        }
        return s.code;
    }
    eprintln!("{}", describe(err));
    default_code
}

/// docker's wording for an error.
pub(crate) fn describe(err: &anyhow::Error) -> String {
    match err.downcast_ref::<bollard::errors::Error>() {
        Some(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
            format!("Error response from daemon: {message}")
        }
        _ => format!("{err:#}"),
    }
}
