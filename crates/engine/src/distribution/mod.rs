//! Pull, push, login, search: the registry client (`berth-registry`) and the image store
//! (`berth-image`) joined, with Docker's progress messages.
//!
//! Pull data flow (one task per layer, up to [`MAX_CONCURRENT_DOWNLOADS`] at once):
//!
//! ```text
//! registry ──HTTP body──▶ stream_blob task ──chunks──▶ BlobReader (blocking thread)
//!     ──▶ sha256 (blob digest) ──▶ gunzip/zstd ──▶ sha256 (diff id) ──▶ tar unpacker
//!     ──▶ layers/.tmp-* ──(both digests match)──▶ layers/<chain id> ──▶ image record last
//! ```

mod error;
mod progress;
mod pull;
mod push;

use berth_registry::{Credentials, Registry, Session};

pub use error::DistributionError;
pub use progress::{Detail, Message, Progress};
pub use pull::Pulled;

use crate::engine::Engine;

/// Layers downloaded at once per pull (dockerd's `--max-concurrent-downloads` default).
pub const MAX_CONCURRENT_DOWNLOADS: usize = 3;
/// Layers uploaded at once per push (dockerd's `--max-concurrent-uploads` default).
pub const MAX_CONCURRENT_UPLOADS: usize = 5;

/// Where a registry's credentials are filed in the docker CLI's config (`auths` keys).
pub fn server_address(host: &str) -> String {
    if host == berth_registry::DOCKER_HUB {
        "https://index.docker.io/v1/".to_owned()
    } else {
        host.to_owned()
    }
}

/// The registry host of a `serveraddress` (`https://index.docker.io/v1/` → `docker.io`).
pub fn registry_host(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => {
            berth_registry::DOCKER_HUB.to_owned()
        }
        other => other.to_owned(),
    }
}

/// What `GET /distribution/{name}/json` answers.
#[derive(Debug, Clone)]
pub struct DistributionInfo {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    /// (os, architecture, variant) of each platform the reference offers.
    pub platforms: Vec<berth_registry::manifest::Platform>,
}

impl Engine {
    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// `docker login`: checks the credentials against the registry; returns the identity
    /// token the registry handed out, if any.
    pub async fn login(&self, creds: &Credentials, server: &str) -> crate::Result<Option<String>> {
        let host = registry_host(server);
        Ok(self
            .registry()
            .login(&host, creds)
            .await
            .map_err(DistributionError::from)?)
    }

    /// `docker search`.
    pub async fn search(
        &self,
        term: &str,
        limit: u32,
        creds: &Credentials,
    ) -> crate::Result<Vec<berth_registry::SearchResult>> {
        // `localhost:5000/app` searches that registry for `app`; else Docker Hub.
        let (host, term) = match term.split_once('/') {
            Some((h, t)) if h.contains(['.', ':']) || h == "localhost" => (h.to_owned(), t),
            _ => (berth_registry::DOCKER_HUB.to_owned(), term),
        };
        Ok(self
            .registry()
            .search(&host, term, limit, creds)
            .await
            .map_err(DistributionError::from)?)
    }

    /// `GET /distribution/{name}/json`: the manifest a reference resolves to, and its
    /// platforms.
    pub async fn distribution_inspect(
        &self,
        reference: &str,
        creds: &Credentials,
    ) -> crate::Result<DistributionInfo> {
        Ok(pull::inspect(self, reference, creds).await?)
    }

    /// A session for `repo_path` on `host` with `actions` (`pull`, `pull,push`), plus pull
    /// access to `also` (repositories a push mounts from).
    pub(crate) fn session(
        &self,
        host: &str,
        endpoint: &str,
        repo_path: &str,
        actions: &str,
        also: &[String],
        creds: &Credentials,
    ) -> Session {
        let mut scopes = vec![format!("repository:{repo_path}:{actions}")];
        scopes.extend(also.iter().map(|r| format!("repository:{r}:pull")));
        self.registry()
            .session(host, endpoint, creds.clone(), scopes)
    }
}
