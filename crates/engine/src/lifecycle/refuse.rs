//! Options a container asks for that berth cannot honour, refused with dockerd's errors
//! instead of being ignored: a log driver it has not got, GPUs without a GPU runtime, a
//! storage size the file system cannot limit, another runtime, another platform.

use bollard_stubs::models::HostConfig;

use crate::error::{EngineError, Result};

/// Log drivers dockerd 20.10 has built in.
const DOCKER_LOG_DRIVERS: &[&str] = &[
    "awslogs",
    "etwlogs",
    "fluentd",
    "gcplogs",
    "gelf",
    "journald",
    "json-file",
    "local",
    "logentries",
    "none",
    "splunk",
    "syslog",
];

/// Options of the json-file driver, as dockerd validates them.
const JSON_FILE_OPTS: &[&str] = &[
    "max-file",
    "max-size",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

/// Runtime names a container may ask for: berth's own, under Docker's default name too.
pub(crate) const RUNTIMES: &[&str] = &["runc", "berth"];

/// The runtime name recorded when a container names none (dockerd's default).
pub(crate) const DEFAULT_RUNTIME: &str = "runc";

/// The checks made at create.
pub(crate) fn at_create(h: &HostConfig, data_root: &std::path::Path) -> Result<()> {
    log_driver(h)?;
    runtime(h)?;
    storage_opt(h, data_root)
}

fn log_driver(h: &HostConfig) -> Result<()> {
    let Some(lc) = &h.log_config else {
        return Ok(());
    };
    let driver = lc.typ.as_deref().unwrap_or_default();
    match driver {
        "" | "json-file" => {
            if let Some(bad) = lc
                .config
                .iter()
                .flatten()
                .map(|(k, _)| k)
                .find(|k| !JSON_FILE_OPTS.contains(&k.as_str()))
            {
                return Err(EngineError::InvalidArgument(format!(
                    "unknown log opt '{bad}' for json-file log driver"
                )));
            }
            Ok(())
        }
        "none" => Ok(()),
        d if DOCKER_LOG_DRIVERS.contains(&d) => Err(EngineError::NotImplemented(format!(
            "logging driver {d} is not supported by berth (json-file and none are)"
        ))),
        d => Err(EngineError::InvalidArgument(format!(
            "error looking up logging plugin {d}: plugin \"{d}\" not found"
        ))),
    }
}

fn runtime(h: &HostConfig) -> Result<()> {
    match h.runtime.as_deref().unwrap_or_default() {
        "" => Ok(()),
        r if RUNTIMES.contains(&r) => Ok(()),
        r => Err(EngineError::InvalidArgument(format!(
            "Unknown runtime specified {r}"
        ))),
    }
}

/// berth sets no per-container size limit; dockerd's overlay2 can only on XFS with project
/// quotas, and says so everywhere else.
fn storage_opt(h: &HostConfig, data_root: &std::path::Path) -> Result<()> {
    if h.storage_opt.as_ref().is_none_or(|o| o.is_empty()) {
        return Ok(());
    }
    let xfs = nix::sys::statfs::statfs(data_root)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::XFS_SUPER_MAGIC);
    if xfs {
        return Err(EngineError::NotImplemented(
            "--storage-opt is not supported by berth".into(),
        ));
    }
    Err(EngineError::Refused(
        "--storage-opt is supported only for overlay over xfs with 'pquota' mount option".into(),
    ))
}

/// GPUs and other devices requested by capability need a device driver (NVIDIA's runtime
/// hook) berth does not have; dockerd fails the start the same way.
pub(crate) fn at_start(h: &HostConfig) -> Result<()> {
    let Some(r) = h.device_requests.as_ref().and_then(|r| r.first()) else {
        return Ok(());
    };
    let caps: Vec<String> = r
        .capabilities
        .iter()
        .flatten()
        .map(|set| format!("[{}]", set.join(" ")))
        .collect();
    Err(EngineError::Refused(format!(
        "could not select device driver {:?} with capabilities: [{}]",
        r.driver.clone().unwrap_or_default(),
        caps.join(" ")
    )))
}

/// A `platform` as containerd parses it: `os[/arch[/variant]]`, or a lone architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Platform {
    pub(crate) os: String,
    pub(crate) arch: String,
    pub(crate) variant: Option<String>,
}

fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    match (arch, variant) {
        ("x86_64" | "x86-64", _) => ("amd64".into(), None),
        ("aarch64", v) => ("arm64".into(), v.map(str::to_owned)),
        ("armhf", _) => ("arm".into(), Some("v7".into())),
        ("armel", _) => ("arm".into(), Some("v6".into())),
        ("i386", _) => ("386".into(), None),
        (a, v) => (a.to_owned(), v.map(str::to_owned)),
    }
}

impl Platform {
    pub(crate) fn parse(s: &str) -> Result<Self> {
        let bad = || {
            EngineError::InvalidArgument(format!(
                "{s:?}: cannot parse platform specifier: invalid argument"
            ))
        };
        let parts: Vec<&str> = s.split('/').collect();
        let valid = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if parts.len() > 3 || !parts.iter().all(|p| valid(p)) {
            return Err(bad());
        }
        let host_arch = normalize_arch(std::env::consts::ARCH, None).0;
        let (os, arch, variant) = match parts.as_slice() {
            [one] if matches!(*one, "linux" | "windows" | "darwin" | "freebsd") => {
                ((*one).to_owned(), host_arch, None)
            }
            [one] => ("linux".to_owned(), (*one).to_owned(), None),
            [os, arch] => ((*os).to_owned(), (*arch).to_owned(), None),
            [os, arch, variant] => ((*os).to_owned(), (*arch).to_owned(), Some(*variant)),
            _ => return Err(bad()),
        };
        let (arch, variant) = normalize_arch(&arch, variant);
        Ok(Self {
            os: os.to_ascii_lowercase(),
            arch,
            variant,
        })
    }

    fn shown(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.arch),
            None => format!("{}/{}", self.os, self.arch),
        }
    }
}

/// The image's platform against the one asked for (dockerd's 404, which makes the docker
/// CLI try a pull of the right one).
pub(crate) fn platform(
    wanted: &str,
    reference: &str,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> Result<()> {
    let w = Platform::parse(wanted)?;
    let (arch, variant) = normalize_arch(arch, variant);
    let actual = Platform {
        os: os.to_ascii_lowercase(),
        arch,
        variant,
    };
    let variant_ok = w.variant.is_none() || w.variant == actual.variant;
    if w.os == actual.os && w.arch == actual.arch && variant_ok {
        return Ok(());
    }
    Err(EngineError::PlatformMismatch(format!(
        "image with reference {reference} was found but does not match the specified platform: wanted {}, actual: {}",
        w.shown(),
        actual.shown()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::{DeviceRequest, HostConfigLogConfig};

    #[test]
    fn log_drivers_are_refused_as_dockerd_refuses_them() {
        let h = |t: &str| HostConfig {
            log_config: Some(HostConfigLogConfig {
                typ: Some(t.into()),
                config: None,
            }),
            ..Default::default()
        };
        assert!(log_driver(&h("json-file")).is_ok());
        assert!(log_driver(&h("none")).is_ok());
        assert_eq!(
            log_driver(&h("nope")).unwrap_err().to_string(),
            "error looking up logging plugin nope: plugin \"nope\" not found"
        );
        assert!(matches!(
            log_driver(&h("syslog")),
            Err(EngineError::NotImplemented(_))
        ));
    }

    #[test]
    fn gpus_need_a_device_driver() {
        let h = HostConfig {
            device_requests: Some(vec![DeviceRequest {
                driver: Some(String::new()),
                count: Some(-1),
                capabilities: Some(vec![vec!["gpu".into()]]),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(
            at_start(&h).unwrap_err().to_string(),
            "could not select device driver \"\" with capabilities: [[gpu]]"
        );
    }

    #[test]
    fn platforms_parse_and_compare_like_containerd() {
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap(),
            Platform {
                os: "linux".into(),
                arch: "arm64".into(),
                variant: Some("v8".into())
            }
        );
        assert!(Platform::parse("nope/nope/nope/nope").is_err());
        assert!(platform("linux/amd64", "busybox", "linux", "amd64", None).is_ok());
        assert!(platform("linux/x86_64", "busybox", "linux", "amd64", None).is_ok());
        assert_eq!(
            platform("linux/arm64", "busybox", "linux", "amd64", None)
                .unwrap_err()
                .to_string(),
            "image with reference busybox was found but does not match the specified \
             platform: wanted linux/arm64, actual: linux/amd64"
        );
    }
}
