//! `docker image inspect` and `docker images` shapes.

use berth_image::ImageInfo;
use serde_json::{Value, json};

use super::shape;
use crate::version::ApiVersion;

fn created_unix(info: &ImageInfo) -> i64 {
    info.created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map_or(0, |t| t.timestamp())
}

/// `GraphDriver` of an image: its top layer's files as `UpperDir`, the ones below as
/// `LowerDir` (top first), as dockerd's overlay2 names them; berth has no merged or work
/// directories for an image.
fn graph_driver(info: &ImageInfo, layer_files: &dyn Fn(&str) -> Option<String>) -> Value {
    let mut dirs: Vec<String> = info
        .layers
        .iter()
        .rev()
        .filter_map(|l| layer_files(l))
        .collect();
    let upper = if dirs.is_empty() {
        String::new()
    } else {
        dirs.remove(0)
    };
    let mut data = serde_json::Map::new();
    if !dirs.is_empty() {
        data.insert("LowerDir".into(), json!(dirs.join(":")));
    }
    data.insert("MergedDir".into(), json!(""));
    data.insert("UpperDir".into(), json!(upper));
    data.insert("WorkDir".into(), json!(""));
    json!({"Data": data, "Name": "overlay2"})
}

/// `GET /images/{name}/json`, in dockerd's order: `Container` and `ContainerConfig` until
/// API 1.45 removed them, `VirtualSize` until 1.44.
pub fn inspect(
    info: &ImageInfo,
    v: ApiVersion,
    layer_files: &dyn Fn(&str) -> Option<String>,
) -> Value {
    let config = shape::container_config();
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, val: Value| {
        m.insert(k.to_owned(), val);
    };
    put("Id", json!(info.id));
    put("RepoTags", json!(info.repo_tags));
    put("RepoDigests", json!(info.repo_digests));
    put("Parent", json!(info.parent.clone().unwrap_or_default()));
    put("Comment", json!(info.comment.clone().unwrap_or_default()));
    put(
        "Created",
        json!(
            info.created
                .clone()
                .unwrap_or_else(|| super::ZERO_TIME.to_owned())
        ),
    );
    if !v.at_least(1, 45) {
        put("Container", json!(""));
        put("ContainerConfig", shape::ordered(&json!({}), &config));
    }
    put(
        "DockerVersion",
        json!(info.docker_version.clone().unwrap_or_default()),
    );
    put("Author", json!(info.author.clone().unwrap_or_default()));
    put(
        "Config",
        info.config
            .as_ref()
            .map_or(Value::Null, |c| shape::model(c, &config)),
    );
    put("Architecture", json!(info.architecture));
    if let Some(variant) = info.variant.as_ref().filter(|v| !v.is_empty()) {
        put("Variant", json!(variant));
    }
    put("Os", json!(info.os));
    put("Size", json!(info.size));
    if !v.at_least(1, 44) {
        put("VirtualSize", json!(info.size));
    }
    put("GraphDriver", graph_driver(info, layer_files));
    put(
        "RootFS",
        json!({ "Type": "layers", "Layers": info.diff_ids }),
    );
    put("Metadata", json!({ "LastTagTime": super::ZERO_TIME }));
    Value::Object(m)
}

/// One entry of `GET /images/json`, with dockerd's (alphabetical) key order; `VirtualSize`
/// until API 1.44. `containers` is how many containers use it.
pub fn summary(info: &ImageInfo, containers: usize, shared_size: u64, v: ApiVersion) -> Value {
    let labels = info
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .filter(|l| !l.is_empty());
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, val: Value| {
        m.insert(k.to_owned(), val);
    };
    put("Containers", json!(containers));
    put("Created", json!(created_unix(info)));
    put("Id", json!(info.id));
    put("Labels", json!(labels));
    put("ParentId", json!(info.parent.clone().unwrap_or_default()));
    if info.repo_digests.is_empty() && info.repo_tags.is_empty() {
        // dockerd's placeholders for an image with no name.
        put("RepoDigests", json!(["<none>@<none>"]));
        put("RepoTags", json!(["<none>:<none>"]));
    } else {
        put("RepoDigests", null_if_empty(&info.repo_digests));
        put("RepoTags", null_if_empty(&info.repo_tags));
    }
    put("SharedSize", json!(shared_size));
    put("Size", json!(info.size));
    if !v.at_least(1, 44) {
        put("VirtualSize", json!(info.size));
    }
    Value::Object(m)
}

fn null_if_empty(v: &[String]) -> Value {
    if v.is_empty() { Value::Null } else { json!(v) }
}
