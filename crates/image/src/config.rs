//! Image configs (the JSON whose digest is the image ID), and `--change` instructions.

use bollard_stubs::models::ContainerConfig;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{ImageError, Result};

/// One history entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub typ: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// The fields of an image config berth reads or writes; others are kept as they were.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The config of the container a build step ran (Docker's classic builder writes it;
    /// its `Cmd` is the step, e.g. `/bin/sh -c #(nop) COPY ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_config: Option<ContainerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    #[serde(default)]
    pub history: Vec<History>,
    #[serde(default)]
    pub os: String,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl ImageConfig {
    pub fn parse(data: &[u8]) -> Result<Self> {
        serde_json::from_slice(data).map_err(|e| ImageError::invalid("image config", e.to_string()))
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| ImageError::invalid("image config", e.to_string()))
    }
}

/// RFC 3339 with nanoseconds, as Docker writes `created`.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Shell form `CMD echo hi` → `["/bin/sh", "-c", "echo hi"]`; JSON form as given.
fn command(arg: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(arg)
        .unwrap_or_else(|_| vec!["/bin/sh".into(), "-c".into(), arg.to_owned()])
}

/// `k=v k2="v 2"` or the legacy `k v`.
fn key_values(arg: &str) -> Vec<(String, String)> {
    if !arg.contains('=') {
        let (k, v) = arg.split_once(char::is_whitespace).unwrap_or((arg, ""));
        return vec![(k.to_owned(), v.trim().to_owned())];
    }
    let mut out = Vec::new();
    let mut rest = arg.trim();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().to_owned();
        rest = &rest[eq + 1..];
        let (value, tail) = if let Some(stripped) = rest.strip_prefix('"') {
            let end = stripped.find('"').unwrap_or(stripped.len());
            (
                stripped[..end].to_owned(),
                stripped.get(end + 1..).unwrap_or(""),
            )
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (rest[..end].to_owned(), &rest[end..])
        };
        out.push((key, value));
        rest = tail.trim_start();
    }
    out
}

/// Applies one `--change` instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER,
/// VOLUME, WORKDIR, STOPSIGNAL) to `c`.
pub fn apply_change(c: &mut ContainerConfig, change: &str) -> Result<()> {
    let change = change.trim();
    let (instr, arg) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let arg = arg.trim();
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => c.cmd = Some(command(arg)),
        "ENTRYPOINT" => c.entrypoint = Some(command(arg)),
        "ENV" => {
            let env = c.env.get_or_insert_with(Vec::new);
            for (k, v) in key_values(arg) {
                env.retain(|e| e.split('=').next() != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = c.labels.get_or_insert_with(Default::default);
            for (k, v) in key_values(arg) {
                labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            let ports = c.exposed_ports.get_or_insert_with(Vec::new);
            for p in arg.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_owned()
                } else {
                    format!("{p}/tcp")
                };
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
        }
        "VOLUME" => {
            let vols = c.volumes.get_or_insert_with(Vec::new);
            let list = serde_json::from_str::<Vec<String>>(arg)
                .unwrap_or_else(|_| arg.split_whitespace().map(str::to_owned).collect());
            for v in list {
                if !vols.contains(&v) {
                    vols.push(v);
                }
            }
        }
        "USER" => c.user = Some(arg.to_owned()),
        "WORKDIR" => c.working_dir = Some(arg.to_owned()),
        "STOPSIGNAL" => c.stop_signal = Some(arg.to_owned()),
        "ONBUILD" => c.on_build.get_or_insert_with(Vec::new).push(arg.to_owned()),
        other => {
            return Err(ImageError::invalid(
                format!("--change {change:?}"),
                format!("{other} is not a valid change command"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_like_docker() {
        let mut c = ContainerConfig::default();
        apply_change(&mut c, "CMD [\"sh\", \"-c\", \"echo hi\"]").unwrap();
        apply_change(&mut c, "ENTRYPOINT /init").unwrap();
        apply_change(&mut c, "ENV A=1 B=\"two words\"").unwrap();
        apply_change(&mut c, "ENV C 3").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut c, "WORKDIR /app").unwrap();
        assert_eq!(
            c.cmd,
            Some(vec!["sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(
            c.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "/init".into()])
        );
        assert_eq!(
            c.env,
            Some(vec!["A=1".into(), "B=two words".into(), "C=3".into()])
        );
        assert_eq!(
            c.exposed_ports,
            Some(vec!["80/tcp".into(), "53/udp".into()])
        );
        assert_eq!(c.working_dir.as_deref(), Some("/app"));
        assert!(apply_change(&mut c, "RUN rm -rf /").is_err());
    }

    #[test]
    fn configs_round_trip() {
        let cfg = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            rootfs: RootFs {
                typ: "layers".into(),
                diff_ids: vec![Digest::of(b"x")],
            },
            ..Default::default()
        };
        let bytes = cfg.to_bytes().unwrap();
        let back = ImageConfig::parse(&bytes).unwrap();
        assert_eq!(back.rootfs, cfg.rootfs);
    }
}
