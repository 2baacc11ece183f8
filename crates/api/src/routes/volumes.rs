//! Volume endpoints (local driver).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Query, flag, json_body};
use crate::error::{ApiError, ApiResult};
use crate::views::volume as view;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: Option<String>,
    driver: Option<String>,
    driver_opts: Option<HashMap<String, String>>,
    labels: Option<HashMap<String, String>>,
}

fn lib<E: std::error::Error + berth_errdefs::HasKind + 'static>(e: E) -> ApiError {
    ApiError::from_lib(&e)
}

pub(super) async fn create(State(engine): State<Engine>, body: Bytes) -> ApiResult<Response> {
    let b: CreateBody = json_body(&body)?;
    let v = engine
        .volumes()
        .create(
            b.name.as_deref().filter(|n| !n.is_empty()),
            b.driver.as_deref(),
            b.labels.unwrap_or_default(),
            b.driver_opts.unwrap_or_default(),
        )
        .map_err(lib)?;
    engine.events().publish(
        "volume",
        "create",
        &v.name,
        HashMap::from([("driver".to_owned(), v.driver.clone())]),
    );
    Ok((StatusCode::CREATED, Json(view::inspect(&v, None, 0))).into_response())
}

pub(super) async fn list(State(engine): State<Engine>, q: Query) -> ApiResult<Json<Value>> {
    let f = super::filters_of(&q, super::known::VOLUMES)?;
    let vols: Vec<Value> = engine
        .volumes()
        .list()
        .iter()
        .filter(|v| {
            f.get("name")
                .is_none_or(|ns| ns.iter().any(|n| v.name.contains(n.as_str())))
                && f.get("dangling").is_none_or(|d| {
                    d.iter().any(|d| {
                        (d == "true" || d == "1") == engine.volume_users(&v.name).is_empty()
                    })
                })
                && f.get("driver").is_none_or(|d| d.contains(&v.driver))
                && berth_engine::filters::labels_match(&f, Some(&v.labels))
        })
        .map(|v| view::inspect(v, None, 0))
        .collect();
    Ok(Json(json!({"Volumes": vols, "Warnings": null})))
}

pub(super) async fn inspect(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = engine.volumes().get(&name).map_err(lib)?;
    Ok(Json(view::inspect(&v, None, 0)))
}

pub(super) async fn remove(
    State(engine): State<Engine>,
    Path(name): Path<String>,
    q: Query,
) -> ApiResult<StatusCode> {
    let users = engine.volume_users(&name);
    let _force = flag(&q, "force");
    engine.volumes().remove(&name, &users).map_err(lib)?;
    engine
        .events()
        .publish("volume", "destroy", &name, HashMap::new());
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /volumes/prune`: unused anonymous volumes (`all=true` filter: named ones too). Before
/// API 1.42 every unused volume, named or not, as dockerd 20.10 prunes.
pub(super) async fn prune(
    State(engine): State<Engine>,
    version: crate::version::ApiVersion,
    q: Query,
) -> ApiResult<Json<Value>> {
    let f = super::filters_of(&q, super::known::PRUNE_VOLUMES)?;
    let all = !version.at_least(1, 42)
        || f.get("all")
            .is_some_and(|v| v.iter().any(|a| a == "true" || a == "1"));
    let mut deleted = Vec::new();
    let mut space = 0u64;
    for v in engine.volumes().list() {
        if !(all || v.is_anonymous()) || !berth_engine::filters::labels_match(&f, Some(&v.labels)) {
            continue;
        }
        let users = engine.volume_users(&v.name);
        if !users.is_empty() {
            continue;
        }
        let size = engine.volumes().size(&v.name);
        if engine.volumes().remove(&v.name, &users).is_ok() {
            space += size;
            deleted.push(v.name);
        }
    }
    Ok(Json(
        json!({"VolumesDeleted": deleted, "SpaceReclaimed": space}),
    ))
}
