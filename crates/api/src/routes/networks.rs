//! Network endpoints.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::Engine;
use berth_network::CreateNetwork;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Query, json_body};
use crate::error::{ApiError, ApiResult};
use crate::views::network as view;

fn names(engine: &Engine) -> HashMap<String, String> {
    engine
        .containers()
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect()
}

pub(super) async fn list(
    State(engine): State<Engine>,
    version: crate::version::ApiVersion,
    q: Query,
) -> ApiResult<Json<Vec<Value>>> {
    let f = super::filters_of(&q, super::known::NETWORKS)?;
    let names = names(&engine);
    let mut out: Vec<Value> = engine
        .network()
        .list()
        .iter()
        .map(|n| view::inspect(n, &names, version))
        .collect();
    out.retain(|n| {
        let s = |k: &str| n[k].as_str().unwrap_or_default().to_owned();
        f.get("name")
            .is_none_or(|v| v.iter().any(|x| s("Name").contains(x.as_str())))
            && f.get("id")
                .is_none_or(|v| v.iter().any(|x| s("Id").starts_with(x.as_str())))
            && f.get("driver").is_none_or(|v| v.contains(&s("Driver")))
            && f.get("type").is_none_or(|v| {
                v.iter().any(|t| {
                    (t == "builtin") == matches!(s("Name").as_str(), "bridge" | "host" | "none")
                })
            })
    });
    Ok(Json(out))
}

pub(super) async fn inspect(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    version: crate::version::ApiVersion,
) -> ApiResult<Json<Value>> {
    let n = engine.network().get(&id)?;
    Ok(Json(view::inspect(&n, &names(&engine), version)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: Option<String>,
    internal: bool,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    options: Option<HashMap<String, String>>,
    labels: Option<HashMap<String, String>>,
    check_duplicate: Option<bool>,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: Option<String>,
    gateway: Option<String>,
}

pub(super) async fn create(State(engine): State<Engine>, body: Bytes) -> ApiResult<Response> {
    let b: CreateBody = json_body(&body)?;
    if b.name.is_empty() {
        return Err(ApiError::bad_request("invalid name: "));
    }
    if matches!(b.name.as_str(), "host" | "none" | "bridge")
        && engine.network().get(&b.name).is_ok()
        || matches!(b.name.as_str(), "host" | "none")
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} is a pre-defined network and cannot be created", b.name),
        ));
    }
    let configs = b.ipam.and_then(|i| i.config).unwrap_or_default();
    // IPv6 is not implemented yet: refuse it rather than make a v4-only network.
    let v6 = configs
        .iter()
        .any(|c| c.subnet.as_deref().is_some_and(|s| s.contains(':')));
    if b.enable_ipv6 || v6 {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "IPv6 networks are not supported by berth yet",
        ));
    }
    if configs.len() > 1 {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "berth networks have one IPv4 subnet",
        ));
    }
    let cfg = configs.into_iter().next().unwrap_or_default();
    let _ = b.check_duplicate;
    let req = CreateNetwork {
        name: b.name,
        driver: b.driver,
        subnet: cfg.subnet,
        gateway: cfg.gateway,
        internal: b.internal,
        labels: b.labels.unwrap_or_default(),
        options: b.options.unwrap_or_default(),
    };
    let n = engine.network().create_network(req).await?;
    engine.events().publish(
        "network",
        "create",
        &n.id,
        HashMap::from([
            ("name".to_owned(), n.name.clone()),
            ("type".to_owned(), n.driver.clone()),
        ]),
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": n.id, "Warning": ""})),
    )
        .into_response())
}

pub(super) async fn remove(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let n = engine.network().get(&id)?;
    if matches!(n.name.as_str(), "host" | "none" | "bridge") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} is a pre-defined network and cannot be removed", n.name),
        ));
    }
    engine.network().remove_network(&id).await?;
    engine.events().publish(
        "network",
        "destroy",
        &n.id,
        HashMap::from([("name".to_owned(), n.name)]),
    );
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn prune(State(engine): State<Engine>, q: Query) -> ApiResult<Json<Value>> {
    let f = super::filters_of(&q, super::known::PRUNE)?;
    let until = f
        .get("until")
        .and_then(|v| v.first())
        .map(|u| berth_engine::filters::parse_time(u))
        .transpose()?;
    let removed = engine
        .network()
        .prune_where(|labels, created| {
            berth_engine::filters::labels_match(&f, Some(labels))
                && until.is_none_or(|u| created.timestamp_nanos_opt().unwrap_or(0) < u)
        })
        .await?;
    Ok(Json(json!({
        "NetworksDeleted": if removed.is_empty() { Value::Null } else { json!(removed) },
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    force: bool,
    endpoint_config: Option<bollard_stubs::models::EndpointSettings>,
}

pub(super) async fn connect(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let b: ConnectBody = json_body(&body)?;
    let _ = b.force;
    engine
        .connect_network(&b.container, &id, b.endpoint_config.unwrap_or_default())
        .await?;
    Ok(StatusCode::OK)
}

pub(super) async fn disconnect(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let b: ConnectBody = json_body(&body)?;
    engine
        .disconnect_network(&b.container, &id, b.force)
        .await?;
    Ok(StatusCode::OK)
}
