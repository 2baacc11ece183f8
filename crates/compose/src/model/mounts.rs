//! A service's `volumes:` entries in both syntaxes: `src:dst[:mode]` and the long mapping
//! (bind, volume, tmpfs).

use serde::{Deserialize, Serialize};

use super::syntax::{Bytes, FromShort};

/// One mount, in its long form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// Host path (bind), volume name (volume, none for an anonymous one), unused for tmpfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    /// Compose creates a missing host directory for a short-syntax bind (Docker's `-v`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_host_path: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeOptions {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nocopy: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmpfsOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// A source that names a host path rather than a volume.
pub(crate) fn is_path(src: &str) -> bool {
    src.starts_with('.') || src.starts_with('/') || src.starts_with('~') || src.contains('/')
}

impl FromShort for Mount {
    fn from_short(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [t] => (None, *t, None),
            [src, t] => (Some(*src), *t, None),
            [src, t, m] => (Some(*src), *t, Some(*m)),
            _ => return Err(format!("invalid volume {s:?}: too many colons")),
        };
        if target.is_empty() || !target.starts_with('/') {
            return Err(format!(
                "invalid volume {s:?}: the container path must be absolute"
            ));
        }
        let mut read_only = false;
        let mut nocopy = false;
        let mut selinux = None;
        let mut propagation = None;
        for opt in mode.into_iter().flat_map(|m| m.split(',')) {
            match opt {
                "ro" => read_only = true,
                "rw" => read_only = false,
                "nocopy" => nocopy = true,
                "z" | "Z" => selinux = Some(opt.to_owned()),
                "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                    propagation = Some(opt.to_owned());
                }
                "consistent" | "cached" | "delegated" => {}
                _ => return Err(format!("invalid volume {s:?}: unknown mode {opt:?}")),
            }
        }
        let kind = match source {
            Some(src) if is_path(src) => MountKind::Bind,
            _ => MountKind::Volume,
        };
        Ok(Self {
            kind,
            source: source.map(String::from),
            target: target.to_owned(),
            read_only,
            consistency: None,
            bind: (kind == MountKind::Bind).then_some(BindOptions {
                propagation,
                create_host_path: Some(true),
                selinux,
            }),
            volume: (kind == MountKind::Volume && nocopy).then_some(VolumeOptions {
                nocopy,
                subpath: None,
            }),
            tmpfs: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_syntax() {
        let m = Mount::from_short("./conf:/etc/app:ro").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.kind, MountKind::Bind);
        assert!(m.read_only);
        let m = Mount::from_short("data:/var/lib/data").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.kind, MountKind::Volume);
        assert_eq!(m.source.as_deref(), Some("data"));
        let m = Mount::from_short("/scratch").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((m.kind, m.source), (MountKind::Volume, None));
        assert!(Mount::from_short("a:relative").is_err());
        assert!(Mount::from_short("a:/b:bogus").is_err());
    }
}
