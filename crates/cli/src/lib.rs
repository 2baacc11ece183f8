//! berth-cli: berth's client, Docker's command syntax over the Docker Engine API.

use std::ffi::OsString;

/// Runs a client command (`args[0]` is the program name) and returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let _ = args;
    eprintln!("berth: the client commands are not built yet; use the docker CLI with DOCKER_HOST");
    2
}
