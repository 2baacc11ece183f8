//! `docker image inspect` and `docker images` shapes.

use berth_image::ImageInfo;
use serde_json::{Value, json};

fn created_unix(info: &ImageInfo) -> i64 {
    info.created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map_or(0, |t| t.timestamp())
}

/// `GET /images/{name}/json`.
pub fn inspect(info: &ImageInfo) -> Value {
    json!({
        "Id": info.id,
        "RepoTags": info.repo_tags,
        "RepoDigests": info.repo_digests,
        "Parent": info.parent.clone().unwrap_or_default(),
        "Comment": info.comment.clone().unwrap_or_default(),
        "Created": info.created.clone().unwrap_or_else(|| super::ZERO_TIME.to_owned()),
        "DockerVersion": info.docker_version.clone().unwrap_or_default(),
        "Author": info.author.clone().unwrap_or_default(),
        "Config": info.config,
        "Architecture": info.architecture,
        "Variant": info.variant,
        "Os": info.os,
        "Size": info.size,
        "GraphDriver": { "Name": "overlay2", "Data": null },
        "RootFS": { "Type": "layers", "Layers": info.diff_ids },
        "Metadata": { "LastTagTime": super::ZERO_TIME },
    })
}

/// One entry of `GET /images/json`. `containers` is how many containers use it.
pub fn summary(info: &ImageInfo, containers: usize, shared_size: u64) -> Value {
    json!({
        "Id": info.id,
        "ParentId": info.parent.clone().unwrap_or_default(),
        "RepoTags": info.repo_tags,
        "RepoDigests": info.repo_digests,
        "Created": created_unix(info),
        "Size": info.size,
        "SharedSize": shared_size,
        "VirtualSize": info.size,
        "Labels": info.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default(),
        "Containers": containers,
    })
}
