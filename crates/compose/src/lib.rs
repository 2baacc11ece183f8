//! berth-compose: `berth compose`, multi-container applications from Compose files.
//!
//! `model` is the Compose Specification in normalized form; `load` finds, parses, interpolates,
//! merges and validates files into a `Project` (no daemon involved); `graph` orders services by
//! their dependencies; `convert` turns a service into the Engine API's create body; `engine`
//! wraps the API calls; `cmd` holds one module per command; `progress` is Compose v2's live
//! view. Like the CLI, it speaks HTTP to a daemon through `berth-client` and never reaches
//! into the engine.
#![forbid(unsafe_code)]

pub mod graph;
pub mod labels;
pub mod load;
pub mod model;

mod cli;
mod cmd;
mod context;
mod convert;
mod engine;
mod progress;

use std::ffi::OsString;
use std::io::Write;

/// Runs `berth compose ...` (`args[0]` is `compose`) and returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth compose: {e}");
            return 1;
        }
    };
    let code = rt.block_on(cli::run(args));
    // A task may still be blocked reading stdin; do not wait for it.
    rt.shutdown_background();
    code
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a message.
pub(crate) fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}
