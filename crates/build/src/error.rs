//! Build errors: what failed, on what; the API turns the kind into a status.

use berth_errdefs::{ErrorKind, HasKind};

/// A Dockerfile that does not parse: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error line {line} column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A bad request: flag, argument, reference, Dockerfile semantics.
    #[error("{0}")]
    Invalid(String),
    /// A COPY/ADD source or a base image that is not there (Docker's wording in the message).
    #[error("{0}")]
    NotFound(String),
    /// The build context could not be read (bad tar, escaping entry, size).
    #[error("{0}")]
    Context(String),
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A RUN step's command failed (Docker's message and exit code).
    #[error("The command '{command}' returned a non-zero code: {code}")]
    Run { command: String, code: i32 },
    /// The backend (engine) failed; its message, its kind.
    #[error("{message}")]
    Backend { message: String, kind: ErrorKind },
    #[error("build cancelled")]
    Cancelled,
}

impl BuildError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }

    pub(crate) fn io(
        what: &'static str,
        path: impl Into<std::path::PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { what, path, source }
    }

    /// A backend failure, keeping its class.
    pub fn backend<E: std::error::Error + HasKind + 'static>(e: &E) -> Self {
        Self::Backend {
            message: berth_errdefs::chain(e),
            kind: e.kind(),
        }
    }

    /// The exit code Docker reports in `errorDetail` (RUN failures only).
    pub fn code(&self) -> Option<i32> {
        match self {
            Self::Run { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl HasKind for ParseError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

impl HasKind for BuildError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Parse(_) | Self::Invalid(_) | Self::Context(_) => ErrorKind::InvalidArgument,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Io { .. } | Self::Run { .. } => ErrorKind::Internal,
            Self::Backend { kind, .. } => *kind,
            Self::Cancelled => ErrorKind::Unavailable,
        }
    }
}

pub type Result<T, E = BuildError> = std::result::Result<T, E>;
