//! Manifests: Docker's schema 2 and OCI image manifests, manifest lists and OCI indexes, and
//! choosing a platform from a list.

use serde::{Deserialize, Serialize};

use crate::error::{RegistryError, Result};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// What berth asks for (`Accept`), best first.
pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// A platform (`linux/arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The host's platform, in Go's names.
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Self {
            architecture: architecture.into(),
            os: "linux".into(),
            variant: variant.map(Into::into),
        }
    }

    /// `linux`, `linux/amd64`, `linux/arm64/v8`; missing parts are the host's.
    pub fn parse(s: &str) -> Result<Self> {
        let host = Self::host();
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty()).ok_or_else(|| {
            RegistryError::invalid(format!("platform {s:?}"), "expected os[/arch[/variant]]")
        })?;
        let arch = parts.next();
        let variant = parts.next();
        if parts.next().is_some() {
            return Err(RegistryError::invalid(
                format!("platform {s:?}"),
                "expected os[/arch[/variant]]",
            ));
        }
        let (architecture, variant) = match arch {
            None => (host.architecture, host.variant),
            Some(a) => normalise_arch(a, variant),
        };
        Ok(Self {
            architecture,
            os: os.to_ascii_lowercase(),
            variant,
        })
    }

    fn matches(&self, other: &Self) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => a == b,
                // arm64 images rarely say "v8"; a request without variant takes any.
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn normalise_arch(a: &str, variant: Option<&str>) -> (String, Option<String>) {
    let a = a.to_ascii_lowercase();
    let (arch, v) = match a.as_str() {
        "x86_64" | "x86-64" => ("amd64".to_owned(), variant),
        "aarch64" => ("arm64".to_owned(), variant),
        "armhf" => ("arm".to_owned(), Some("v7")),
        "armel" => ("arm".to_owned(), Some("v6")),
        _ => (a, variant),
    };
    (arch, v.map(str::to_owned))
}

/// An image manifest (Docker schema 2 or OCI).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A manifest list or OCI index.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    #[serde(default)]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

/// A parsed manifest of either kind.
#[derive(Debug, Clone)]
pub enum Manifest {
    Image(ImageManifest),
    Index(Index),
}

/// The media type of a manifest: the `mediaType` field, else the response's Content-Type.
fn kind_of(value: &serde_json::Value, content_type: &str) -> String {
    value
        .get("mediaType")
        .and_then(|m| m.as_str())
        .filter(|m| !m.is_empty())
        .unwrap_or(content_type)
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned()
}

impl Manifest {
    /// Parses `bytes` (served as `content_type`) for `what` (the reference, for errors).
    pub fn parse(bytes: &[u8], content_type: &str, what: &str) -> Result<(Self, String)> {
        let bad = |why: String| RegistryError::invalid(format!("manifest for {what}"), why);
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("malformed JSON: {e}")))?;
        let mut media = kind_of(&value, content_type);
        if SCHEMA1.contains(&media.as_str())
            || value
                .get("schemaVersion")
                .and_then(serde_json::Value::as_u64)
                == Some(1)
        {
            return Err(RegistryError::Unsupported(format!(
                "{what}: Docker image manifest schema 1 is deprecated and not supported; push the image again with a current client"
            )));
        }
        if value.get("manifests").is_some() {
            let idx: Index = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
            if media.is_empty() || media == "application/json" {
                media = OCI_INDEX.into();
            }
            return Ok((Self::Index(idx), media));
        }
        let m: ImageManifest = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        if m.schema_version != 2 {
            return Err(bad(format!(
                "unsupported schemaVersion {}",
                m.schema_version
            )));
        }
        if media.is_empty() || media == "application/json" {
            media = OCI_MANIFEST.into();
        }
        for l in &m.layers {
            check_layer(l, what)?;
        }
        Ok((Self::Image(m), media))
    }
}

/// Refuses layers berth cannot or may not fetch.
fn check_layer(l: &Descriptor, what: &str) -> Result<()> {
    let mt = l.media_type.as_str();
    if mt == DOCKER_FOREIGN_LAYER || mt.contains("nondistributable") {
        return Err(RegistryError::Unsupported(format!(
            "{what}: layer {} is a foreign (non-distributable) layer ({mt}); berth does not fetch layers from outside the registry",
            l.digest
        )));
    }
    let known = [
        DOCKER_LAYER_GZIP,
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        "application/vnd.docker.image.rootfs.diff.tar",
        "",
    ];
    if !known.contains(&mt) {
        return Err(RegistryError::Unsupported(format!(
            "{what}: layer {} has media type {mt}, which berth cannot unpack",
            l.digest
        )));
    }
    Ok(())
}

/// Picks the entry for `want` from an index (Docker's order: first exact match).
pub fn select<'a>(index: &'a Index, want: &Platform) -> Result<&'a Descriptor> {
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .ok_or_else(|| RegistryError::NoMatchingPlatform {
            platform: want.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
        {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:aa","size":1,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
        {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:bb","size":1,"platform":{"architecture":"amd64","os":"linux"}}]}"#;

    #[test]
    fn selects_the_platform() {
        let (m, media) = Manifest::parse(LIST.as_bytes(), "", "x").unwrap();
        assert_eq!(media, DOCKER_LIST);
        let Manifest::Index(i) = m else {
            panic!("not an index")
        };
        let amd = Platform::parse("linux/amd64").unwrap();
        assert_eq!(select(&i, &amd).unwrap().digest, "sha256:bb");
        let arm = Platform::parse("linux/arm64").unwrap();
        assert_eq!(select(&i, &arm).unwrap().digest, "sha256:aa");
        let e = select(&i, &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
    }

    #[test]
    fn refuses_foreign_layers_and_schema1() {
        let m = r#"{"schemaVersion":2,"config":{"digest":"sha256:c","size":1},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"sha256:f","size":1,"urls":["https://x"]}]}"#;
        let e = Manifest::parse(m.as_bytes(), DOCKER_MANIFEST, "w").unwrap_err();
        assert!(e.to_string().contains("foreign"), "{e}");
        let s1 = r#"{"schemaVersion":1,"name":"a","fsLayers":[]}"#;
        assert!(Manifest::parse(s1.as_bytes(), "", "w").is_err());
        assert!(Manifest::parse(b"{not json", "", "w").is_err());
        assert!(Manifest::parse(br#"{"schemaVersion":2}"#, "", "w").is_err());
    }
}
