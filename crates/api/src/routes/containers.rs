//! Container lifecycle and inspection endpoints.

use std::collections::HashMap;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::container::record::ContainerRecord;
use berth_engine::{CreateOptions, Engine, RemoveOptions, WaitCondition};
use bollard_stubs::models::{ContainerCreateBody, ContainerUpdateBody};
use serde_json::{Value, json};

use super::{Query, flag, int, json_body};
use crate::error::{ApiError, ApiResult};
use crate::version::ApiVersion;
use crate::views::container as view;

pub(super) async fn create(
    State(engine): State<Engine>,
    version: ApiVersion,
    q: Query,
    body: Bytes,
) -> ApiResult<Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid JSON: got EOF while reading request body",
        ));
    }
    let raw: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let config_keys = raw.as_object().is_some_and(|m| {
        m.keys()
            .any(|k| !matches!(k.as_str(), "HostConfig" | "NetworkingConfig"))
    });
    if raw.is_object() && !config_keys {
        return Err(ApiError::bad_request(
            "Config cannot be empty in order to create a container",
        ));
    }
    let body: ContainerCreateBody = json_body(&body)?;
    let opts = CreateOptions {
        name: q.get("name").cloned(),
        // `platform` arrived with API 1.41; dockerd ignores it from older clients.
        platform: q
            .get("platform")
            .cloned()
            .filter(|_| version.at_least(1, 41)),
    };
    let (id, warnings) = engine.create(opts, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": id, "Warnings": warnings})),
    )
        .into_response())
}

fn size_of(engine: &Engine, rec: &ContainerRecord) -> (u64, u64) {
    let rw = engine.images().container_size(&rec.id).unwrap_or(0);
    let image = engine.images().inspect(&rec.image_id).map_or(0, |i| i.size);
    (rw, rw + image)
}

pub(super) async fn inspect(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    version: ApiVersion,
    q: Query,
) -> ApiResult<Json<Value>> {
    let rec = engine.container(&id)?;
    let upper = engine.images().upper_dir(&rec.id).display().to_string();
    let size = flag(&q, "size").then(|| size_of(&engine, &rec));
    Ok(Json(view::inspect(&rec, &upper, size, version)))
}

fn matches(rec: &ContainerRecord, f: &HashMap<String, Vec<String>>, engine: &Engine) -> bool {
    let one = |key: &str, test: &dyn Fn(&str) -> bool| {
        f.get(key).is_none_or(|vs| vs.iter().any(|v| test(v)))
    };
    one("id", &|v| rec.id.starts_with(v))
        && one("name", &|v| rec.name.contains(v.trim_start_matches('/')))
        && one("status", &|v| rec.state.status.as_str() == v)
        && one("exited", &|v| {
            !rec.is_running() && v.parse() == Ok(rec.state.exit_code)
        })
        && one("ancestor", &|v| {
            rec.image == v
                || rec.image_id == v
                || engine
                    .images()
                    .lookup(v)
                    .is_ok_and(|d| d.to_string() == rec.image_id)
        })
        && one("network", &|v| {
            rec.net
                .networks
                .iter()
                .any(|(n, e)| n == v || e.network_id.starts_with(v))
        })
        && one("volume", &|v| {
            rec.mounts
                .iter()
                .any(|m| m.name.as_deref() == Some(v) || m.destination == v)
        })
        && one("health", &|v| {
            rec.state
                .health
                .as_ref()
                .map_or("none", |h| h.status.as_str())
                == v
        })
        && one("is-task", &|v| v == "false")
        && berth_engine::filters::labels_match(f, rec.config.labels.as_ref())
}

pub(super) async fn list(
    State(engine): State<Engine>,
    version: ApiVersion,
    q: Query,
) -> ApiResult<Json<Vec<Value>>> {
    let f = super::filters_of(&q, super::known::CONTAINERS)?;
    if let Some(bad) = f.get("status").into_iter().flatten().find(|s| {
        !matches!(
            s.as_str(),
            "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
        )
    }) {
        return Err(ApiError::bad_request(format!(
            "Invalid filter 'status={bad}'"
        )));
    }
    let all = flag(&q, "all");
    let limit: Option<i64> = int(&q, "limit")?;
    let wanted = |r: &ContainerRecord| {
        (all || r.is_running()
            || limit.is_some_and(|l| l > 0)
            || f.contains_key("status")
            || f.contains_key("exited"))
            && matches(r, &f, &engine)
    };
    let keep = usize::try_from(limit.filter(|l| *l > 0).unwrap_or(i64::MAX)).unwrap_or(usize::MAX);
    let rows = if flag(&q, "size") {
        // Sizes walk the container's layer on disk: not under its record's lock.
        let mut recs: Vec<ContainerRecord> = engine
            .containers()
            .into_iter()
            .filter(|r| wanted(r))
            .collect();
        recs.sort_by_key(|r| std::cmp::Reverse(r.created));
        recs.truncate(keep);
        recs.iter()
            .map(|r| view::summary(r, Some(size_of(&engine, r)), version))
            .collect()
    } else {
        let mut rows = engine
            .map_containers(|r| wanted(r).then(|| (r.created, view::summary(r, None, version))));
        rows.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
        rows.truncate(keep);
        rows.into_iter().map(|(_, v)| v).collect()
    };
    Ok(Json(rows))
}

pub(super) async fn start(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    // A host config in the start body went away with API 1.24; `{}` and `null` are allowed.
    if body.len() > 7 {
        return Err(ApiError::bad_request(
            "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24",
        ));
    }
    let rec = engine.container(&id)?;
    if rec.is_running() {
        return Ok(StatusCode::NOT_MODIFIED);
    }
    engine.start(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn timeout(q: &HashMap<String, String>) -> ApiResult<Option<i64>> {
    match int::<i64>(q, "t")? {
        Some(t) => Ok(Some(t)),
        None => int(q, "timeout"),
    }
}

/// `signal=` of stop and restart, which dockerd honours from API 1.42 on.
fn stop_signal(q: &HashMap<String, String>, version: ApiVersion) -> Option<&str> {
    q.get("signal")
        .map(String::as_str)
        .filter(|s| !s.is_empty() && version.at_least(1, 42))
}

pub(super) async fn stop(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    version: ApiVersion,
    q: Query,
) -> ApiResult<StatusCode> {
    let stopped = engine
        .stop(&id, timeout(&q)?, stop_signal(&q, version))
        .await?;
    Ok(if stopped {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    })
}

pub(super) async fn restart(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    version: ApiVersion,
    q: Query,
) -> ApiResult<StatusCode> {
    engine
        .restart(&id, timeout(&q)?, stop_signal(&q, version))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn kill(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<StatusCode> {
    engine
        .kill(
            &id,
            q.get("signal")
                .map(String::as_str)
                .filter(|s| !s.is_empty()),
        )
        .await
        .map_err(|e| {
            // dockerd names the container as asked for, keeping the error's class; a bad
            // signal (an invalid argument) is refused before any container is looked at, in
            // its own words.
            let bad_signal = matches!(e, berth_engine::EngineError::InvalidArgument(_));
            let mut a = ApiError::from(e);
            if !bad_signal {
                a.message = format!("Cannot kill container: {id}: {}", a.message);
            }
            a
        })?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn pause(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    engine.pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn unpause(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    engine.unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/wait`: the status line goes out at once (the CLI waits for it
/// before starting the container), the body when the condition is met.
pub(super) async fn wait(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let cond = match q.get("condition").map(String::as_str) {
        None | Some("") => WaitCondition::NotRunning,
        Some(c) => WaitCondition::parse(c)?,
    };
    engine.container(&id)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<Bytes>();
    tokio::spawn(async move {
        let body = match engine.wait(&id, cond).await {
            Ok(code) => json!({"Error": null, "StatusCode": code}),
            Err(e) => json!({"Error": {"Message": e.to_string()}, "StatusCode": -1}),
        };
        let _ = tx.send(Bytes::from(format!("{body}\n")));
    });
    let stream = futures_util::stream::once(async move {
        rx.await
            .map_err(|_| std::io::Error::other("wait ended without a result"))
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

pub(super) async fn remove(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<StatusCode> {
    let opts = RemoveOptions {
        force: flag(&q, "force"),
        volumes: flag(&q, "v"),
        link: flag(&q, "link"),
    };
    engine.remove(&id, opts).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /containers/{parent}/{alias}`: a link when `link=1`, else a container whose name
/// no container has (dockerd looks the whole path up as one name).
pub(super) async fn remove_link(
    State(engine): State<Engine>,
    Path((id, alias)): Path<(String, String)>,
    q: Query,
) -> ApiResult<StatusCode> {
    let name = format!("{id}/{alias}");
    if !flag(&q, "link") {
        return Err(berth_engine::EngineError::NoSuchContainer(name).into());
    }
    let opts = RemoveOptions {
        force: false,
        volumes: false,
        link: true,
    };
    engine.remove(&name, opts).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn rename(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<StatusCode> {
    let name = q
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("Neither old nor new names may be empty"))?;
    engine.rename(&id, name).await.map_err(|e| match e {
        e @ berth_engine::EngineError::NameInUse { .. } => {
            let mut a = ApiError::from(e);
            a.message = format!("Error when allocating new name: {}", a.message);
            a
        }
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn update(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body: ContainerUpdateBody = json_body(&body)?;
    let warnings = engine.update(&id, body).await?;
    Ok(Json(json!({
        "Warnings": if warnings.is_empty() { Value::Null } else { json!(warnings) },
    })))
}

pub(super) async fn top(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Json<Value>> {
    let t = engine
        .top(
            &id,
            q.get("ps_args")
                .map(String::as_str)
                .filter(|s| !s.is_empty()),
        )
        .await?;
    Ok(Json(json!({"Processes": t.processes, "Titles": t.titles})))
}

pub(super) async fn resize(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<StatusCode> {
    let h: u16 = int(&q, "h")?.unwrap_or(0);
    let w: u16 = int(&q, "w")?.unwrap_or(0);
    engine.resize(&id, h, w)?;
    Ok(StatusCode::OK)
}

fn stats_json(
    rec: &ContainerRecord,
    s: Option<&berth_runtime::cgroups::Stats>,
    ncpu: usize,
) -> Value {
    crate::views::stats::sample(rec, s, system_cpu_ns(), ncpu)
}

fn system_cpu_ns() -> u64 {
    let ticks_per_sec = 100;
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>()
            })
        })
        .map_or(0, |t| t * (1_000_000_000 / ticks_per_sec))
}

/// `GET /containers/{id}/stats`: one sample with `stream=false`, else one per second.
pub(super) async fn stats(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    version: ApiVersion,
    q: Query,
) -> ApiResult<Response> {
    let rec = engine.container(&id)?;
    let ncpu = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let stream = q
        .get("stream")
        .is_none_or(|v| matches!(v.as_str(), "1" | "true" | "True"));
    // `one-shot` arrived with API 1.41.
    let one_shot = version.at_least(1, 41) && flag(&q, "one-shot");
    if !stream {
        let s = engine.stats(&id)?;
        let mut v = stats_json(&rec, s.as_ref(), ncpu);
        if !one_shot {
            // The CLI computes CPU % from two samples: give it a previous one.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let s2 = engine.stats(&id)?;
            let prev = v.clone();
            v = stats_json(&rec, s2.as_ref(), ncpu);
            v["precpu_stats"] = prev["cpu_stats"].clone();
            v["preread"] = prev["read"].clone();
        }
        return Ok(Json(v).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let mut prev: Option<Value> = None;
        loop {
            let Ok(rec) = engine.container(&id) else {
                return;
            };
            let s = engine.stats(&id).ok().flatten();
            let mut v = stats_json(&rec, s.as_ref(), ncpu);
            if let Some(p) = &prev {
                v["precpu_stats"] = p["cpu_stats"].clone();
                v["preread"] = p["read"].clone();
            }
            prev = Some(v.clone());
            if tx.send(Ok(Bytes::from(format!("{v}\n")))).await.is_err() || !rec.is_running() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    // dockerd names no media type for the stream (only for one sample).
    Ok(Response::builder()
        .body(Body::from_stream(super::system::tokio_stream_from(rx)))
        .unwrap_or_default())
}

pub(super) async fn prune(State(engine): State<Engine>, q: Query) -> ApiResult<Json<Value>> {
    let f = super::filters_of(&q, super::known::PRUNE)?;
    let p = engine.prune_containers(&f).await?;
    Ok(Json(
        json!({"ContainersDeleted": p.deleted, "SpaceReclaimed": p.space_reclaimed}),
    ))
}
