//! The runtime's errors. Each names the container (or file) it failed on; the chain of
//! causes is printed at the edge with `berth_errdefs::chain`.

use std::path::PathBuf;

use berth_errdefs::{ErrorKind, HasKind};
use nix::errno::Errno;

use crate::process::error::InitError;

/// A spec the runtime cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The spec violates the runtime specification.
    #[error("{0}")]
    Invalid(String),
    /// Valid, but asks for something berth does not do.
    #[error("{0} is not supported")]
    Unsupported(String),
}

/// Errors of the runtime library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    #[error("invalid container id {0:?}: it must match [A-Za-z0-9_+.-]+ and be at most 1024 bytes")]
    InvalidId(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container with id {0} already exists")]
    Exists(String),
    #[error("reading {}", path.display())]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {}", path.display())]
    ParseConfig {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid spec {}", path.display())]
    Spec {
        path: PathBuf,
        #[source]
        source: SpecError,
    },
    #[error("rootfs {} does not exist or is not a directory", .0.display())]
    MissingRootfs(PathBuf),
    #[error("cannot {op} container {id}: it is {status}")]
    BadState {
        id: String,
        status: String,
        op: &'static str,
    },
    #[error("{what} for container {id}")]
    Sys {
        id: String,
        what: String,
        #[source]
        source: Errno,
    },
    #[error("{what} for container {id}")]
    Io {
        id: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Init(#[from] InitError),
    #[error("cgroups of container {id}")]
    Cgroup {
        id: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("seccomp profile of container {id}")]
    Seccomp {
        id: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{kind} hook #{index} ({path}) of container {id} failed: {detail}")]
    Hook {
        id: String,
        kind: &'static str,
        index: usize,
        path: String,
        detail: String,
    },
    #[error("state of container {id} in {}", path.display())]
    State {
        id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HasKind for RuntimeError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidId(_) | Self::ParseConfig { .. } | Self::MissingRootfs(_) => {
                ErrorKind::InvalidArgument
            }
            Self::Spec {
                source: SpecError::Unsupported(_),
                ..
            } => ErrorKind::NotImplemented,
            Self::Spec { .. } => ErrorKind::InvalidArgument,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::ReadConfig { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Self::Exists(_) | Self::BadState { .. } => ErrorKind::Conflict,
            // The user's program could not run: a bad request, as Docker classes it.
            Self::Init(e) if e.program_errno.is_some() => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        }
    }
}

impl RuntimeError {
    /// Docker's exit code when the user's program could not be started (127: not found,
    /// 126: not executable), from the failure's errno as init reported it.
    pub fn program_exit_code(&self) -> Option<i32> {
        match self {
            Self::Init(e) => e.program_exit_code(),
            _ => None,
        }
    }
}

/// Shorthand for the runtime's results.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
