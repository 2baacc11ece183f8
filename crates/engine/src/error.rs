//! The engine's errors. Messages that the docker CLI shows users follow Docker's wording;
//! each error maps to a class (`HasKind`) that the API turns into a status code.

use berth_errdefs::{ErrorKind, HasKind, chain};

/// Errors from engine operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error("Container {0} is paused, unpause the container before stopping or killing")]
    Paused(String),
    #[error("Container {0} is not paused")]
    NotPaused(String),
    #[error("Container {0} is already paused")]
    AlreadyPaused(String),
    /// `rm` without force of a container that is running, paused or restarting.
    #[error(
        "You cannot remove a {state} container {id}. {hint} before attempting removal or force remove"
    )]
    RemoveLive {
        state: &'static str,
        id: String,
        hint: &'static str,
    },
    #[error("Conflict, cannot remove the default link name of the container")]
    DefaultLink,
    /// The image exists, but not for the platform asked for.
    #[error("{0}")]
    PlatformMismatch(String),
    /// An option berth cannot honour, which dockerd refuses without a class (a 500).
    #[error("{0}")]
    Refused(String),
    #[error("container {id}: {source}")]
    State {
        id: String,
        #[source]
        source: crate::container::state::TransitionError,
    },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Conflict(String),
    /// Starting the container's process failed; the message is the runtime's.
    #[error("failed to create task for container: OCI runtime create failed: {message}: unknown")]
    StartFailed { message: String, code: i32 },
    /// Any other failure, with the object it failed on and a cause.
    #[error("{what}")]
    Internal {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A failure from a library, keeping its class.
    #[error("{message}")]
    Library { kind: ErrorKind, message: String },
}

impl EngineError {
    /// Wraps a library error, keeping its class and full message chain.
    pub fn from_lib<E: std::error::Error + HasKind + 'static>(e: &E) -> Self {
        Self::Library {
            kind: e.kind(),
            message: chain(e),
        }
    }

    pub(crate) fn internal(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Internal {
            what: what.into(),
            source: Box::new(source),
        }
    }
}

impl HasKind for EngineError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NoSuchContainer(_)
            | Self::NoSuchImage(_)
            | Self::NoSuchExec(_)
            | Self::PlatformMismatch(_) => ErrorKind::NotFound,
            Self::NameInUse { .. }
            | Self::NotRunning(_)
            | Self::Paused(_)
            | Self::NotPaused(_)
            | Self::AlreadyPaused(_)
            | Self::RemoveLive { .. }
            | Self::Conflict(_) => ErrorKind::Conflict,
            Self::State { source, .. } => source.kind(),
            Self::InvalidName(_) | Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::NotImplemented(_) => ErrorKind::NotImplemented,
            // dockerd raises it without a class: a 500.
            Self::DefaultLink
            | Self::Refused(_)
            | Self::StartFailed { .. }
            | Self::Internal { .. } => ErrorKind::Internal,
            Self::Library { kind, .. } => *kind,
        }
    }
}

/// Shorthand.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
