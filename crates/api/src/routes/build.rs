//! `POST /build` (the classic builder's endpoint, which the docker CLI without buildx and
//! docker-compose 1.29 use) and `POST /build/prune`.
//!
//! The context streams from the request body into the engine (hashed and spooled as it
//! arrives). An error before the build prints anything (a Dockerfile that does not parse, a
//! missing Dockerfile) is an HTTP error, as with dockerd; later ones are `errorDetail`
//! messages in the 200 stream.
//!
//! Secrets (`RUN --mount=type=secret`) reach the daemon in the `X-Berth-Build-Secrets`
//! header: base64 of a JSON object `{"<id>": "<base64 of the value>"}`, like Docker's
//! `X-Registry-Config` for credentials. They are held in memory and on a tmpfs only.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use berth_build::builder::{Options, Progress};
use berth_engine::{Engine, RegistryAuth};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult, status_of};

/// One message of the build stream.
enum Msg {
    Json(Value),
    Failed(berth_build::BuildError),
}

struct Channel(mpsc::UnboundedSender<Msg>);

impl Progress for Channel {
    fn stream(&self, text: &str) {
        let _ = self.0.send(Msg::Json(json!({ "stream": text })));
    }
    fn aux(&self, id: &str) {
        let _ = self.0.send(Msg::Json(json!({ "aux": { "ID": id } })));
    }
}

/// Query pairs in order, with repeats (`t=a&t=b`).
fn pairs(uri: &http::Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or(""), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn truthy(v: &str) -> bool {
    matches!(v, "1" | "true" | "True" | "TRUE")
}

fn json_map(raw: &str, what: &str) -> ApiResult<BTreeMap<String, Option<String>>> {
    if raw.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    serde_json::from_str(raw).map_err(|e| ApiError::bad_request(format!("invalid {what}: {e}")))
}

/// The build's options from Docker's query parameters and headers.
fn options(q: &[(String, String)], headers: &HeaderMap) -> ApiResult<Options> {
    let mut o = Options {
        rm: true,
        network: "default".into(),
        platform: "linux/amd64".into(),
        version: format!("berth {}", env!("CARGO_PKG_VERSION")),
        ..Options::default()
    };
    for (k, v) in q {
        match k.as_str() {
            "t" if !v.is_empty() => {
                berth_image::Reference::parse(v).map_err(|e| {
                    ApiError::bad_request(format!("invalid reference format: {v}: {e}"))
                })?;
                o.tags.push(v.clone());
            }
            "dockerfile" => o.dockerfile = v.clone(),
            "q" => o.quiet = truthy(v),
            "nocache" => o.no_cache = truthy(v),
            // Go's ParseBool falsehoods; docker-py sends Python's `False`.
            "pull" => {
                o.pull = !v.is_empty()
                    && !matches!(v.as_str(), "0" | "f" | "F" | "false" | "False" | "FALSE");
            }
            "rm" => o.rm = truthy(v),
            "forcerm" => o.force_rm = truthy(v),
            "target" => o.target = Some(v.clone()).filter(|t| !t.is_empty()),
            "networkmode" if !v.is_empty() => o.network = v.clone(),
            "extrahosts" => o
                .extra_hosts
                .extend(v.split(',').filter(|h| !h.is_empty()).map(str::to_owned)),
            "buildargs" => o.build_args = json_map(v, "build args")?,
            "labels" => {
                o.labels = json_map(v, "labels")?
                    .into_iter()
                    .map(|(k, v)| (k, v.unwrap_or_default()))
                    .collect();
            }
            "shmsize" => o.shm_size = v.parse().ok().filter(|n| *n > 0),
            "memory" => o.memory = v.parse().ok().filter(|n| *n > 0),
            "cpushares" => o.cpu_shares = v.parse().ok().filter(|n| *n > 0),
            "platform" if !v.is_empty() => {
                if !v.starts_with("linux") {
                    return Err(ApiError::bad_request(format!(
                        "platform {v} is not supported on this linux/amd64 host"
                    )));
                }
                o.platform = v.clone();
            }
            "remote" if !v.is_empty() => {
                return Err(ApiError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    format!(
                        "remote contexts ({v}) are not supported by this daemon; the client sends the context"
                    ),
                ));
            }
            _ => {}
        }
    }
    if let Some(Some(epoch)) = o.build_args.get("SOURCE_DATE_EPOCH") {
        o.source_date_epoch =
            Some(epoch.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid SOURCE_DATE_EPOCH: {epoch}"))
            })?);
    }
    if let Some(h) = headers.get("X-Berth-Build-Secrets") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(h.as_bytes())
            .map_err(|e| ApiError::bad_request(format!("invalid X-Berth-Build-Secrets: {e}")))?;
        let m: BTreeMap<String, String> = serde_json::from_slice(&raw)
            .map_err(|e| ApiError::bad_request(format!("invalid X-Berth-Build-Secrets: {e}")))?;
        for (id, b64) in m {
            let data = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| ApiError::bad_request(format!("invalid secret {id}: {e}")))?;
            o.secrets.insert(id, data);
        }
    }
    Ok(o)
}

/// `X-Registry-Config`: base64 (url-safe or standard) of `{"<registry>": AuthConfig}`, the
/// credentials of every registry the docker CLI knows, for base images to pull.
fn registry_config(headers: &HeaderMap) -> ApiResult<BTreeMap<String, RegistryAuth>> {
    super::distribution::base64_json_header(headers, "X-Registry-Config")
}

fn error_json(e: &berth_build::BuildError) -> Value {
    let message = berth_errdefs::chain(e);
    match e.code() {
        Some(code) => json!({"errorDetail": {"code": code, "message": message}, "error": message}),
        None => json!({"errorDetail": {"message": message}, "error": message}),
    }
}

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push_str("\r\n");
    Bytes::from(s)
}

/// `POST /build`.
pub(super) async fn build(
    State(engine): State<Engine>,
    uri: http::Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let opts = options(&pairs(&uri), &headers)?;
    let auths = registry_config(&headers)?;
    let reader = super::images::body_reader(body);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let progress: Arc<dyn Progress> = Arc::new(Channel(tx.clone()));
    tokio::spawn(async move {
        if let Err(e) = engine.build(reader, opts, auths, progress).await {
            let _ = tx.send(Msg::Failed(e));
        }
    });
    // An error before any output is the response itself.
    let first = match rx.recv().await {
        Some(Msg::Failed(e)) => {
            return Err(ApiError::new(
                status_of(berth_errdefs::HasKind::kind(&e)),
                berth_errdefs::chain(&e),
            ));
        }
        Some(Msg::Json(v)) => v,
        None => return Err(ApiError::internal("the build ended without a result")),
    };
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Some(Msg::Json(v)) => Some((Ok::<_, std::io::Error>(line(&v)), rx)),
            Some(Msg::Failed(e)) => Some((Ok(line(&error_json(&e))), rx)),
            None => None,
        }
    });
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(line(&first)) })
        .chain(rest);
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

/// `POST /build/prune`.
pub(super) async fn prune(State(engine): State<Engine>) -> ApiResult<Json<Value>> {
    let e2 = engine.clone();
    let (deleted, space) = tokio::task::spawn_blocking(move || e2.build_prune())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(
        json!({"CachesDeleted": deleted, "SpaceReclaimed": space}),
    ))
}

/// `system df`'s `BuildCache` rows.
pub(super) fn cache_rows(engine: &Engine) -> Vec<Value> {
    engine
        .build_cache()
        .iter()
        .map(|c| {
            let at = c
                .created
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
            json!({
                "ID": &c.key[..25.min(c.key.len())],
                "Parent": "",
                "Parents": null,
                "Type": "regular",
                "Description": format!("build step image {}", c.image),
                "InUse": false,
                "Shared": c.size == 0,
                "Size": c.size,
                "CreatedAt": at,
                "LastUsedAt": at,
                "UsageCount": 1,
            })
        })
        .collect()
}
