//! The registry client's errors; each names the registry, repository, reference or digest.

use std::path::PathBuf;

use berth_errdefs::{ErrorKind, HasKind};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry could not be reached at all (refused, DNS, TLS handshake).
    #[error("{method} {url:?}: {why}")]
    Unreachable {
        method: &'static str,
        url: String,
        why: String,
    },
    /// The response body broke off.
    #[error("reading {url:?}: {why}")]
    Body { url: String, why: String },
    #[error("{host}: unauthorized: {message}")]
    Unauthorized { host: String, message: String },
    #[error("{what}: denied: {message}")]
    Denied { what: String, message: String },
    #[error("{what} not found: {message}")]
    NotFound { what: String, message: String },
    /// Any other answer the protocol does not expect.
    #[error("{method} {url:?}: unexpected status {status}: {message}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    #[error("{what}: {why}")]
    Invalid { what: String, why: String },
    #[error("unexpected digest for {what}: got {actual}, expected {expected}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingPlatform { platform: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("reading {}: {why}", path.display())]
    Certs { path: PathBuf, why: String },
    #[error("TLS configuration for {host}: {why}")]
    Tls { host: String, why: String },
}

impl RegistryError {
    pub(crate) fn invalid(what: impl Into<String>, why: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            why: why.into(),
        }
    }

    /// Transport failures and server errors a retry may cure.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Body { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

impl HasKind for RegistryError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Unreachable { .. } | Self::Body { .. } => ErrorKind::Unavailable,
            Self::Unauthorized { .. } => ErrorKind::Unauthorized,
            Self::Denied { .. } => ErrorKind::Forbidden,
            Self::NotFound { .. } | Self::NoMatchingPlatform { .. } => ErrorKind::NotFound,
            Self::Status { status, .. } => match status {
                400..=499 => ErrorKind::InvalidArgument,
                _ => ErrorKind::Unavailable,
            },
            Self::Invalid { .. } | Self::DigestMismatch { .. } => ErrorKind::InvalidArgument,
            Self::Unsupported(_) => ErrorKind::NotImplemented,
            Self::Certs { .. } | Self::Tls { .. } => ErrorKind::InvalidArgument,
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// The registry's own error body (`{"errors":[{"code":..,"message":..}]}`), as one line.
pub(crate) fn registry_message(body: &[u8]) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let e: Errors = serde_json::from_slice(body).ok()?;
    let first = e.errors.into_iter().next()?;
    Some((first.code, first.message))
}
