//! The `berth` binary: `berth daemon`, `berth runtime ...` and the client commands.
//!
//! Dispatch happens on the first argument before any heavy initialisation, so each face
//! starts as fast as it can: the runtime never builds an async runtime, the client never
//! reads daemon configuration.

use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let code = match args.get(1).and_then(|a| a.to_str()) {
        Some("runtime") => berth_runtime::cli::main(args[1..].to_vec()),
        _ => {
            eprintln!("berth: the daemon and client commands are not built yet; try `berth runtime --help`");
            2
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
