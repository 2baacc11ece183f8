//! The connection to the daemon: bollard for typed calls, plus a small raw HTTP/1 path for
//! what bollard does not expose (raw inspect JSON, hijacked attach/exec with half-close, wait
//! with its response headers as the "registered" signal, archive stat headers, uploads).

use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::host::Endpoint;

/// Request bodies: in-memory or streamed from a file or stdin.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A hijacked connection (attach, exec start): raw bytes both ways.
pub type Hijacked = TokioIo<hyper::upgrade::Upgraded>;

// bollard's timeout bounds the wait for response headers; `stop -t 600` or a daemon that
// flushes headers late must not trip it, so it is effectively off.
const TIMEOUT_SECS: u64 = 365 * 24 * 3600;

/// Talks to one daemon.
#[derive(Clone)]
pub struct Client {
    pub docker: bollard::Docker,
    endpoint: Endpoint,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Opens a connection without speaking HTTP: tells "no daemon" apart from other failures.
pub async fn probe(endpoint: &Endpoint) -> std::io::Result<()> {
    match endpoint {
        Endpoint::Unix(p) => tokio::net::UnixStream::connect(p).await.map(drop),
        Endpoint::Tcp(a) => tokio::net::TcpStream::connect(a).await.map(drop),
    }
}

/// `GET /_ping` succeeds.
pub async fn ping(endpoint: &Endpoint) -> bool {
    let Ok(mut sender) = open(endpoint).await else {
        return false;
    };
    let Ok(req) = Request::get("/_ping")
        .header(header::HOST, "berth")
        .body(empty())
    else {
        return false;
    };
    matches!(sender.send_request(req).await, Ok(r) if r.status().is_success())
}

async fn handshake<S>(io: S) -> Result<SendRequest<Body>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        // Errors surface through the request future; nothing to report from here.
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

async fn open(endpoint: &Endpoint) -> Result<SendRequest<Body>> {
    match endpoint {
        Endpoint::Unix(p) => handshake(tokio::net::UnixStream::connect(p).await?).await,
        Endpoint::Tcp(a) => handshake(tokio::net::TcpStream::connect(a).await?).await,
    }
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// An error as the daemon reported it; printed as `Error response from daemon: ...`.
pub fn daemon_error(status: u16, message: String) -> anyhow::Error {
    bollard::errors::Error::DockerResponseServerError {
        status_code: status,
        message,
    }
    .into()
}

/// The daemon's status code for an error, if it came from the daemon.
pub fn status_of(e: &anyhow::Error) -> Option<u16> {
    match e.downcast_ref::<bollard::errors::Error>() {
        Some(bollard::errors::Error::DockerResponseServerError { status_code, .. }) => {
            Some(*status_code)
        }
        _ => None,
    }
}

/// Appends URL-encoded query parameters.
pub fn query(path: &str, params: &[(&str, String)]) -> String {
    let mut s = path.to_string();
    for (i, (k, v)) in params.iter().enumerate() {
        s.push(if i == 0 && !path.contains('?') {
            '?'
        } else {
            '&'
        });
        s.push_str(k);
        s.push('=');
        s.push_str(&encode(v));
    }
    s
}

/// Percent-encoding for query values and path segments.
pub fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    pub fn new(host: &str, endpoint: Endpoint) -> Result<Self> {
        let docker = match &endpoint {
            Endpoint::Unix(p) => bollard::Docker::connect_with_unix(
                &p.to_string_lossy(),
                TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            ),
            Endpoint::Tcp(a) => bollard::Docker::connect_with_http(
                &format!("tcp://{a}"),
                TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            ),
        }
        .with_context(|| format!("connecting to {host}"))?;
        Ok(Self { docker, endpoint })
    }

    /// Downgrades the API version to what the daemon speaks.
    pub async fn negotiate(self) -> Result<Self> {
        let docker = self.docker.negotiate_version().await?;
        Ok(Self { docker, ..self })
    }

    /// The negotiated API version, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        let v = self.docker.client_version();
        format!("{}.{}", v.major_version, v.minor_version)
    }

    fn request(&self, method: Method, path: &str, body: Body) -> Result<Request<Body>> {
        Ok(Request::builder()
            .method(method)
            .uri(format!("/v{}{path}", self.api_version()))
            .header(header::HOST, "berth")
            .header(header::USER_AGENT, "berth-cli")
            .body(body)?)
    }

    /// Sends a request; a 4xx/5xx becomes the daemon's error.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>> {
        let mut req = self.request(method, path, body)?;
        if let Some(ct) = content_type {
            req.headers_mut().insert(header::CONTENT_TYPE, ct.parse()?);
        }
        let mut sender = open(&self.endpoint).await?;
        let resp = sender.send_request(req).await?;
        check(resp).await
    }

    /// Sends a request with extra headers (`X-Registry-Auth`, ...).
    pub async fn send_with_headers<V: AsRef<str>>(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, V)],
    ) -> Result<Response<Incoming>> {
        let mut req = self.request(method, path, body)?;
        for (k, v) in headers {
            req.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes())?,
                v.as_ref().parse()?,
            );
        }
        let mut sender = open(&self.endpoint).await?;
        let resp = sender.send_request(req).await?;
        check(resp).await
    }

    pub async fn get_json(&self, path: &str) -> Result<Value> {
        let resp = self.send(Method::GET, path, empty(), None).await?;
        read_json(resp).await
    }

    /// The body as the daemon sent it (inspect prints it re-indented, in the daemon's order).
    pub async fn get_raw(&self, path: &str) -> Result<Bytes> {
        let resp = self.send(Method::GET, path, empty(), None).await?;
        Ok(resp.into_body().collect().await?.to_bytes())
    }

    pub async fn post_json(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        let (b, ct) = match body {
            Some(v) => (full(serde_json::to_vec(v)?), Some("application/json")),
            None => (empty(), None),
        };
        let resp = self.send(Method::POST, path, b, ct).await?;
        read_json(resp).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value> {
        let resp = self.send(Method::DELETE, path, empty(), None).await?;
        read_json(resp).await
    }

    /// POSTs with `Upgrade: tcp` and returns the raw connection (attach, exec start).
    pub async fn hijack(&self, path: &str, body: Option<&Value>) -> Result<Hijacked> {
        let b = match body {
            Some(v) => full(serde_json::to_vec(v)?),
            None => empty(),
        };
        let mut req = self.request(Method::POST, path, b)?;
        let h = req.headers_mut();
        h.insert(header::CONNECTION, "Upgrade".parse()?);
        h.insert(header::UPGRADE, "tcp".parse()?);
        if body.is_some() {
            h.insert(header::CONTENT_TYPE, "application/json".parse()?);
        }
        let mut sender = open(&self.endpoint).await?;
        let resp = check(sender.send_request(req).await?).await?;
        let upgraded = hyper::upgrade::on(resp)
            .await
            .context("the daemon did not switch protocols for a hijacked connection")?;
        Ok(TokioIo::new(upgraded))
    }
}

async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>> {
    let status = resp.status();
    if status.is_success()
        || status == StatusCode::SWITCHING_PROTOCOLS
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(resp);
    }
    let body = tokio::time::timeout(Duration::from_secs(30), resp.into_body().collect())
        .await
        .context("reading the daemon's error")??
        .to_bytes();
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
    Err(daemon_error(status.as_u16(), message))
}

/// The whole body, as JSON (`null` when empty).
pub async fn read_json(resp: Response<Incoming>) -> Result<Value> {
    let body = resp.into_body().collect().await?.to_bytes();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_slice(&body)?)
}

/// The body as a stream of chunks.
pub fn body_stream(
    resp: Response<Incoming>,
) -> impl futures_util::Stream<Item = Result<Bytes, hyper::Error>> {
    resp.into_body().into_data_stream()
}
