//! The Compose Specification's model, normalized: what `load` produces and every command uses.
//! Files of format 2.x, 3.x and without `version` all read into it.

pub mod mounts;
pub mod ports;
pub mod service;
pub(crate) mod syntax;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use service::Service;

/// The top level of a (merged, interpolated) Compose file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Obsolete; accepted and ignored, as Compose v2 does.
    #[serde(default, skip_serializing)]
    pub version: Option<syntax::Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable_values"
    )]
    pub networks: BTreeMap<String, Network>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable_values"
    )]
    pub volumes: BTreeMap<String, Volume>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable_values"
    )]
    pub configs: BTreeMap<String, FileSource>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable_values"
    )]
    pub secrets: BTreeMap<String, FileSource>,
}

/// `networks: {front: }` declares `front` with defaults.
fn nullable_values<'de, D, T>(d: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(BTreeMap::<String, Option<T>>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// `external: true`, or the older `external: {name: x}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum External {
    #[default]
    No,
    Flag(bool),
    Named {
        name: String,
    },
}

impl External {
    pub fn is_external(&self) -> bool {
        matches!(self, Self::Flag(true) | Self::Named { .. })
    }

    fn is_no(&self) -> bool {
        !self.is_external()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The engine's name; `<project>_<key>` when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, syntax::Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(default, skip_serializing_if = "External::is_no")]
    pub external: External,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "syntax::labels"
    )]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, syntax::Scalar>,
    #[serde(default, skip_serializing_if = "External::is_no")]
    pub external: External,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "syntax::labels"
    )]
    pub labels: BTreeMap<String, String>,
}

/// A top-level config or secret. Only file-backed ones exist on a single engine: they are
/// bind-mounted read-only, as Compose does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "External::is_no")]
    pub external: External,
}

/// A loaded project: its name, where it lives, and its model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    pub name: String,
    /// The directory relative paths are resolved against (the first file's).
    #[serde(skip)]
    pub working_dir: std::path::PathBuf,
    /// The files it was read from, as given.
    #[serde(skip)]
    pub config_files: Vec<std::path::PathBuf>,
    #[serde(flatten)]
    pub file: File,
    /// Services present in the file but disabled by profiles.
    #[serde(skip)]
    pub disabled: BTreeMap<String, Service>,
}

impl Project {
    /// The engine name of a network key.
    pub fn network_name(&self, key: &str) -> String {
        let net = self.file.networks.get(key);
        if let Some(External::Named { name }) = net.map(|n| &n.external) {
            return name.clone();
        }
        match net.and_then(|n| n.name.clone()) {
            Some(n) => n,
            None if net.is_some_and(|n| n.external.is_external()) => key.to_owned(),
            None => format!("{}_{key}", self.name),
        }
    }

    /// The engine name of a volume key.
    pub fn volume_name(&self, key: &str) -> String {
        let vol = self.file.volumes.get(key);
        if let Some(External::Named { name }) = vol.map(|v| &v.external) {
            return name.clone();
        }
        match vol.and_then(|v| v.name.clone()) {
            Some(n) => n,
            None if vol.is_some_and(|v| v.external.is_external()) => key.to_owned(),
            None => format!("{}_{key}", self.name),
        }
    }

    /// The image a service runs: its `image`, else the one `build` tags (`<project>-<service>`,
    /// Compose v2's name).
    pub fn image_of(&self, service: &str) -> String {
        match self
            .file
            .services
            .get(service)
            .and_then(|s| s.image.clone())
        {
            Some(i) => i,
            None => format!("{}-{service}", self.name),
        }
    }
}
