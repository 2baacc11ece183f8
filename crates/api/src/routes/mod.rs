//! The route table: moby's `api/swagger.yaml` paths, each mapped to a thin handler.

use std::collections::HashMap;

use axum::Router;
use axum::routing::{delete, get, post};
use berth_engine::Engine;

use crate::error::{ApiError, ApiResult};

mod containers;
mod distribution;
mod exec;
mod images;
mod io;
mod networks;
mod system;
mod volumes;

/// Query parameters as Docker sends them.
pub(crate) type Query = axum::extract::Query<HashMap<String, String>>;

/// Docker's booleans: `1`, `true`, `True` (and presence with an empty value is false).
pub(crate) fn flag(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key)
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "True" | "TRUE"))
}

pub(crate) fn int<T: std::str::FromStr>(
    q: &HashMap<String, String>,
    key: &str,
) -> ApiResult<Option<T>> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
    }
}

/// `filters={"label":["a=b"]}` (or the old `{"label":{"a=b":true}}`) → name → values.
pub(crate) fn filters(q: &HashMap<String, String>) -> ApiResult<HashMap<String, Vec<String>>> {
    let Some(raw) = q.get("filters").filter(|f| !f.is_empty()) else {
        return Ok(HashMap::new());
    };
    let v: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
    let mut out = HashMap::new();
    let Some(obj) = v.as_object() else {
        return Err(ApiError::bad_request("invalid filter: expected an object"));
    };
    for (k, vals) in obj {
        let list: Vec<String> = match vals {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            serde_json::Value::String(s) => vec![s.clone()],
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter value for {k:?}"
                )));
            }
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

/// Parses a JSON body with Docker's error for malformed input.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_slice(b"{}").map_err(|e| ApiError::bad_request(e.to_string()));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// The whole API.
pub(crate) fn router(engine: Engine) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(system::events))
        .route("/system/df", get(system::df))
        // berth has no build cache yet: nothing to prune (`docker system prune` asks).
        .route(
            "/build/prune",
            post(|| async {
                axum::Json(serde_json::json!({"CachesDeleted": [], "SpaceReclaimed": 0}))
            }),
        )
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}", delete(containers::remove))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/update", post(containers::update))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/stats", get(containers::stats))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/attach", post(io::attach))
        .route("/containers/{id}/logs", get(io::logs))
        .route("/containers/{id}/changes", get(io::changes))
        .route("/containers/{id}/export", get(io::export))
        .route(
            "/containers/{id}/archive",
            get(io::archive_get)
                .head(io::archive_head)
                .put(io::archive_put),
        )
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::save_many))
        .route("/images/prune", post(images::prune))
        .route("/images/search", get(distribution::search))
        .route("/auth", post(distribution::auth))
        .route("/distribution/{*name}", get(distribution::inspect))
        .route(
            "/images/{*name}",
            get(images::by_name)
                .delete(images::remove)
                .post(images::by_name_post),
        )
        .route("/commit", post(images::commit))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .fallback(fallback)
        .with_state(engine)
}

async fn fallback(uri: http::Uri) -> ApiError {
    ApiError::not_found(format!("page not found: {}", uri.path()))
}
