//! Error classes shared by berth's libraries.
//!
//! Every library error exposes [`HasKind::kind`]. Libraries say *what* failed *on what*; only the
//! API edge (`berth-api`'s `error` module) turns a [`ErrorKind`] into an HTTP status and Docker's
//! `{"message": ...}` body, and the CLI edge into an exit code. This mirrors moby's `errdefs` and
//! containerd's error classes: classes cross crate boundaries, concrete error types do not.
#![forbid(unsafe_code)]

use std::fmt;

/// The class of a failure, independent of the component that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The named object (container, image, network, volume, path) does not exist.
    NotFound,
    /// The request conflicts with the object's current state (name in use, container running).
    Conflict,
    /// The request itself is malformed or carries an invalid value.
    InvalidArgument,
    /// Credentials are missing or wrong.
    Unauthorized,
    /// The caller may not do this.
    Forbidden,
    /// A dependency is temporarily unavailable; retrying may help.
    Unavailable,
    /// The operation is recognised but not supported by berth or by this host.
    NotImplemented,
    /// Nothing changed (e.g. starting a running container).
    NotModified,
    /// Anything else: a bug or an unexpected host failure.
    Internal,
}

impl ErrorKind {
    /// A short, stable, lowercase name for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not found",
            Self::Conflict => "conflict",
            Self::InvalidArgument => "invalid argument",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Unavailable => "unavailable",
            Self::NotImplemented => "not implemented",
            Self::NotModified => "not modified",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by every library error type in berth.
pub trait HasKind {
    /// The class of this failure.
    fn kind(&self) -> ErrorKind;
}

impl HasKind for std::io::Error {
    fn kind(&self) -> ErrorKind {
        use std::io::ErrorKind as Io;
        match std::io::Error::kind(self) {
            Io::NotFound => ErrorKind::NotFound,
            Io::AlreadyExists => ErrorKind::Conflict,
            Io::PermissionDenied => ErrorKind::Forbidden,
            Io::InvalidInput | Io::InvalidData => ErrorKind::InvalidArgument,
            Io::Unsupported => ErrorKind::NotImplemented,
            _ => ErrorKind::Internal,
        }
    }
}

/// Walks an error's `source()` chain and renders it as `outer: inner: innermost`, skipping a
/// link whose text the previous link already ends with. Used at the edges (CLI, API, logs).
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(std::io::Error);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("writing state")
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn io_errors_map_to_kinds() {
        let e = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(HasKind::kind(&e), ErrorKind::NotFound);
        let e = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
        assert_eq!(HasKind::kind(&e), ErrorKind::Conflict);
    }

    #[test]
    fn chain_renders_each_source_once() {
        let outer = Wrapper(std::io::Error::other("disk on fire"));
        assert_eq!(chain(&outer), "writing state: disk on fire");
    }
}
