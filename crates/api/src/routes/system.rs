//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use berth_engine::Engine;
use berth_engine::events::Event;
use serde_json::{Value, json};

use super::{Query, filters};
use crate::error::{ApiError, ApiResult};
use crate::version::{API_VERSION, MIN_API_VERSION};

fn api_headers(h: &mut HeaderMap) {
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
}

pub(super) async fn ping() -> Response {
    let mut r = "OK".into_response();
    api_headers(r.headers_mut());
    r.headers_mut()
        .insert("Builder-Version", HeaderValue::from_static("1"));
    r
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(super) async fn version() -> Response {
    let v = env!("CARGO_PKG_VERSION");
    let body = json!({
        "Platform": {"Name": "berth"},
        // Go writes `Details` (a map) with its keys sorted.
        "Components": [{"Name": "Engine", "Version": v, "Details": {
            "ApiVersion": API_VERSION, "Arch": "amd64", "BuildTime": "", "Experimental": "false",
            "GitCommit": "berth", "GoVersion": "rust", "KernelVersion": kernel(),
            "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
        }}],
        "Version": v,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "berth",
        "GoVersion": "rust",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": kernel(),
        "BuildTime": "",
    });
    let mut r = Json(body).into_response();
    api_headers(r.headers_mut());
    r
}

pub(super) async fn info(State(engine): State<Engine>) -> Json<Value> {
    let containers = engine.containers();
    let count =
        |f: &dyn Fn(&Status) -> bool| containers.iter().filter(|c| f(&c.state.status)).count();
    use berth_engine::container::state::Status;
    let cfg = engine.config();
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cgroup_version = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    let commit = json!({"ID": "", "Expected": ""});
    // dockerd's keys, in its order.
    Json(json!({
        "ID": hostname,
        "Containers": containers.len(),
        "ContainersRunning": count(&|s| *s == Status::Running),
        "ContainersPaused": count(&|s| *s == Status::Paused),
        "ContainersStopped": count(&|s| !s.is_live()),
        "Images": engine.images().list().len(),
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": null, "Log": ["json-file"]},
        "MemoryLimit": true, "SwapLimit": true, "KernelMemory": false, "KernelMemoryTCP": false,
        "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true, "CPUSet": true, "PidsLimit": true,
        "IPv4Forwarding": true, "BridgeNfIptables": true, "BridgeNfIp6tables": true,
        "Debug": false, "NFd": 0, "OomKillDisable": false, "NGoroutines": 0,
        "SystemTime": super::super::views::rfc3339(&chrono::Utc::now()),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "NEventsListener": 0,
        "KernelVersion": kernel(),
        "OperatingSystem": "berth",
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": "x86_64",
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}},
            "Mirrors": [],
        },
        "NCPU": std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        "MemTotal": berth_runtime::cgroups::host_memory(),
        "GenericResources": null,
        "DockerRootDir": cfg.data_root.display().to_string(),
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        // berth's runtime, under Docker's default name too (what `--runtime` and
        // `HostConfig.Runtime` say).
        "Runtimes": {"berth": {"path": "berth runtime"}, "runc": {"path": "berth runtime"}},
        "DefaultRuntime": "runc",
        "Swarm": {
            "NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false,
            "Error": "", "RemoteManagers": null,
        },
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "docker-init",
        "ContainerdCommit": commit,
        "RuncCommit": commit,
        "InitCommit": commit,
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
        // What the start moved aside (records that did not parse); null when nothing, as
        // dockerd sends it.
        "Warnings": Some(engine.warnings()).filter(|w| !w.is_empty()),
    }))
}

fn event_json(e: &Event) -> Value {
    let secs = e.time_ns / 1_000_000_000;
    let mut v = json!({
        "Type": e.kind,
        "Action": e.action,
        "Actor": {"ID": e.actor_id, "Attributes": e.attributes},
        "scope": "local",
        "time": secs,
        "timeNano": e.time_ns,
    });
    // The pre-1.22 fields the CLI still formats with.
    if e.kind == "container" {
        v["status"] = json!(e.action);
        v["id"] = json!(e.actor_id);
        if let Some(img) = e.attributes.get("image") {
            v["from"] = json!(img);
        }
    }
    v
}

fn event_matches(e: &Event, f: &HashMap<String, Vec<String>>) -> bool {
    let any = |key: &str, val: &str| f.get(key).is_none_or(|vs| vs.iter().any(|v| v == val));
    let name = e.attributes.get("name").map_or("", String::as_str);
    any("type", &e.kind)
        && any("event", e.action.split(':').next().unwrap_or(&e.action))
        && f.get("container").is_none_or(|vs| {
            e.kind == "container"
                && vs
                    .iter()
                    .any(|v| e.actor_id.starts_with(v.as_str()) || v == name)
        })
        && f.get("image")
            .is_none_or(|vs| e.attributes.get("image").is_some_and(|i| vs.contains(i)))
        && f.get("label").is_none_or(|vs| {
            vs.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => e.attributes.get(k).is_some_and(|x| x == v),
                None => e.attributes.contains_key(l),
            })
        })
}

/// `GET /events`: past events since `since`, then live ones until `until` (or forever).
pub(super) async fn events(State(engine): State<Engine>, q: Query) -> ApiResult<Response> {
    let f = filters(&q)?;
    let since = q
        .get("since")
        .filter(|s| !s.is_empty())
        .map(|s| berth_engine::filters::parse_time(s))
        .transpose()
        .map_err(ApiError::from)?;
    let until = q
        .get("until")
        .filter(|s| !s.is_empty())
        .map(|s| berth_engine::filters::parse_time(s))
        .transpose()
        .map_err(ApiError::from)?;
    let (past, mut rx) = engine.events().subscribe(since);
    let (tx, out) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let line = |e: &Event| {
            let mut s = event_json(e).to_string();
            s.push('\n');
            Ok(bytes::Bytes::from(s))
        };
        for e in past.iter().filter(|e| event_matches(e, &f)) {
            if until.is_some_and(|u| e.time_ns > u) {
                return;
            }
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        let deadline = until.map(|u| {
            let now = berth_engine::monitor::now_ns();
            std::time::Duration::from_nanos(u64::try_from(u - now).unwrap_or(0))
        });
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return,
                e = rx.recv() => match e {
                    Ok(e) if event_matches(&e, &f) => {
                        if tx.send(line(&e)).await.is_err() { return; }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
                () = tx.closed() => return,
            }
        }
    });
    let stream = tokio_stream_from(out);
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

/// A receiver as a body stream.
pub(crate) fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// `GET /system/df`.
pub(super) async fn df(
    State(engine): State<Engine>,
    version: crate::version::ApiVersion,
) -> ApiResult<Json<Value>> {
    let containers = engine.containers();
    let images = engine.images().list();
    let layer_sizes = engine.images().layer_sizes();
    let mut users: HashMap<&str, usize> = HashMap::new();
    for c in &containers {
        *users.entry(c.image_id.as_str()).or_default() += 1;
    }
    let mut layer_users: HashMap<&str, usize> = HashMap::new();
    for i in &images {
        for l in &i.layers {
            *layer_users.entry(l.as_str()).or_default() += 1;
        }
    }
    let image_rows: Vec<Value> = images
        .iter()
        .map(|i| {
            let shared: u64 = i
                .layers
                .iter()
                .filter(|l| layer_users.get(l.as_str()).copied().unwrap_or(0) > 1)
                .map(|l| layer_sizes.get(l).copied().unwrap_or(0))
                .sum();
            crate::views::image::summary(
                i,
                users.get(i.id.as_str()).copied().unwrap_or(0),
                shared,
                version,
            )
        })
        .collect();
    let container_rows: Vec<Value> = containers
        .iter()
        .map(|c| {
            let rw = engine.images().container_size(&c.id).unwrap_or(0);
            crate::views::container::summary(c, Some((rw, rw)), version)
        })
        .collect();
    let cache = super::build::cache_rows(&engine);
    let volume_rows: Vec<Value> = engine
        .volumes()
        .list()
        .iter()
        .map(|v| {
            crate::views::volume::inspect(
                v,
                Some(engine.volumes().size(&v.name)),
                engine.volume_users(&v.name).len(),
            )
        })
        .collect();
    Ok(Json(json!({
        "LayersSize": engine.images().layers_size(),
        "Images": image_rows,
        "Containers": container_rows,
        "Volumes": volume_rows,
        "BuilderSize": cache.iter().filter_map(|c| c["Size"].as_i64()).sum::<i64>(),
        "BuildCache": cache,
    })))
}
