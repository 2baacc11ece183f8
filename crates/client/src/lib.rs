//! berth-client: the connection to a daemon speaking the Docker Engine API, shared by berth's
//! clients (`berth-cli`, `berth-compose`): which daemon (`host`), the HTTP connection with
//! bollard and a raw path for hijacked streams (`client`), moving bytes between the local stdio
//! and a container (`stream`, `tty`), docker's table layout and human units (`table`), and the exit-code error both clients end with.
//!
//! It is client-edge code, like the CLI: errors are `anyhow`, and a daemon's error stays a
//! `bollard` error inside so the caller can print it the way docker does.
#![forbid(unsafe_code)]

pub mod client;
pub mod host;
pub mod stream;
pub mod table;
pub mod tty;

/// Ends a command with an exit code, and optionally a message for stderr. Errors that are not a
/// `StatusError` exit 1, as docker's do.
#[derive(Debug)]
pub struct StatusError {
    pub code: i32,
    pub message: Option<String>,
}

impl StatusError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: Some(message.into()),
        }
    }

    /// Exit quietly with `code` (e.g. the container's exit status).
    pub fn code(code: i32) -> Self {
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

/// Prints an error the way docker does and returns the exit code.
pub fn report(err: &anyhow::Error, default_code: i32) -> i32 {
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
pub fn describe(err: &anyhow::Error) -> String {
    match err.downcast_ref::<bollard::errors::Error>() {
        Some(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
            format!("Error response from daemon: {message}")
        }
        _ => format!("{err:#}"),
    }
}
