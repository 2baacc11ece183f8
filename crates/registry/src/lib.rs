//! berth-registry: a client of the OCI distribution API (and Docker's registry v2 flavour).
//!
//! * [`Registry`] holds one pooled HTTP/1.1 client per host (hyper + rustls/ring; system roots
//!   plus `certs.d/<host>/` CAs and client certificates; plain HTTP only for loopback and
//!   `--insecure-registry`), the scheme and auth challenge each host answered, and bearer
//!   tokens until they expire.
//! * [`Session`] is one user's access (credentials + scopes) to one host; [`Repo`] one
//!   repository on it: manifests, blobs streamed with `Range` resume, HEAD, cross-repository
//!   mount, monolithic and chunked uploads, manifest PUT.
//! * [`manifest`] parses Docker schema 2 / OCI manifests and indexes and picks a platform.
//!
//! A leaf crate: it knows nothing of the image store; the engine connects the two.
#![forbid(unsafe_code)]

mod auth;
mod catalog;
mod client;
pub mod error;
pub mod manifest;
mod reader;
mod repo;
mod transport;
mod upload;

pub use auth::Credentials;
pub use catalog::SearchResult;
pub use client::{DOCKER_HUB, Registry, Session};
pub use error::{RegistryError, Result};
pub use reader::BlobReader;
pub use repo::{FetchedManifest, Repo};
pub use transport::RegistryConfig;
pub use upload::{CHUNK, Started};
