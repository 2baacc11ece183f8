//! Registry endpoints: pull (`POST /images/create?fromImage=`), push, `POST /auth`,
//! `GET /distribution/{name}/json`, `GET /images/search`.
//!
//! Pull and push answer Docker's JSON message stream. As with dockerd, an error before the
//! first message is an HTTP error status; one after it is an `errorDetail` line.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use berth_engine::distribution::{Detail, Message};
use berth_engine::{Engine, Progress, RegistryAuth};
use serde_json::{Value, json};

use super::{Query, int, json_body};
use crate::error::{ApiError, ApiResult};

/// `X-Registry-Auth`: base64url (or standard base64) of the docker CLI's AuthConfig JSON.
pub(crate) fn registry_auth(headers: &HeaderMap) -> ApiResult<RegistryAuth> {
    base64_json_header(headers, "X-Registry-Auth")
}

/// A header holding base64 (url-safe or standard, padded or not) of JSON, as the docker CLI
/// sends credentials; absent, empty or `null` is the default value.
pub(crate) fn base64_json_header<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    name: &str,
) -> ApiResult<T> {
    use base64::Engine as _;
    let Some(raw) = headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Ok(T::default());
    };
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    let bytes = engines
        .iter()
        .find_map(|e| e.decode(raw).ok())
        .ok_or_else(|| ApiError::bad_request(format!("invalid {name} header: not base64")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) || bytes == b"null" {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid {name} header: {e}")))
}

/// Go's `units.HumanSize`: decimal units, four significant digits.
fn human_size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    #[allow(clippy::cast_precision_loss)]
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let decimals = if v >= 1000.0 {
        0
    } else if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{s}{}", UNITS[i])
}

/// The `progress` string dockerd sends beside `progressDetail`.
fn bar(current: u64, total: u64) -> String {
    let pct = if total == 0 {
        0
    } else {
        usize::try_from((u128::from(current) * 100 / u128::from(total)) / 2)
            .unwrap_or(50)
            .min(50)
    };
    format!(
        "[{}>{}] {:>8}/{}",
        "=".repeat(pct),
        " ".repeat(50 - pct),
        human_size(current),
        human_size(total)
    )
}

/// One line of the stream, with Docker's key order.
fn render(m: &Message) -> String {
    let s = |v: &str| Value::String(v.to_owned()).to_string();
    let mut parts: Vec<String> = Vec::new();
    if !m.status.is_empty() || m.aux.is_none() {
        parts.push(format!("\"status\":{}", s(&m.status)));
    }
    match m.detail {
        Detail::None => {}
        Detail::Empty => parts.push("\"progressDetail\":{}".into()),
        Detail::Bytes { current, total } => {
            parts.push(format!(
                "\"progressDetail\":{{\"current\":{current},\"total\":{total}}}"
            ));
            parts.push(format!("\"progress\":{}", s(&bar(current, total))));
        }
    }
    if let Some(id) = &m.id {
        parts.push(format!("\"id\":{}", s(id)));
    }
    if let Some(aux) = &m.aux {
        parts.push(format!("\"aux\":{aux}"));
    }
    format!("{{{}}}\r\n", parts.join(","))
}

fn error_line(message: &str) -> String {
    format!(
        "{}\r\n",
        json!({"errorDetail": {"message": message}, "error": message})
    )
}

type JobResult = Result<berth_engine::Result<()>, tokio::task::JoinError>;

fn failure_text(done: JobResult) -> Option<String> {
    match done {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(berth_errdefs::chain(&e)),
        Err(e) => Some(e.to_string()),
    }
}

/// A job that ended before the response began: its messages and error in one body, or,
/// if it said nothing, its error as the status (as dockerd answers).
fn finished(
    done: JobResult,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Message>,
) -> ApiResult<Response> {
    let mut body = String::new();
    while let Ok(m) = rx.try_recv() {
        body.push_str(&render(&m));
    }
    match done {
        Ok(Err(e)) if body.is_empty() => return Err(ApiError::from(e)),
        Err(e) if body.is_empty() => return Err(ApiError::internal(e.to_string())),
        other => {
            if let Some(msg) = failure_text(other) {
                body.push_str(&error_line(&msg));
            }
        }
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Runs `job` with a progress channel and answers its messages as a stream; an error
/// before the first message becomes the response's status.
async fn stream<F>(
    job: F,
    mut rx_progress: tokio::sync::mpsc::UnboundedReceiver<Message>,
) -> ApiResult<Response>
where
    F: Future<Output = berth_engine::Result<()>> + Send + 'static,
{
    let mut job = tokio::spawn(job);
    let first = tokio::select! {
        m = rx_progress.recv() => m,
        done = &mut job => return finished(done, &mut rx_progress),
    };
    let Some(first) = first else {
        // The job dropped its sender without a word: it is ending.
        let done = job.await;
        return finished(done, &mut rx_progress);
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let _ = tx.send(Ok(Bytes::from(render(&first)))).await;
        while let Some(m) = rx_progress.recv().await {
            let _ = tx.send(Ok(Bytes::from(render(&m)))).await;
        }
        if let Some(msg) = failure_text(job.await) {
            tracing::info!("pull/push failed: {msg}");
            let _ = tx.send(Ok(Bytes::from(error_line(&msg)))).await;
        }
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(super::system::tokio_stream_from(rx)))
        .unwrap_or_default())
}

/// `POST /images/create?fromImage=&tag=&platform=`.
pub(super) async fn pull(
    engine: Engine,
    q: &std::collections::HashMap<String, String>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let image = q.get("fromImage").cloned().unwrap_or_default();
    let tag = q.get("tag").cloned().unwrap_or_default();
    let platform = q.get("platform").cloned().filter(|p| !p.is_empty());
    let creds = registry_auth(headers)?;
    let named = berth_image::Reference::parse_name_only(&image).map_err(ApiError::from)?;
    let all_tags = tag.is_empty() && named.tag.is_none() && named.digest.is_none();
    let reference = if tag.is_empty() {
        image
    } else if tag.starts_with("sha256:") {
        format!("{image}@{tag}")
    } else {
        format!("{image}:{tag}")
    };
    let (progress, rx) = Progress::channel();
    let job = async move {
        if all_tags {
            engine
                .pull_all_tags(&reference, platform.as_deref(), &creds, &progress)
                .await
                .map(|_| ())
        } else {
            engine
                .pull(&reference, platform.as_deref(), &creds, &progress)
                .await
                .map(|_| ())
        }
    };
    stream(job, rx).await
}

/// `POST /images/{name}/push?tag=`.
pub(super) async fn push(
    engine: Engine,
    name: &str,
    q: &std::collections::HashMap<String, String>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let creds = registry_auth(headers)?;
    let reference = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.to_owned(),
    };
    let (progress, rx) = Progress::channel();
    let job = async move { engine.push(&reference, &creds, &progress).await };
    stream(job, rx).await
}

#[derive(serde::Deserialize, Default)]
struct AuthBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "serveraddress")]
    server_address: String,
    #[serde(default, rename = "identitytoken")]
    identity_token: String,
}

/// `POST /auth`.
pub(super) async fn auth(State(engine): State<Engine>, body: Bytes) -> ApiResult<Json<Value>> {
    let b: AuthBody = json_body(&body)?;
    let creds = RegistryAuth {
        username: b.username,
        password: b.password,
        identity_token: b.identity_token,
        registry_token: String::new(),
    };
    let token = engine.login(&creds, &b.server_address).await?;
    Ok(Json(
        json!({"IdentityToken": token.unwrap_or_default(), "Status": "Login Succeeded"}),
    ))
}

/// `GET /distribution/{name}/json`.
pub(super) async fn inspect(
    State(engine): State<Engine>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let name = path
        .strip_suffix("/json")
        .ok_or_else(|| ApiError::not_found(format!("page not found: /distribution/{path}")))?;
    let creds = registry_auth(&headers)?;
    let info = engine.distribution_inspect(name, &creds).await?;
    let platforms: Vec<Value> = info
        .platforms
        .iter()
        .map(|p| {
            let mut v = json!({"architecture": p.architecture, "os": p.os});
            if let Some(variant) = &p.variant {
                v["variant"] = json!(variant);
            }
            v
        })
        .collect();
    Ok(Json(json!({
        "Descriptor": {"mediaType": info.media_type, "digest": info.digest, "size": info.size},
        "Platforms": platforms,
    })))
}

/// `GET /images/search?term=&limit=`.
pub(super) async fn search(
    State(engine): State<Engine>,
    q: Query,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let term = q
        .get("term")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("term is required"))?;
    let limit: u32 = int(&q, "limit")?.unwrap_or(25);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 100"));
    }
    let creds = registry_auth(&headers)?;
    let results = engine.search(term, limit, &creds).await?;
    Ok(Json(json!(results
        .iter()
        .map(|r| json!({"star_count": r.star_count, "is_official": r.is_official, "name": r.name, "is_automated": r.is_automated, "description": r.description}))
        .collect::<Vec<_>>())))
}

/// Status of a pull that failed before its stream began (for tests of the mapping).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_bars_like_docker() {
        assert_eq!(human_size(32768), "32.77kB");
        assert_eq!(human_size(1_064_343), "1.064MB");
        assert_eq!(human_size(116), "116B");
        assert_eq!(human_size(98304), "98.3kB");
        assert_eq!(
            bar(32768, 1_064_343),
            "[=>                                                 ]  32.77kB/1.064MB"
        );
        assert_eq!(
            bar(116, 116),
            "[==================================================>]     116B/116B"
        );
    }

    #[test]
    fn lines_keep_dockers_key_order() {
        let m = Message {
            id: Some("ec4d79fb29df".into()),
            status: "Downloading".into(),
            detail: Detail::Bytes {
                current: 3395,
                total: 3395,
            },
            aux: None,
        };
        assert_eq!(
            render(&m),
            "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":3395,\"total\":3395},\"progress\":\"[==================================================>]  3.395kB/3.395kB\",\"id\":\"ec4d79fb29df\"}\r\n"
        );
        let aux = Message {
            id: None,
            status: String::new(),
            detail: Detail::Empty,
            aux: Some(json!({"Tag": "v1"})),
        };
        assert_eq!(
            render(&aux),
            "{\"progressDetail\":{},\"aux\":{\"Tag\":\"v1\"}}\r\n"
        );
    }

    #[test]
    fn registry_auth_accepts_both_alphabets() {
        use base64::Engine as _;
        let mut h = HeaderMap::new();
        let raw = r#"{"username":"u?","password":"p>>"}"#;
        h.insert(
            "x-registry-auth",
            base64::engine::general_purpose::URL_SAFE
                .encode(raw)
                .parse()
                .unwrap(),
        );
        assert_eq!(registry_auth(&h).unwrap().password, "p>>");
        assert_eq!(
            registry_auth(&HeaderMap::new()).unwrap(),
            RegistryAuth::default()
        );
    }
}
