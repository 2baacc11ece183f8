//! The `berth` binary: `berth daemon`, `berth runtime ...`, `berth compose ...` and the client
//! commands.
//!
//! Dispatch happens on the first argument before any heavy initialisation, so each face
//! starts as fast as it can: the runtime never builds an async runtime, the client never
//! reads daemon configuration.

mod daemon;
mod daemon_args;
mod daemon_config;

use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // Installed (or symlinked) as `runc`/`berth-runc`, berth is the runtime: containerd's shim
    // calls its BinaryName with runc's arguments.
    let invoked_as = args
        .first()
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if invoked_as.ends_with("runc") {
        let mut rt_args = vec![OsString::from("runtime")];
        rt_args.extend(args[1..].iter().cloned());
        return exit(berth_runtime::cli::main(rt_args));
    }
    let code = match args.get(1).and_then(|a| a.to_str()) {
        Some("runtime") => berth_runtime::cli::main(args[1..].to_vec()),
        Some("daemon") => daemon::main(args[1..].to_vec()),
        Some("compose") => berth_compose::main(args[1..].to_vec()),
        _ => berth_cli::main(args),
    };
    exit(code)
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
