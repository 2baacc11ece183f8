//! `docker exec`: create, start (hijacked), resize, inspect.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::{Engine, ExecConfig};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Query, int, json_body};
use crate::error::{ApiError, ApiResult};
use crate::stream::{self, Session};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ExecCreateBody {
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    tty: bool,
    console_size: Option<Vec<u16>>,
    detach_keys: Option<String>,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    privileged: bool,
    user: Option<String>,
    working_dir: Option<String>,
}

pub(super) async fn create(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: ExecCreateBody = json_body(&body)?;
    let cfg = ExecConfig {
        cmd: b.cmd.unwrap_or_default(),
        env: b.env.unwrap_or_default(),
        user: b.user.filter(|u| !u.is_empty()),
        working_dir: b.working_dir.filter(|w| !w.is_empty()),
        tty: b.tty,
        attach_stdin: b.attach_stdin,
        attach_stdout: b.attach_stdout,
        attach_stderr: b.attach_stderr,
        privileged: b.privileged,
        detach_keys: b.detach_keys,
        console_size: b.console_size.and_then(|c| Some((*c.first()?, *c.get(1)?))),
    };
    let exec_id = engine.exec_create(&id, cfg)?;
    Ok((StatusCode::CREATED, Json(json!({"Id": exec_id}))).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ExecStartBody {
    detach: bool,
    /// The output framing (raw with a TTY, multiplexed without): the start request's, the
    /// process's terminal being the create request's.
    tty: bool,
}

pub(super) async fn start(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    let b: ExecStartBody = json_body(&bytes)?;
    let inst = engine.exec_get(&id)?;
    if b.detach {
        engine.exec_start(&id, true).await?;
        return Ok(StatusCode::OK.into_response());
    }
    // Refuse what would fail before the connection is hijacked, as an HTTP error.
    if inst.state().started {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Error: Exec command {id} has already run"),
        ));
    }
    let rec = engine.container(&inst.container_id)?;
    if !rec.is_running() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Container {} is not running", rec.id),
        ));
    }
    let keys = inst
        .config
        .detach_keys
        .as_deref()
        .and_then(stream::detach_keys)
        .unwrap_or_else(|| vec![16, 17]);
    let tty = b.tty;
    let mut req = Request::from_parts(parts, Body::empty());
    let start = async move {
        let s = engine
            .exec_start(&id, false)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Session {
            output: s.output,
            stdin: s.stdin,
            tty,
            detach_keys: keys,
        })
    };
    Ok(stream::hijack_then(&mut req, tty, start))
}

pub(super) async fn resize(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<StatusCode> {
    let h: u16 = int(&q, "h")?.unwrap_or(0);
    let w: u16 = int(&q, "w")?.unwrap_or(0);
    engine.exec_resize(&id, h, w)?;
    Ok(StatusCode::OK)
}

pub(super) async fn inspect(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let inst = engine.exec_get(&id)?;
    let st = inst.state();
    let c = &inst.config;
    let mut process = json!({
        "tty": c.tty,
        "entrypoint": c.cmd.first().cloned().unwrap_or_default(),
        "arguments": c.cmd.iter().skip(1).collect::<Vec<_>>(),
        "privileged": c.privileged,
    });
    // dockerd leaves `user` out when the exec runs as the container's user.
    if let Some(u) = c.user.as_ref().filter(|u| !u.is_empty()) {
        process["user"] = json!(u);
    }
    Ok(Json(json!({
        "ID": inst.id,
        "Running": st.running,
        "ExitCode": st.exit_code,
        "ProcessConfig": process,
        "OpenStdin": c.attach_stdin,
        "OpenStderr": c.attach_stderr,
        "OpenStdout": c.attach_stdout,
        "CanRemove": false,
        "ContainerID": inst.container_id,
        "DetachKeys": c.detach_keys.clone().unwrap_or_default(),
        "Pid": st.pid,
    })))
}
