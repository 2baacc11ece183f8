//! Image endpoints: import, load, save, list, inspect, history, tag, remove, prune, commit.

use std::collections::HashMap;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::Engine;
use berth_image::{CommitOptions, ImportOptions, Removed};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{Query, flag, json_body};
use crate::error::{ApiError, ApiResult};
use crate::version::ApiVersion;
use crate::views::image as view;

/// The request body as a blocking reader for the stores, which read synchronously: the
/// upload streams straight into the unpacker (no spool file, no second copy on disk).
pub(super) fn body_reader(body: Body) -> impl std::io::Read + Send + 'static {
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    std::io::BufReader::with_capacity(1 << 20, reader)
}

fn json_lines(lines: &[Value]) -> Response {
    let mut body = String::new();
    for l in lines {
        body.push_str(&l.to_string());
        body.push_str("\r\n");
    }
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `POST /images/create`: `fromSrc=-` imports the body, `fromImage=` pulls.
pub(super) async fn create(
    State(engine): State<Engine>,
    q: Query,
    headers: http::HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if let Some(src) = q.get("fromSrc").filter(|s| !s.is_empty()) {
        if src != "-" {
            return Err(ApiError::bad_request(format!(
                "importing from a URL ({src}) is not supported; pipe the tarball to `import -`"
            )));
        }
        let reference = q.get("repo").filter(|r| !r.is_empty()).map(|r| {
            match q.get("tag").filter(|t| !t.is_empty()) {
                Some(t) => format!("{r}:{t}"),
                None => r.clone(),
            }
        });
        let changes: Vec<String> = q
            .get("changes")
            .map(|c| vec![c.clone()])
            .unwrap_or_default();
        let opts = ImportOptions {
            reference,
            changes,
            message: q.get("message").cloned().filter(|m| !m.is_empty()),
        };
        let reader = body_reader(body);
        let e2 = engine.clone();
        let id = tokio::task::spawn_blocking(move || {
            e2.images().import(reader, opts).map_err(ApiError::from)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
        engine
            .events()
            .publish("image", "import", &id, HashMap::new());
        return Ok(json_lines(&[json!({"status": id})]));
    }
    if q.get("fromImage").is_none_or(String::is_empty) {
        return Err(ApiError::bad_request("fromImage or fromSrc is required"));
    }
    super::distribution::pull(engine, &q, &headers).await
}

/// `POST /images/load`.
pub(super) async fn load(
    State(engine): State<Engine>,
    q: Query,
    body: Body,
) -> ApiResult<Response> {
    let reader = body_reader(body);
    let e2 = engine.clone();
    let loaded =
        tokio::task::spawn_blocking(move || e2.images().load(reader).map_err(ApiError::from))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
    // dockerd has answered 200 by the time it reads the archive: a bad one is an error in
    // the message stream, which is where clients (`docker load`, docker-py) look for it.
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            return Ok(json_lines(&[
                json!({"errorDetail": {"message": e.message}, "error": e.message}),
            ]));
        }
    };
    let mut lines = Vec::new();
    for l in &loaded {
        engine
            .events()
            .publish("image", "load", &l.id, HashMap::new());
        if l.tags.is_empty() {
            lines.push(json!({"stream": format!("Loaded image ID: {}\n", l.id)}));
        }
        for t in &l.tags {
            lines.push(json!({"stream": format!("Loaded image: {t}\n")}));
        }
    }
    let _quiet = flag(&q, "quiet");
    Ok(json_lines(&lines))
}

fn save_body(engine: &Engine, names: Vec<String>) -> ApiResult<Response> {
    for n in &names {
        // Unlike rmi or inspect, dockerd's save names a missing image as asked (no `:latest`).
        engine.images().lookup(n).map_err(|e| match e {
            berth_image::ImageError::NotFound(_) => {
                ApiError::not_found(format!("No such image: {n}"))
            }
            other => ApiError::from_lib(&other),
        })?;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let e2 = engine.clone();
    tokio::task::spawn_blocking(move || {
        let w = super::io::ChannelWriter(tx.clone());
        if let Err(e) = e2.images().save(&names, w) {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/x-tar")
        .body(Body::from_stream(super::system::tokio_stream_from(rx)))
        .unwrap_or_default())
}

/// `GET /images/get?names=a&names=b`.
pub(super) async fn save_many(State(engine): State<Engine>, uri: http::Uri) -> ApiResult<Response> {
    let names = query_all(&uri, "names");
    save_body(&engine, names)
}

/// Every value of a repeated query parameter (`names=a&names=b`), which [`Query`] keeps
/// only one of.
pub(super) fn query_all(uri: &http::Uri, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix(prefix.as_str()))
        .map(percent_decode)
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An image lookup's failure: "No such image" in the words the client used when the image
/// is not there; any other failure (I/O, a corrupt record) keeps its own class and message.
fn not_found_as(e: &berth_image::ImageError, name: &str) -> ApiError {
    match e {
        berth_image::ImageError::NotFound(_) => {
            ApiError::not_found(format!("No such image: {}", with_tag(name)))
        }
        other => ApiError::from_lib(other),
    }
}

/// A name as dockerd spells it in errors: `busybox` is `busybox:latest`; ids and digests
/// stay as they are.
fn with_tag(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    let is_id = name.starts_with("sha256:")
        || (name.len() >= 12 && name.bytes().all(|b| b.is_ascii_hexdigit()));
    if is_id || name.contains('@') || last.contains(':') {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}

fn containers_using(engine: &Engine) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for c in engine.containers() {
        *m.entry(c.image_id).or_default() += 1;
    }
    m
}

/// `GET /images/json`.
pub(super) async fn list(
    State(engine): State<Engine>,
    version: ApiVersion,
    q: Query,
) -> ApiResult<Json<Vec<Value>>> {
    let f = super::filters_of(&q, super::known::IMAGES)?;
    let users = containers_using(&engine);
    let mut images = engine.images().list();
    images.retain(|i| {
        f.get("dangling").is_none_or(|v| {
            v.iter()
                .any(|d| (d == "true" || d == "1") == i.repo_tags.is_empty())
        }) && f.get("reference").is_none_or(|pats| {
            i.repo_tags
                .iter()
                .any(|t| pats.iter().any(|p| ref_matches(p, t)))
        }) && berth_engine::filters::labels_match(
            &f,
            i.config.as_ref().and_then(|c| c.labels.as_ref()),
        )
    });
    if !flag(&q, "all") {
        // Without -a, untagged images that are parents of others are hidden (Docker's rule).
        let parents: std::collections::HashSet<String> =
            images.iter().filter_map(|i| i.parent.clone()).collect();
        images.retain(|i| !i.repo_tags.is_empty() || !parents.contains(&i.id));
    }
    images.sort_by(|a, b| b.created.cmp(&a.created));
    Ok(Json(
        images
            .iter()
            .map(|i| view::summary(i, users.get(&i.id).copied().unwrap_or(0), 0, version))
            .collect(),
    ))
}

/// `reference=busybox`, `busybox:*`, `*/busybox` glob against a tag (`docker.io/library/` elided).
fn ref_matches(pattern: &str, tag: &str) -> bool {
    let (repo, t) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
    if !pattern.contains(':') {
        return glob(pattern, repo);
    }
    glob(pattern, tag) || glob(pattern, &format!("{repo}:{t}"))
}

fn glob(p: &str, s: &str) -> bool {
    match p.split_once('*') {
        None => p == s,
        Some((pre, rest)) => {
            s.starts_with(pre) && (0..=s.len() - pre.len()).any(|i| glob(rest, &s[pre.len() + i..]))
        }
    }
}

/// GET `/images/{name}/json`, `/images/{name}/history`, `/images/{name}/get`.
pub(super) async fn by_name(
    State(engine): State<Engine>,
    Path(path): Path<String>,
    version: ApiVersion,
) -> ApiResult<Response> {
    if let Some(name) = path.strip_suffix("/json") {
        let info = engine
            .images()
            .inspect(name)
            .map_err(|e| not_found_as(&e, name))?;
        let layer_files = |chain: &str| {
            engine
                .images()
                .layer_files(chain)
                .map(|p| p.display().to_string())
        };
        return Ok(Json(view::inspect(&info, version, &layer_files)).into_response());
    }
    if let Some(name) = path.strip_suffix("/history") {
        let rows = engine
            .images()
            .history(name)
            .map_err(|e| not_found_as(&e, name))?;
        let out: Vec<Value> = rows
            .iter()
            .map(|r| {
                let created = r.created.as_deref().and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok()).map_or(0, |t| t.timestamp());
                // dockerd's (alphabetical) key order.
                json!({"Comment": r.comment, "Created": created, "CreatedBy": r.created_by, "Id": r.id, "Size": r.size, "Tags": if r.tags.is_empty() { Value::Null } else { json!(r.tags) }})
            })
            .collect();
        return Ok(Json(out).into_response());
    }
    if let Some(name) = path.strip_suffix("/get") {
        return save_body(&engine, vec![name.to_owned()]);
    }
    Err(ApiError::not_found("page not found"))
}

/// POST `/images/{name}/tag`, `/images/{name}/push`.
pub(super) async fn by_name_post(
    State(engine): State<Engine>,
    Path(path): Path<String>,
    q: Query,
    headers: http::HeaderMap,
) -> ApiResult<Response> {
    if let Some(name) = path.strip_suffix("/tag") {
        let repo = q.get("repo").filter(|r| !r.is_empty()).ok_or_else(|| {
            ApiError::bad_request("repository name must have at least one component")
        })?;
        let target = match q.get("tag").filter(|t| !t.is_empty()) {
            Some(t) => format!("{repo}:{t}"),
            None => repo.clone(),
        };
        engine.images().tag(name, &target).map_err(|e| match e {
            // dockerd's wording, without the quoted reference.
            berth_image::ImageError::InvalidReference { why, .. } => {
                ApiError::bad_request(format!("invalid reference format: {why}"))
            }
            other => not_found_as(&other, name),
        })?;
        engine.events().publish(
            "image",
            "tag",
            name,
            HashMap::from([("name".to_owned(), target)]),
        );
        return Ok(StatusCode::CREATED.into_response());
    }
    if let Some(name) = path.strip_suffix("/push") {
        return super::distribution::push(engine, name, &q, &headers).await;
    }
    Err(ApiError::not_found("page not found"))
}

/// A container using image `id`, and whether it runs (what rmi and prune refuse on).
fn container_using(
    containers: &[berth_engine::container::record::ContainerRecord],
    id: &str,
) -> Option<(String, bool)> {
    containers
        .iter()
        .find(|c| c.image_id == id)
        .map(|c| (c.id.clone(), c.is_running()))
}

/// One line of Docker's rmi/prune answer.
fn removed_json(r: &Removed) -> Value {
    match r {
        Removed::Untagged(t) => json!({"Untagged": t}),
        Removed::Deleted(d) => json!({"Deleted": d}),
    }
}

/// `DELETE /images/{name}`.
pub(super) async fn remove(
    State(engine): State<Engine>,
    Path(name): Path<String>,
    q: Query,
) -> ApiResult<Json<Vec<Value>>> {
    let containers = engine.containers();
    let in_use = |id: &str| container_using(&containers, id);
    let removed = engine
        .images()
        .delete(&name, flag(&q, "force"), &in_use)
        .map_err(|e| not_found_as(&e, &name))?;
    Ok(Json(
        removed
            .iter()
            .map(|r| {
                let (action, id) = match r {
                    Removed::Untagged(t) => ("untag", t),
                    Removed::Deleted(d) => ("delete", d),
                };
                engine.events().publish("image", action, id, HashMap::new());
                removed_json(r)
            })
            .collect(),
    ))
}

/// `POST /images/prune`.
pub(super) async fn prune(State(engine): State<Engine>, q: Query) -> ApiResult<Json<Value>> {
    let f = super::filters_of(&q, super::known::PRUNE_IMAGES)?;
    let all = f
        .get("dangling")
        .is_some_and(|v| v.iter().any(|d| d == "false" || d == "0"));
    let containers = engine.containers();
    let in_use = |id: &str| container_using(&containers, id);
    let (removed, space) = engine.images().prune(all, &in_use)?;
    let deleted: Vec<Value> = removed.iter().map(removed_json).collect();
    Ok(Json(json!({
        "ImagesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": space,
    })))
}

/// `POST /commit?container=...&repo=...&tag=...`.
pub(super) async fn commit(
    State(engine): State<Engine>,
    q: Query,
    uri: http::Uri,
    body: Bytes,
) -> ApiResult<Response> {
    let key = q
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("container is required"))?;
    let rec = engine.container(key)?;
    let config: Option<bollard_stubs::models::ContainerConfig> =
        if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(json_body(&body)?)
        };
    let reference = q.get("repo").filter(|r| !r.is_empty()).map(|r| {
        match q.get("tag").filter(|t| !t.is_empty()) {
            Some(t) => format!("{r}:{t}"),
            None => r.clone(),
        }
    });
    let pause = q.get("pause").is_none_or(|p| p != "0" && p != "false")
        && rec.state.status == berth_engine::container::state::Status::Running;
    if pause {
        engine.pause_for_commit(&rec.id).await?;
    }
    let opts = CommitOptions {
        reference,
        comment: q.get("comment").cloned().filter(|c| !c.is_empty()),
        author: q.get("author").cloned().filter(|c| !c.is_empty()),
        // `changes` repeats, one Dockerfile instruction each (older clients put several in
        // one value, a line each).
        changes: query_all(&uri, "changes")
            .iter()
            .flat_map(|c| c.lines().map(str::to_owned).collect::<Vec<_>>())
            .filter(|c| !c.trim().is_empty())
            .collect(),
        config: Some(config.unwrap_or_else(|| rec.config.clone())),
        created_by: Some(
            format!("{} {}", rec.path, rec.args.join(" "))
                .trim()
                .to_owned(),
        ),
    };
    let e2 = engine.clone();
    let id = rec.id.clone();
    let result = tokio::task::spawn_blocking(move || e2.images().commit(&id, opts)).await;
    if pause {
        let _ = engine.unpause(&rec.id).await;
    }
    let image_id = result.map_err(|e| ApiError::internal(e.to_string()))??;
    engine
        .events()
        .publish("container", "commit", &rec.id, HashMap::new());
    Ok((StatusCode::CREATED, Json(json!({"Id": image_id}))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs() {
        assert!(ref_matches("busybox", "busybox:latest"));
        assert!(ref_matches("busy*", "busybox:1"));
        assert!(ref_matches("busybox:1*", "busybox:1.36"));
        assert!(!ref_matches("alpine", "busybox:latest"));
    }

    #[test]
    fn names_are_percent_decoded() {
        assert_eq!(percent_decode("a%2Fb%3A1"), "a/b:1");
    }
}
