//! Errors of pulls, pushes, login and search: the registry's or the store's, kept with
//! their class.

use berth_errdefs::{ErrorKind, HasKind};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistributionError {
    #[error(transparent)]
    Registry(#[from] berth_registry::RegistryError),
    #[error(transparent)]
    Store(#[from] berth_image::ImageError),
    /// What a registry served does not add up (config and manifest disagree).
    #[error("{what}: {why}")]
    Invalid { what: String, why: String },
    #[error("An image does not exist locally with the tag: {0}")]
    NoLocalTag(String),
    #[error("{what}")]
    Task {
        what: String,
        #[source]
        source: tokio::task::JoinError,
    },
}

impl HasKind for DistributionError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Registry(e) => e.kind(),
            Self::Store(e) => e.kind(),
            Self::Invalid { .. } => ErrorKind::InvalidArgument,
            Self::NoLocalTag(_) => ErrorKind::NotFound,
            Self::Task { .. } => ErrorKind::Internal,
        }
    }
}

impl From<DistributionError> for crate::EngineError {
    fn from(e: DistributionError) -> Self {
        Self::from_lib(&e)
    }
}

pub(crate) type Result<T, E = DistributionError> = std::result::Result<T, E>;
