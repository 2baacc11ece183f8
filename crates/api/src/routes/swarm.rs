//! Swarm and plugin endpoints. berth is never part of a swarm and has no plugins: it answers
//! as a dockerd outside a swarm and without plugins does, because clients' clean-up and
//! feature probes (compose, testcontainers, CI tools) tell "no swarm" and "no plugins" from a
//! failure by exactly these answers.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use berth_engine::Engine;
use serde_json::Value;

use super::{Query, flag};
use crate::error::{ApiError, ApiResult};

const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \
                             \"docker swarm join\" to connect this node to swarm and try again.";

fn not_a_manager() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NOT_A_MANAGER)
}

async fn no_swarm() -> ApiError {
    not_a_manager()
}

async fn leave() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "This node is not part of a swarm",
    )
}

/// `init` and `join` check their request as dockerd does; a valid one still cannot make
/// berth a swarm member.
async fn init_or_join(body: Bytes) -> ApiError {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let addr = v
        .get("ListenAddr")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if addr.is_empty() {
        return ApiError::bad_request("invalid ListenAddr \"\": invalid empty address");
    }
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "berth does not support swarm mode",
    )
}

/// The `version` an update names; dockerd parses it before it finds there is no swarm.
fn versioned_update(kind: &'static str, q: &std::collections::HashMap<String, String>) -> ApiError {
    let v = q.get("version").map_or("", String::as_str);
    if v.parse::<u64>().is_ok() {
        return not_a_manager();
    }
    match kind {
        "secret" | "config" => ApiError::bad_request(format!("invalid {kind} version")),
        _ => ApiError::bad_request(format!(
            "invalid {kind} version '{v}': strconv.ParseUint: parsing \"{v}\": invalid syntax"
        )),
    }
}

/// Service and task logs check their streams before they look for a swarm (with dockerd's
/// status for the check: a 500).
async fn swarm_logs(q: Query) -> ApiError {
    if !flag(&q, "stdout") && !flag(&q, "stderr") {
        return ApiError::internal("Bad parameters: you must choose at least one stream");
    }
    not_a_manager()
}

fn plugin_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("plugin {name:?} not found"))
}

async fn plugins() -> Json<Vec<Value>> {
    Json(Vec::new())
}

async fn plugin_named(Path(name): Path<String>) -> ApiError {
    // `{*name}` captures the action too (`x/json`, `x/enable`): the plugin is what precedes.
    let name = ["/json", "/enable", "/disable", "/upgrade", "/push", "/set"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(&name)
        .to_owned();
    plugin_not_found(&name)
}

/// Installing plugins needs a plugin system berth does not have.
async fn plugin_install() -> ApiResult<()> {
    Err(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "berth does not support plugins",
    ))
}

/// Swarm (`/swarm`, `/nodes`, `/services`, `/tasks`, `/secrets`, `/configs`) and plugin
/// routes.
pub(super) fn routes() -> Router<Engine> {
    let swarm = get(no_swarm).post(no_swarm).delete(no_swarm);
    Router::new()
        .route("/swarm", get(no_swarm))
        .route("/swarm/init", post(init_or_join))
        .route("/swarm/join", post(init_or_join))
        .route("/swarm/leave", post(leave))
        .route(
            "/swarm/update",
            post(|q: Query| async move { versioned_update("swarm", &q) }),
        )
        .route("/swarm/unlockkey", get(no_swarm))
        .route("/swarm/unlock", post(no_swarm))
        .route("/nodes", get(no_swarm))
        .route("/nodes/{id}", swarm.clone())
        .route(
            "/nodes/{id}/update",
            post(|q: Query| async move { versioned_update("node", &q) }),
        )
        .route("/services", get(no_swarm))
        .route("/services/create", post(no_swarm))
        .route("/services/{id}", swarm.clone())
        .route(
            "/services/{id}/update",
            post(|q: Query| async move { versioned_update("service", &q) }),
        )
        .route("/services/{id}/logs", get(swarm_logs))
        .route("/tasks", get(no_swarm))
        .route("/tasks/{id}", get(no_swarm))
        .route("/tasks/{id}/logs", get(swarm_logs))
        .route("/secrets", get(no_swarm))
        .route("/secrets/create", post(no_swarm))
        .route("/secrets/{id}", swarm.clone())
        .route(
            "/secrets/{id}/update",
            post(|q: Query| async move { versioned_update("secret", &q) }),
        )
        .route("/configs", get(no_swarm))
        .route("/configs/create", post(no_swarm))
        .route("/configs/{id}", swarm)
        .route(
            "/configs/{id}/update",
            post(|q: Query| async move { versioned_update("config", &q) }),
        )
        .route("/plugins", get(plugins))
        .route("/plugins/privileges", get(plugin_install))
        .route("/plugins/pull", post(plugin_install))
        .route("/plugins/create", post(plugin_install))
        .route(
            "/plugins/{*name}",
            get(plugin_named).post(plugin_named).delete(plugin_named),
        )
}
