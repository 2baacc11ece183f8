//! Streams in and out of a container: attach, logs, filesystem changes, export, archives.

use std::collections::HashMap;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::logs::LogQuery;
use berth_engine::monitor::logfile::Stream;
use berth_engine::{AttachOptions, Engine};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{Query, flag, int};
use crate::error::{ApiError, ApiResult};
use crate::stream::{self, Session};
use crate::version::ApiVersion;

/// The query of a request whose body (the upgraded connection) the handler keeps.
fn qmap(req: &Request) -> HashMap<String, String> {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(req.uri())
        .map(|axum::extract::Query(m)| m)
        .unwrap_or_default()
}

/// `POST /containers/{id}/attach`.
pub(super) async fn attach(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let q = qmap(&req);
    let opts = AttachOptions {
        stdin: flag(&q, "stdin"),
        stdout: flag(&q, "stdout"),
        stderr: flag(&q, "stderr"),
        logs: flag(&q, "logs"),
        stream: flag(&q, "stream"),
    };
    let keys = match q.get("detachKeys").filter(|k| !k.is_empty()) {
        Some(k) => stream::detach_keys(k)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid detach keys ({k}) provided")))?,
        None => vec![16, 17],
    };
    let s = engine.attach(&id, opts).await?;
    Ok(stream::hijack(
        &mut req,
        Session {
            output: s.output,
            stdin: s.stdin,
            tty: s.tty,
            detach_keys: keys,
        },
    ))
}

/// `GET /containers/{id}/attach/ws`: attach over a websocket. A request without the
/// websocket handshake gets dockerd's answer; the websocket transport itself is not
/// implemented yet.
pub(super) async fn attach_ws(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let websocket = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !websocket {
        return Err(ApiError::bad_request("not websocket protocol"));
    }
    engine.container(&id)?;
    Err(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "berth does not support attaching over a websocket yet; use POST /containers/{id}/attach",
    ))
}

fn time_param(q: &HashMap<String, String>, key: &str) -> ApiResult<Option<i64>> {
    match q.get(key).filter(|s| !s.is_empty() && *s != "0") {
        None => Ok(None),
        Some(s) => Ok(Some(berth_engine::filters::parse_time(s)?)),
    }
}

/// `GET /containers/{id}/logs`.
pub(super) async fn logs(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    version: ApiVersion,
    q: Query,
) -> ApiResult<Response> {
    let rec = engine.container(&id)?;
    let (stdout, stderr) = (flag(&q, "stdout"), flag(&q, "stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match q.get("tail").map(String::as_str) {
        None | Some("" | "all") => None,
        Some(t) => Some(
            t.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid value for tail: {t:?}")))?,
        ),
    };
    let timestamps = flag(&q, "timestamps");
    let query = LogQuery {
        stdout,
        stderr,
        since_ns: time_param(&q, "since")?,
        until_ns: time_param(&q, "until")?,
        tail,
        timestamps,
    };
    let follow = flag(&q, "follow");
    let tty = rec.config.tty.unwrap_or(false);
    let rx = engine.logs(&id, query, follow)?;
    // One HTTP chunk per batch of entries: a 100 MB log is ~800 writes, not a million.
    let body = super::system::tokio_stream_from(rx).map(move |batch| {
        let mut chunk = BytesMut::with_capacity(batch.iter().map(|e| e.line.len() + 48).sum());
        for e in batch {
            let start = chunk.len();
            if !tty {
                chunk.extend_from_slice(&[0; stream::HEADER_LEN]);
            }
            if timestamps {
                let t = chrono::DateTime::from_timestamp_nanos(e.time_ns);
                chunk.extend_from_slice(
                    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                        .as_bytes(),
                );
                chunk.extend_from_slice(b" ");
            }
            chunk.extend_from_slice(&e.line);
            if !tty {
                let kind = if e.stream == Stream::Stderr {
                    stream::STDERR
                } else {
                    stream::STDOUT
                };
                let len = chunk.len() - start - stream::HEADER_LEN;
                stream::write_header(&mut chunk[start..start + stream::HEADER_LEN], kind, len);
            }
        }
        Ok::<_, std::io::Error>(chunk.freeze())
    });
    let mut r = Response::new(Body::from_stream(body));
    // dockerd names the framing in the media type from API 1.42 on (the framing is the same).
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if tty || !version.at_least(1, 42) {
            stream::RAW
        } else {
            stream::MULTIPLEXED
        }),
    );
    Ok(r)
}

/// `GET /containers/{id}/changes`.
pub(super) async fn changes(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let changes = engine.changes(&id)?;
    // dockerd's empty list is Go's nil slice: `null`.
    if changes.is_empty() {
        return Ok(Json(Value::Null));
    }
    Ok(Json(Value::Array(
        changes
            .iter()
            .map(|c| json!({"Path": c.path, "Kind": c.kind as u8}))
            .collect(),
    )))
}

pub(crate) struct ChannelWriter(
    pub(crate) tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `GET /containers/{id}/export`: the whole filesystem as a tar.
pub(super) async fn export(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    engine.container(&id)?;
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/x-tar")
        .body(pack_body(engine, id, "/".to_owned(), false))
        .unwrap_or_default())
}

/// A tar of `path` inside the container's root (through its mounts for `docker cp`, the
/// bare rootfs for `export`), packed on a blocking thread as the client reads it; a failure
/// midway ends the body with an error.
fn pack_body(engine: Engine, id: String, path: String, through_mounts: bool) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        let tx2 = tx.clone();
        let pack = move |root: &std::path::Path| {
            berth_image::archive::safe::pack(root, &path, ChannelWriter(tx2)).map(|_| ())
        };
        let r = if through_mounts {
            engine.with_container_fs(&id, pack).await
        } else {
            engine.with_rootfs(&id, pack).await
        };
        let msg = match r {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        let _ = tx.send(Err(std::io::Error::other(msg))).await;
    });
    Body::from_stream(super::system::tokio_stream_from(rx))
}

fn path_param(q: &HashMap<String, String>) -> ApiResult<String> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .cloned()
        .ok_or_else(|| ApiError::bad_request("path is required"))
}

fn stat_header(st: &berth_image::PathStat) -> ApiResult<HeaderValue> {
    use base64::Engine as _;
    let j = serde_json::to_vec(st).map_err(|e| ApiError::internal(e.to_string()))?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(j))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// An archive failure; a missing path names the container as the client did (dockerd's
/// "Could not find the file /x in container web").
fn archive_err(e: &berth_image::ImageError, id: &str) -> ApiError {
    let mut a = ApiError::from_lib(e);
    if matches!(e, berth_image::ImageError::NoSuchPath(_)) {
        a.message = format!("{e} {id}");
    }
    a
}

async fn stat(engine: &Engine, id: &str, path: String) -> ApiResult<berth_image::PathStat> {
    engine
        .with_container_fs(id, move |root| {
            berth_image::archive::safe::stat(root, &path)
        })
        .await?
        .map_err(|e| archive_err(&e, id))
}

/// `HEAD /containers/{id}/archive`.
pub(super) async fn archive_head(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let st = stat(&engine, &id, path_param(&q)?).await?;
    let mut r = StatusCode::OK.into_response();
    r.headers_mut()
        .insert("X-Docker-Container-Path-Stat", stat_header(&st)?);
    Ok(r)
}

/// `GET /containers/{id}/archive`: a tar of the path, resolved inside the container's root.
pub(super) async fn archive_get(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let path = path_param(&q)?;
    let st = stat(&engine, &id, path.clone()).await?;
    let mut r = Response::new(pack_body(engine, id, path, true));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    r.headers_mut()
        .insert("X-Docker-Container-Path-Stat", stat_header(&st)?);
    Ok(r)
}

/// `PUT /containers/{id}/archive`: extracts a tar into the path, never outside the root.
pub(super) async fn archive_put(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    q: Query,
    body: Body,
) -> ApiResult<StatusCode> {
    let path = path_param(&q)?;
    let limit: Option<u64> = int(&q, "limit")?;
    let _ = limit;
    let data = axum::body::to_bytes(body, 1 << 32)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the archive: {e}")))?;
    engine
        .with_container_fs(&id, move |root| {
            berth_image::archive::safe::unpack(root, &path, std::io::Cursor::new(data)).map(|_| ())
        })
        .await?
        .map_err(|e| archive_err(&e, &id))?;
    Ok(StatusCode::OK)
}
