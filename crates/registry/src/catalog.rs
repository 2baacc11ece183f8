//! Registry-wide calls: login (check credentials) and search.

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::auth::{Challenge, Credentials, query_escape};
use crate::client::{Registry, Req, read_small};
use crate::error::{RegistryError, Result};

/// One search hit (Docker's `registry.SearchResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub star_count: u64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub is_automated: bool,
}

#[derive(Deserialize)]
struct SearchResults {
    #[serde(default)]
    results: Vec<SearchResult>,
}

impl Registry {
    /// Checks `creds` against `host` as `docker login` does; returns an identity token when
    /// the token server hands out a refresh token.
    pub async fn login(&self, host: &str, creds: &Credentials) -> Result<Option<String>> {
        let endpoint = self
            .endpoints(host, false)
            .pop()
            .unwrap_or_else(|| host.to_owned());
        let session = self.session(host, &endpoint, creds.clone(), Vec::new());
        self.forget_host(&endpoint);
        let base = session.base().await?;
        if let Some(Challenge::Bearer { realm, service, .. }) = session.challenge().await? {
            let (_, refresh) = session.fetch_token(&realm, service.as_deref()).await?;
            return Ok((!refresh.is_empty()).then_some(refresh));
        }
        let (resp, url) = session.send(&Req::new(Method::GET, "/v2/")).await?;
        match resp.status() {
            StatusCode::OK => Ok(None),
            StatusCode::UNAUTHORIZED => Err(RegistryError::Unauthorized {
                host: host.to_owned(),
                message: format!("login to {base} failed: incorrect username or password"),
            }),
            s => {
                let body = read_small(resp, &url).await.unwrap_or_default();
                Err(crate::client::status_error(&Method::GET, &url, s, &body))
            }
        }
    }

    /// `GET /v1/search` (Docker Hub's API; CNCF distribution has none, which is said).
    pub async fn search(
        &self,
        host: &str,
        term: &str,
        limit: u32,
        creds: &Credentials,
    ) -> Result<Vec<SearchResult>> {
        let endpoint = if host == crate::client::DOCKER_HUB {
            "index.docker.io".to_owned()
        } else {
            host.to_owned()
        };
        let session = self.session(host, &endpoint, creds.clone(), Vec::new());
        let target = format!("/v1/search?q={}&n={limit}", query_escape(term));
        let (resp, url) = session.send(&Req::new(Method::GET, target)).await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED {
            return Err(RegistryError::Unsupported(format!(
                "registry {host} does not support search (GET /v1/search answered {status}): CNCF distribution and most private registries have no search API"
            )));
        }
        let resp = session
            .expect(
                resp,
                &url,
                &Method::GET,
                &format!("search on {host}"),
                &[StatusCode::OK],
            )
            .await?;
        let bytes = read_small(resp, &url).await?;
        let r: SearchResults = serde_json::from_slice(&bytes).map_err(|e| {
            RegistryError::invalid(format!("search answer from {host}"), e.to_string())
        })?;
        Ok(r.results)
    }
}
