//! The image store's errors; each names the image, layer, digest or path it failed on.

use std::path::PathBuf;

use berth_errdefs::{ErrorKind, HasKind};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    /// A path the archive API was asked for is not in the container.
    #[error("Could not find the file {} in container", .0.display())]
    NoSuchPath(PathBuf),
    #[error("invalid reference format: {reference:?}: {why}")]
    InvalidReference {
        reference: String,
        why: &'static str,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{what}: {why}")]
    Invalid { what: String, why: String },
    #[error("unexpected digest for {what}: got {actual}, expected {expected}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("layer entry {entry:?} {why}")]
    UnsafeEntry { entry: String, why: &'static str },
    #[error("{what} {}", path.display())]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Stream {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    NotImplemented(String),
    #[error(transparent)]
    Record(#[from] berth_fsutil::record::RecordError),
}

impl ImageError {
    pub(crate) fn io(
        what: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let (what, path) = (what.into(), path.into());
        move |source| Self::Io { what, path, source }
    }

    pub(crate) fn stream(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Stream { what, source }
    }

    pub(crate) fn invalid(what: impl Into<String>, why: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            why: why.into(),
        }
    }
}

impl HasKind for ImageError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) | Self::NoSuchPath(_) => ErrorKind::NotFound,
            Self::InvalidReference { .. }
            | Self::Invalid { .. }
            | Self::DigestMismatch { .. }
            | Self::UnsafeEntry { .. }
            | Self::Stream { .. } => ErrorKind::InvalidArgument,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::NotImplemented(_) => ErrorKind::NotImplemented,
            Self::Io { .. } | Self::Record(_) => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;
