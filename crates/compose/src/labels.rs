//! Compose's labels, exactly as Compose v2 and docker-compose 1.x write them, so either tool
//! recognises the other's containers, networks and volumes; and the config hash that decides
//! whether a container is still what the file describes.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::{Project, Service};

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const ENVIRONMENT_FILE: &str = "com.docker.compose.project.environment_file";
pub const VERSION: &str = "com.docker.compose.version";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
pub const IMAGE: &str = "com.docker.compose.image";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";

/// The value of `com.docker.compose.version`: a Compose v2 generation marker that
/// docker-compose 1.x can parse (it compares versions with `LooseVersion`).
pub const COMPOSE_VERSION: &str = concat!("2.0.0-berth-", env!("CARGO_PKG_VERSION"));

/// Labels every object of the project carries.
pub(crate) fn project_labels(project: &Project) -> Vec<(String, String)> {
    vec![
        (PROJECT.into(), project.name.clone()),
        (VERSION.into(), COMPOSE_VERSION.into()),
    ]
}

/// A `label=` filter for the Engine API's list endpoints.
pub(crate) fn filter(pairs: &[(&str, &str)]) -> String {
    let labels: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    serde_json::json!({ "label": labels }).to_string()
}

/// sha256 of the service's configuration with what does not change a container left out
/// (scale, build instructions, profiles, pull policy, start order): the same file hashes the
/// same, and a change to a service changes its hash alone. The image it runs is compared
/// separately, by id, so a rebuild recreates too.
pub(crate) fn config_hash(project: &Project, name: &str, svc: &Service) -> String {
    let mut s = svc.clone();
    s.scale = None;
    s.build = None;
    s.profiles.clear();
    s.pull_policy = None;
    s.depends_on.clear();
    if let Some(d) = &mut s.deploy {
        d.replicas = None;
    }
    let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
    // Names the engine sees depend on the project, not only on the service.
    let networks: Vec<String> = svc
        .network_names()
        .iter()
        .map(|n| project.network_name(n))
        .collect();
    v["x-service"] = Value::from(name);
    v["x-networks"] = Value::from(networks);
    v["x-image"] = Value::from(project.image_of(name));
    hex::encode(Sha256::digest(canonical(&v).as_bytes()))
}

/// JSON with object keys sorted at every level, so the hash does not depend on field order.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}
