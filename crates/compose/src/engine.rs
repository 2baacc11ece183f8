//! The Engine API calls compose makes, over the shared client: the project's containers,
//! networks and volumes by label, and the container lifecycle.

use anyhow::{Result, bail};
use berth_client::client::{Client, body_stream, encode, query, status_of};
use futures_util::StreamExt;
use http::Method;
use serde_json::{Value, json};

use crate::labels;

/// A container of the project, from `GET /containers/json`.
#[derive(Debug, Clone)]
pub(crate) struct Container {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) service: String,
    pub(crate) number: u32,
    pub(crate) state: String,
    pub(crate) hash: String,
    pub(crate) image_id: String,
    pub(crate) oneoff: bool,
    pub(crate) raw: Value,
}

impl Container {
    fn from_list(v: Value) -> Self {
        let label = |k: &str| v["Labels"][k].as_str().unwrap_or_default().to_owned();
        Self {
            id: v["Id"].as_str().unwrap_or_default().to_owned(),
            name: v["Names"][0]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            service: label(labels::SERVICE),
            number: label(labels::NUMBER).parse().unwrap_or(0),
            state: v["State"].as_str().unwrap_or_default().to_owned(),
            hash: label(labels::CONFIG_HASH),
            image_id: v["ImageID"].as_str().unwrap_or_default().to_owned(),
            oneoff: label(labels::ONEOFF) == "True",
            raw: v,
        }
    }

    pub(crate) fn running(&self) -> bool {
        matches!(self.state.as_str(), "running" | "restarting" | "paused")
    }
}

/// Which of the project's containers to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OneOff {
    /// Service containers only (what `up` manages).
    Exclude,
    /// `run` containers only.
    Only,
    /// Both (`down`).
    Include,
}

pub(crate) async fn containers(
    cl: &Client,
    project: &str,
    all: bool,
    oneoff: OneOff,
) -> Result<Vec<Container>> {
    let filters = labels::filter(&[(labels::PROJECT, project)]);
    let path = query(
        "/containers/json",
        &[("all", all.to_string()), ("filters", filters)],
    );
    let list = cl.get_json(&path).await?;
    let mut out: Vec<Container> = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(Container::from_list)
        .filter(|c| match oneoff {
            OneOff::Exclude => !c.oneoff,
            OneOff::Only => c.oneoff,
            OneOff::Include => true,
        })
        .collect();
    out.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
    Ok(out)
}

pub(crate) async fn inspect_container(cl: &Client, id: &str) -> Result<Value> {
    cl.get_json(&format!("/containers/{}/json", encode(id)))
        .await
}

pub(crate) async fn create_container(cl: &Client, name: &str, body: &Value) -> Result<String> {
    let v = cl
        .post_json(
            &query("/containers/create", &[("name", name.to_owned())]),
            Some(body),
        )
        .await?;
    Ok(v["Id"].as_str().unwrap_or_default().to_owned())
}

pub(crate) async fn start(cl: &Client, id: &str) -> Result<()> {
    cl.post_json(&format!("/containers/{}/start", encode(id)), None)
        .await
        .map(drop)
}

pub(crate) async fn stop(cl: &Client, id: &str, timeout: Option<u32>) -> Result<()> {
    let mut params = Vec::new();
    if let Some(t) = timeout {
        params.push(("t", t.to_string()));
    }
    cl.post_json(
        &query(&format!("/containers/{}/stop", encode(id)), &params),
        None,
    )
    .await
    .map(drop)
}

pub(crate) async fn restart(cl: &Client, id: &str, timeout: Option<u32>) -> Result<()> {
    let mut params = Vec::new();
    if let Some(t) = timeout {
        params.push(("t", t.to_string()));
    }
    cl.post_json(
        &query(&format!("/containers/{}/restart", encode(id)), &params),
        None,
    )
    .await
    .map(drop)
}

pub(crate) async fn kill(cl: &Client, id: &str, signal: &str) -> Result<()> {
    cl.post_json(
        &query(
            &format!("/containers/{}/kill", encode(id)),
            &[("signal", signal.to_owned())],
        ),
        None,
    )
    .await
    .map(drop)
}

pub(crate) async fn remove(cl: &Client, id: &str, volumes: bool) -> Result<()> {
    cl.delete(&query(
        &format!("/containers/{}", encode(id)),
        &[("force", "true".into()), ("v", volumes.to_string())],
    ))
    .await
    .map(drop)
}

pub(crate) async fn connect(cl: &Client, network: &str, id: &str, endpoint: &Value) -> Result<()> {
    cl.post_json(
        &format!("/networks/{}/connect", encode(network)),
        Some(&json!({"Container": id, "EndpointConfig": endpoint})),
    )
    .await
    .map(drop)
}

/// `None` when the object does not exist.
pub(crate) async fn inspect_opt(cl: &Client, kind: &str, name: &str) -> Result<Option<Value>> {
    let path = match kind {
        "images" => format!("/images/{}/json", encode(name)),
        _ => format!("/{kind}/{}", encode(name)),
    };
    match cl.get_json(&path).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if status_of(&e) == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) async fn network(cl: &Client, name: &str) -> Result<Option<Value>> {
    inspect_opt(cl, "networks", name).await
}

pub(crate) async fn volume(cl: &Client, name: &str) -> Result<Option<Value>> {
    inspect_opt(cl, "volumes", name).await
}

pub(crate) async fn image(cl: &Client, name: &str) -> Result<Option<Value>> {
    inspect_opt(cl, "images", name)
        .await
        .map(|o| o.filter(|v| !v.is_null()))
}

/// Objects of a kind (`networks`, `volumes`) carrying the project's label.
pub(crate) async fn labelled(cl: &Client, kind: &str, project: &str) -> Result<Vec<Value>> {
    let filters = labels::filter(&[(labels::PROJECT, project)]);
    let v = cl
        .get_json(&query(&format!("/{kind}"), &[("filters", filters)]))
        .await?;
    Ok(match kind {
        "volumes" => v["Volumes"].as_array().cloned().unwrap_or_default(),
        _ => v.as_array().cloned().unwrap_or_default(),
    })
}

/// Waits for the container to stop and returns its exit code.
pub(crate) async fn wait(cl: &Client, id: &str) -> Result<i64> {
    let v = cl
        .post_json(&format!("/containers/{}/wait", encode(id)), None)
        .await?;
    Ok(v["StatusCode"].as_i64().unwrap_or(0))
}

/// Reads a JSON-message stream (`/images/create`, `/build`, `/images/.../push`), calling
/// `each` per message; an `error` message fails.
pub(crate) async fn messages(
    resp: http::Response<hyper::body::Incoming>,
    mut each: impl FnMut(&Value),
) -> Result<()> {
    let mut body = Box::pin(body_stream(resp));
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk?);
        let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        let mut consumed = 0;
        while let Some(Ok(msg)) = de.next() {
            consumed = de.byte_offset();
            if let Some(e) = msg
                .get("errorDetail")
                .and_then(|d| d["message"].as_str())
                .or_else(|| msg["error"].as_str())
            {
                bail!("{}", e.trim_end());
            }
            each(&msg);
        }
        buf.drain(..consumed);
    }
    Ok(())
}

/// `POST /images/create` for `image` (`name[:tag]`, `name@digest`).
pub(crate) async fn pull(cl: &Client, image: &str) -> Result<()> {
    let (name, tag) = split_ref(image);
    let resp = cl
        .send(
            Method::POST,
            &query("/images/create", &[("fromImage", name), ("tag", tag)]),
            berth_client::client::empty(),
            None,
        )
        .await?;
    messages(resp, |_| {}).await
}

/// `POST /images/{name}/push`.
pub(crate) async fn push(cl: &Client, image: &str) -> Result<()> {
    let (name, tag) = split_ref(image);
    let req_path = query(&format!("/images/{}/push", encode(&name)), &[("tag", tag)]);
    // The registry credentials header is required by the API even when empty (`{}`).
    let resp = cl
        .send_with_headers(
            Method::POST,
            &req_path,
            berth_client::client::empty(),
            &[("X-Registry-Auth", "e30=")],
        )
        .await?;
    messages(resp, |_| {}).await
}

/// `name:tag` → (`name`, `tag`), with `latest` by default; a digest stays in the tag slot.
pub(crate) fn split_ref(r: &str) -> (String, String) {
    if let Some((n, d)) = r.split_once('@') {
        return (n.to_owned(), d.to_owned());
    }
    match r.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n.to_owned(), t.to_owned()),
        _ => (r.to_owned(), "latest".to_owned()),
    }
}
