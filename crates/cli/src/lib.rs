//! berth-cli: berth's client, Docker's command syntax over the Docker Engine API.
//!
//! `cli.rs` holds the command line (clap) and the dispatch; each command family has its own
//! module; `berth-client` is the connection; `format/` (Go templates), `table.rs` and
//! `usage.rs` reproduce docker's output.
#![forbid(unsafe_code)]

mod build;
mod cli;
mod completion;
mod containers;
mod context;
mod cp;
mod credentials;
mod df;
mod exec;
mod format;
mod images;
mod networks;
mod observe;
mod opts;
mod progress;
#[cfg(test)]
mod proptests;
mod ps;
mod registry;
mod run;
mod system;
mod usage;
mod util;
mod volumes;

use std::ffi::OsString;

// The connection, the stdio pumps, docker's table helpers and the exit-code error are shared
// with `berth compose`.
pub(crate) use berth_client::{StatusError, describe, report};
use berth_client::{client, host, stream, table, tty};

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
