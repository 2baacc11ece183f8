//! The client: one pooled connection set per registry host, the scheme each host speaks, the
//! auth challenge it gave, and the tokens it issued; every request goes through [`Session::send`]
//! (auth, retries with back-off, redirects).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;

use crate::auth::{Challenge, Credentials, Token, TokenResponse, parse_challenge, query_escape};
use crate::error::{RegistryError, Result, registry_message};
use crate::transport::{Body, HttpClient, RegistryConfig, client_for};

/// How long a registry may take to send a response's head, or the next part of a body.
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest manifest, token or error body read into memory.
pub(crate) const MAX_SMALL_BODY: usize = 8 << 20;

/// Docker Hub's names: references say `docker.io`, the API lives elsewhere.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// What a host told berth at its first request.
#[derive(Debug, Clone)]
struct HostState {
    /// `https://registry-1.docker.io`, `http://127.0.0.1:5000`.
    base: String,
    challenge: Option<Challenge>,
}

#[derive(Default)]
struct State {
    clients: HashMap<String, HttpClient>,
    hosts: HashMap<String, HostState>,
    tokens: HashMap<String, Token>,
}

/// The registry client. Cheap to clone; shared by every pull and push of the daemon.
#[derive(Clone)]
pub struct Registry {
    pub(crate) cfg: Arc<RegistryConfig>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("cfg", &self.cfg).finish()
    }
}

/// One user's access to one registry host with a set of scopes.
#[derive(Debug, Clone)]
pub struct Session {
    pub(crate) reg: Registry,
    /// The registry as references name it (`docker.io`, `localhost:5000`).
    pub host: String,
    /// Where requests go (a mirror, or the host itself).
    pub(crate) endpoint: String,
    pub(crate) creds: Credentials,
    /// `repository:<name>:pull,push`, ...
    pub(crate) scopes: Vec<String>,
}

/// A request that can be sent again (after a 401, on a transient failure).
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: Method,
    /// A path (`/v2/...`) on the endpoint, or an absolute URL (an upload `Location`).
    pub(crate) target: String,
    pub(crate) headers: Vec<(header::HeaderName, String)>,
    pub(crate) body: Option<Bytes>,
}

impl Req {
    pub(crate) fn new(method: Method, target: impl Into<String>) -> Self {
        Self {
            method,
            target: target.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn header(mut self, k: header::HeaderName, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }

    pub(crate) fn body(mut self, b: impl Into<Bytes>) -> Self {
        self.body = Some(b.into());
        self
    }
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "REQUEST",
    }
}

fn authority_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// Why a request never got an answer, in words (the innermost cause).
fn transport_why(e: &hyper_util::client::legacy::Error) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut last = e.to_string();
    while let Some(c) = cur {
        last = c.to_string();
        cur = c.source();
    }
    last
}

impl Registry {
    pub fn new(cfg: RegistryConfig) -> Self {
        Self {
            cfg: Arc::new(cfg),
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.cfg
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pooled client for an authority (`host:port`).
    pub(crate) fn client(&self, authority: &str) -> Result<HttpClient> {
        if let Some(c) = self.state().clients.get(authority) {
            return Ok(c.clone());
        }
        let c = client_for(&self.cfg, authority)?;
        self.state().clients.insert(authority.to_owned(), c.clone());
        Ok(c)
    }

    /// Where requests for `host` go, mirrors first for Docker Hub pulls.
    pub fn endpoints(&self, host: &str, pull: bool) -> Vec<String> {
        if host == DOCKER_HUB {
            let mut out: Vec<String> = if pull {
                self.cfg
                    .mirrors
                    .iter()
                    .map(|m| m.trim_end_matches('/').to_owned())
                    .collect()
            } else {
                Vec::new()
            };
            out.push(DOCKER_HUB_API.into());
            return out;
        }
        vec![host.to_owned()]
    }

    /// A session on `host` (through `endpoint`, see [`Registry::endpoints`]).
    pub fn session(
        &self,
        host: &str,
        endpoint: &str,
        creds: Credentials,
        scopes: Vec<String>,
    ) -> Session {
        Session {
            reg: self.clone(),
            host: host.to_owned(),
            endpoint: endpoint.to_owned(),
            creds,
            scopes,
        }
    }

    /// Sends one request as is (no auth, no retry).
    pub(crate) async fn raw(
        &self,
        method: &Method,
        url: &str,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Response<Incoming>> {
        let client = self.client(authority_of(url))?;
        let mut req = Request::builder().method(method.clone()).uri(url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let req = req
            .header(
                header::USER_AGENT,
                concat!("berth/", env!("CARGO_PKG_VERSION")),
            )
            .body(body)
            .map_err(|e| RegistryError::invalid(format!("URL {url:?}"), e.to_string()))?;
        // A registry that takes the connection but never answers must not hang a pull.
        match tokio::time::timeout(RESPONSE_TIMEOUT, client.request(req)).await {
            Ok(r) => r.map_err(|e| RegistryError::Unreachable {
                method: method_name(method),
                url: url.to_owned(),
                why: transport_why(&e),
            }),
            Err(_) => Err(RegistryError::Unreachable {
                method: method_name(method),
                url: url.to_owned(),
                why: format!("no answer within {} s", RESPONSE_TIMEOUT.as_secs()),
            }),
        }
    }

    /// The scheme and challenge of an endpoint, from `GET /v2/` (HTTPS first; plain HTTP
    /// only for insecure hosts, as Docker falls back).
    async fn host_state(&self, endpoint: &str) -> Result<HostState> {
        if let Some(h) = self.state().hosts.get(endpoint) {
            return Ok(h.clone());
        }
        let explicit = endpoint.contains("://");
        let bases: Vec<String> = if explicit {
            vec![endpoint.to_owned()]
        } else if self.cfg.is_insecure(endpoint) {
            vec![format!("https://{endpoint}"), format!("http://{endpoint}")]
        } else {
            vec![format!("https://{endpoint}")]
        };
        let mut last = None;
        for base in bases {
            let url = format!("{base}/v2/");
            match self
                .raw(&Method::GET, &url, &HeaderMap::new(), empty())
                .await
            {
                Ok(resp) => {
                    let challenge = resp
                        .headers()
                        .get_all(header::WWW_AUTHENTICATE)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .filter_map(parse_challenge)
                        .min_by_key(|c| matches!(c, Challenge::Basic));
                    let status = resp.status();
                    if status != StatusCode::OK && status != StatusCode::UNAUTHORIZED {
                        let body = read_small(resp, &url).await.unwrap_or_default();
                        return Err(status_error(&Method::GET, &url, status, &body));
                    }
                    let st = HostState { base, challenge };
                    self.state().hosts.insert(endpoint.to_owned(), st.clone());
                    return Ok(st);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::invalid("endpoint", endpoint.to_owned())))
    }

    pub(crate) fn forget_host(&self, endpoint: &str) {
        self.state().hosts.remove(endpoint);
    }

    fn cached_token(&self, key: &str) -> Option<String> {
        let st = self.state();
        st.tokens
            .get(key)
            .filter(|t| t.expires > std::time::Instant::now())
            .map(|t| t.value.clone())
    }
}

/// Reads a bounded body.
pub(crate) async fn read_small(resp: Response<Incoming>, url: &str) -> Result<Bytes> {
    let limited = http_body_util::Limited::new(resp.into_body(), MAX_SMALL_BODY);
    limited
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .map_err(|e| RegistryError::Body {
            url: url.to_owned(),
            why: e.to_string(),
        })
}

/// The error for an unexpected answer, with the registry's own message.
pub(crate) fn status_error(
    method: &Method,
    url: &str,
    status: StatusCode,
    body: &[u8],
) -> RegistryError {
    let message = registry_message(body).map_or_else(
        || {
            String::from_utf8_lossy(&body[..body.len().min(200)])
                .trim()
                .to_owned()
        },
        |(code, msg)| format!("{}: {msg}", code.to_ascii_lowercase().replace('_', " ")),
    );
    RegistryError::Status {
        method: method_name(method),
        url: url.to_owned(),
        status: status.as_u16(),
        message,
    }
}

impl Session {
    /// The endpoint's base URL (`http://127.0.0.1:5000`).
    pub(crate) async fn base(&self) -> Result<String> {
        Ok(self.reg.host_state(&self.endpoint).await?.base)
    }

    /// The challenge the endpoint answered `GET /v2/` with.
    pub(crate) async fn challenge(&self) -> Result<Option<Challenge>> {
        Ok(self.reg.host_state(&self.endpoint).await?.challenge)
    }

    fn token_key(&self) -> String {
        let mut scopes = self.scopes.clone();
        scopes.sort();
        format!(
            "{}|{}|{}",
            self.endpoint,
            self.creds.username,
            scopes.join(" ")
        )
    }

    /// The `Authorization` header for this session, fetching a token if the host wants one.
    pub(crate) async fn authorization(&self, refresh: bool) -> Result<Option<String>> {
        let st = self.reg.host_state(&self.endpoint).await?;
        match st.challenge {
            None => Ok(self.creds.basic()),
            Some(Challenge::Basic) => Ok(self.creds.basic()),
            Some(Challenge::Bearer { realm, service, .. }) => {
                if !self.creds.registry_token.is_empty() {
                    return Ok(Some(format!("Bearer {}", self.creds.registry_token)));
                }
                let key = self.token_key();
                if !refresh && let Some(t) = self.reg.cached_token(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let (token, _) = self.fetch_token(&realm, service.as_deref()).await?;
                let value = token.value.clone();
                self.reg.state().tokens.insert(key, token);
                Ok(Some(format!("Bearer {value}")))
            }
        }
    }

    /// The token flow: GET `realm?service=&scope=` with basic credentials, or the OAuth2
    /// POST with a refresh token (an identity token from `login`).
    pub(crate) async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
    ) -> Result<(Token, String)> {
        let mut query: Vec<String> = Vec::new();
        if let Some(s) = service {
            query.push(format!("service={}", query_escape(s)));
        }
        for s in &self.scopes {
            query.push(format!("scope={}", query_escape(s)));
        }
        let mut headers = HeaderMap::new();
        let (method, url, body) = if self.creds.identity_token.is_empty() {
            if !self.creds.username.is_empty() {
                query.push("account=".to_owned() + &query_escape(&self.creds.username));
            }
            if self.scopes.is_empty() {
                // `login`: ask for a refresh token to keep as the identity token.
                query.push("offline_token=true".into());
                query.push("client_id=berth".into());
            }
            if let Some(b) = self.creds.basic() {
                headers.insert(header::AUTHORIZATION, hv(&b)?);
            }
            let sep = if realm.contains('?') { '&' } else { '?' };
            (
                Method::GET,
                format!("{realm}{sep}{}", query.join("&")),
                empty(),
            )
        } else {
            query.push("grant_type=refresh_token".into());
            query.push(format!(
                "refresh_token={}",
                query_escape(&self.creds.identity_token)
            ));
            query.push("client_id=berth".into());
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            (Method::POST, realm.to_owned(), full(query.join("&")))
        };
        let resp = self.reg.raw(&method, &url, &headers, body).await?;
        let status = resp.status();
        let bytes = read_small(resp, &url).await?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let msg = registry_message(&bytes)
                .map_or_else(|| "authentication required".to_owned(), |(_, m)| m);
            return Err(RegistryError::Unauthorized {
                host: self.host.clone(),
                message: msg,
            });
        }
        if !status.is_success() {
            return Err(status_error(&method, &url, status, &bytes));
        }
        let tr: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::invalid(format!("token from {realm}"), e.to_string()))?;
        tr.into_token().ok_or_else(|| {
            RegistryError::invalid(format!("token from {realm}"), "no token in the answer")
        })
    }

    /// Sends `req` with auth; a 401 refreshes credentials once; transient failures are
    /// retried with back-off. Redirects are followed for GET and HEAD.
    pub(crate) async fn send(&self, req: &Req) -> Result<(Response<Incoming>, String)> {
        let attempts = self.reg.cfg.attempts.max(1);
        let mut delay = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            match self.send_once(req).await {
                Ok((resp, url)) if attempt < attempts && is_retryable(resp.status()) => {
                    tracing::debug!(%url, status = %resp.status(), attempt, "retrying");
                }
                Err(e) if attempt < attempts && e.is_transient() => {
                    tracing::debug!(error = %e, attempt, "retrying");
                    if matches!(e, RegistryError::Unreachable { .. }) {
                        self.reg.forget_host(&self.endpoint);
                    }
                }
                other => return other,
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(4));
            attempt += 1;
        }
    }

    async fn send_once(&self, req: &Req) -> Result<(Response<Incoming>, String)> {
        let mut url = if req.target.contains("://") {
            req.target.clone()
        } else {
            format!("{}{}", self.base().await?, req.target)
        };
        let auth_authority = authority_of(&url).to_owned();
        let mut refreshed = false;
        let mut redirects = 0;
        loop {
            let mut headers = HeaderMap::new();
            for (k, v) in &req.headers {
                headers.append(k.clone(), hv(v)?);
            }
            if authority_of(&url) == auth_authority
                && let Some(a) = self.authorization(refreshed).await?
            {
                headers.insert(header::AUTHORIZATION, hv(&a)?);
            }
            let body = req.body.clone().map_or_else(empty, full);
            let resp = self.reg.raw(&req.method, &url, &headers, body).await?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                self.reg.forget_host(&self.endpoint);
                refreshed = true;
                continue;
            }
            if status.is_redirection()
                && (req.method == Method::GET || req.method == Method::HEAD)
                && redirects < 5
                && let Some(loc) = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
            {
                url = resolve(&url, loc);
                redirects += 1;
                continue;
            }
            return Ok((resp, url));
        }
    }

    /// Turns an answer that is not `ok` into the right error: 401 unauthorized, 403 denied,
    /// 404 not found (for `what`), else the status.
    pub(crate) async fn expect(
        &self,
        resp: Response<Incoming>,
        url: &str,
        method: &Method,
        what: &str,
        ok: &[StatusCode],
    ) -> Result<Response<Incoming>> {
        let status = resp.status();
        if ok.contains(&status) {
            return Ok(resp);
        }
        let body = if *method == Method::HEAD {
            Bytes::new()
        } else {
            read_small(resp, url).await.unwrap_or_default()
        };
        let msg = registry_message(&body)
            .map(|(code, m)| (code.to_ascii_lowercase().replace('_', " "), m));
        Err(match status {
            StatusCode::UNAUTHORIZED => RegistryError::Unauthorized {
                host: self.host.clone(),
                message: msg.map_or_else(|| "authentication required".into(), |(_, m)| m),
            },
            StatusCode::FORBIDDEN => RegistryError::Denied {
                what: what.to_owned(),
                message: msg.map_or_else(
                    || "requested access to the resource is denied".into(),
                    |(_, m)| m,
                ),
            },
            StatusCode::NOT_FOUND => RegistryError::NotFound {
                what: what.to_owned(),
                message: msg.map_or_else(|| "not found".into(), |(c, m)| format!("{c}: {m}")),
            },
            _ => status_error(method, url, status, &body),
        })
    }
}

fn is_retryable(s: StatusCode) -> bool {
    s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS
}

pub(crate) fn hv(s: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(s).map_err(|e| RegistryError::invalid("header value", e.to_string()))
}

/// Resolves a `Location` against the URL it came from.
pub(crate) fn resolve(base: &str, loc: &str) -> String {
    if loc.contains("://") {
        return loc.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    if loc.starts_with('/') {
        format!("{scheme}://{authority}{loc}")
    } else {
        let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
        format!("{dir}/{loc}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_like_a_browser() {
        assert_eq!(
            resolve(
                "http://h:5000/v2/a/blobs/uploads/",
                "/v2/a/blobs/uploads/u1?_state=x"
            ),
            "http://h:5000/v2/a/blobs/uploads/u1?_state=x"
        );
        assert_eq!(resolve("http://h/v2/x", "https://s3/o"), "https://s3/o");
        assert_eq!(authority_of("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }

    #[test]
    fn docker_hub_uses_mirrors_for_pulls_only() {
        let r = Registry::new(RegistryConfig {
            mirrors: vec!["http://127.0.0.1:5001/".into()],
            ..RegistryConfig::default()
        });
        assert_eq!(
            r.endpoints("docker.io", true),
            vec!["http://127.0.0.1:5001", "registry-1.docker.io"]
        );
        assert_eq!(
            r.endpoints("docker.io", false),
            vec!["registry-1.docker.io"]
        );
        assert_eq!(r.endpoints("localhost:5000", true), vec!["localhost:5000"]);
    }
}
