//! The rootfs plan: everything init will do to the mount namespace, computed from the spec as
//! plain data before any process exists. The executor (`apply.rs`) is a thin loop over it;
//! this file is tested without root.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDeviceType, Spec};

use super::flags::{self, ParsedOptions};

/// What to mount where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// Bind mount of a host path (absolute; relative spec sources are taken from the bundle).
    Bind(PathBuf),
    /// A filesystem instance: `fstype` with `source` as its device name.
    Fs { fstype: String, source: String },
}

/// One mount, in spec order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedMount {
    pub(crate) source: Source,
    /// Destination inside the rootfs (absolute, as in the spec).
    pub(crate) dest: PathBuf,
    pub(crate) options: ParsedOptions,
}

impl PlannedMount {
    /// Bind mounts of files need a file as mount point; everything else a directory.
    pub(crate) fn source_is_file(&self) -> bool {
        match &self.source {
            Source::Bind(p) => std::fs::metadata(p).is_ok_and(|m| !m.is_dir()),
            Source::Fs { .. } => false,
        }
    }
}

/// A device node init creates in the container's /dev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceNode {
    pub(crate) path: PathBuf,
    pub(crate) kind: LinuxDeviceType,
    pub(crate) major: u64,
    pub(crate) minor: u64,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// How the host's cgroup hierarchies look, so a spec mount of type `cgroup` can be expanded
/// into what the container needs to see its own cgroups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CgroupMountLayout {
    /// cgroup2 mounted at /sys/fs/cgroup.
    #[default]
    V2,
    /// v1 controllers (directory name, mount data such as `cpu` or `name=systemd`), and
    /// whether a cgroup2 hierarchy is mounted at `unified` (hybrid).
    V1 {
        controllers: Vec<(String, String)>,
        unified: bool,
    },
    /// No cgroup namespace: the container's own cgroup directories bind-mounted (directory
    /// name, host path), as runc shows them, so it sees its own limits, not the host's tree.
    V1Bind {
        binds: Vec<(String, PathBuf)>,
        unified: Option<PathBuf>,
    },
    /// No cgroup namespace on a v2 host: the container's cgroup bind-mounted.
    V2Bind(PathBuf),
}

/// Everything init does to the mount namespace, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountPlan {
    /// Propagation applied recursively to `/` first, so nothing leaks back to the host.
    pub(crate) root_propagation: MsFlags,
    pub(crate) mounts: Vec<PlannedMount>,
    /// Device nodes to create; empty when /dev is bind-mounted from the host.
    pub(crate) devices: Vec<DeviceNode>,
    /// (link, target) pairs in /dev.
    pub(crate) dev_symlinks: Vec<(PathBuf, PathBuf)>,
    pub(crate) masked: Vec<PathBuf>,
    pub(crate) readonly: Vec<PathBuf>,
    pub(crate) readonly_root: bool,
}

const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// Computes the plan. `bundle` resolves relative bind sources.
pub(crate) fn plan(spec: &Spec, bundle: &Path, cgroups: &CgroupMountLayout) -> MountPlan {
    let mut mounts = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let options = flags::parse(m.options().as_deref().unwrap_or_default());
        let fstype = m.typ().clone().unwrap_or_default();
        let dest = m.destination().clone();
        if fstype == "cgroup" || fstype == "cgroup2" {
            mounts.extend(expand_cgroup_mount(&dest, &options, cgroups));
            continue;
        }
        let source = if options.is_bind() || fstype == "bind" {
            let src = m.source().clone().unwrap_or_default();
            Source::Bind(if src.is_absolute() {
                src
            } else {
                bundle.join(src)
            })
        } else {
            let src = m
                .source()
                .as_ref()
                .map(|s| s.to_string_lossy().into_owned());
            Source::Fs {
                source: src.unwrap_or_else(|| fstype.clone()),
                fstype,
            }
        };
        let mut options = options;
        if matches!(source, Source::Bind(_)) {
            options.flags.insert(MsFlags::MS_BIND);
        }
        mounts.push(PlannedMount {
            source,
            dest,
            options,
        });
    }
    let linux = spec.linux().as_ref();
    let dev_is_bind = mounts
        .iter()
        .any(|m| m.dest == Path::new("/dev") && matches!(m.source, Source::Bind(_)));
    let devices = if dev_is_bind {
        Vec::new()
    } else {
        devices(spec)
    };
    let has_devpts = mounts.iter().any(|m| m.dest == Path::new("/dev/pts"));
    MountPlan {
        root_propagation: root_propagation(spec),
        mounts,
        devices,
        dev_symlinks: dev_symlinks(has_devpts),
        masked: linux
            .and_then(|l| l.masked_paths().clone())
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        readonly: linux
            .and_then(|l| l.readonly_paths().clone())
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        readonly_root: spec
            .root()
            .as_ref()
            .is_some_and(|r| r.readonly().unwrap_or(false)),
    }
}

fn root_propagation(spec: &Spec) -> MsFlags {
    let requested = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone());
    let parsed = requested.map(|p| flags::parse(&[p]).propagation);
    match parsed.as_deref() {
        Some([p]) => *p | MsFlags::MS_REC,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    }
}

/// A `cgroup` mount becomes: a tmpfs with one cgroup mount per v1 hierarchy (and the unified
/// one on hybrid hosts), or a single cgroup2 mount. With a cgroup namespace each shows the
/// container's own cgroup as its root.
fn expand_cgroup_mount(
    dest: &Path,
    opts: &ParsedOptions,
    layout: &CgroupMountLayout,
) -> Vec<PlannedMount> {
    let flags = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
    let fs = |fstype: &str, data: Option<&str>, dest: PathBuf, flags: MsFlags| PlannedMount {
        source: Source::Fs {
            fstype: fstype.to_owned(),
            source: fstype.to_owned(),
        },
        dest,
        options: ParsedOptions {
            flags,
            data: data.map(|d| vec![d.to_owned()]).unwrap_or_default(),
            ..ParsedOptions::default()
        },
    };
    let bind = |host: &Path, dest: PathBuf| PlannedMount {
        source: Source::Bind(host.to_path_buf()),
        dest,
        options: ParsedOptions {
            flags: flags | MsFlags::MS_BIND,
            ..ParsedOptions::default()
        },
    };
    match layout {
        CgroupMountLayout::V2 => vec![fs("cgroup2", None, dest.to_path_buf(), flags)],
        CgroupMountLayout::V2Bind(host) => vec![bind(host, dest.to_path_buf())],
        CgroupMountLayout::V1Bind { binds, unified } => {
            let mut out = vec![fs(
                "tmpfs",
                Some("mode=755"),
                dest.to_path_buf(),
                flags & !MsFlags::MS_RDONLY,
            )];
            for (dir, host) in binds {
                out.push(bind(host, dest.join(dir)));
            }
            if let Some(u) = unified {
                out.push(bind(u, dest.join("unified")));
            }
            if flags.contains(MsFlags::MS_RDONLY) {
                out.push(fs(
                    "tmpfs",
                    None,
                    dest.to_path_buf(),
                    flags | MsFlags::MS_REMOUNT,
                ));
            }
            out
        }
        CgroupMountLayout::V1 {
            controllers,
            unified,
        } => {
            // The tmpfs is made read-only only after the hierarchies are mounted on it.
            let mut out = vec![fs(
                "tmpfs",
                Some("mode=755"),
                dest.to_path_buf(),
                flags & !MsFlags::MS_RDONLY,
            )];
            for (dir, data) in controllers {
                out.push(fs("cgroup", Some(data), dest.join(dir), flags));
            }
            if *unified {
                out.push(fs("cgroup2", None, dest.join("unified"), flags));
            }
            if flags.contains(MsFlags::MS_RDONLY) {
                let mut remount = fs(
                    "tmpfs",
                    None,
                    dest.to_path_buf(),
                    flags | MsFlags::MS_REMOUNT,
                );
                remount.source = Source::Fs {
                    fstype: "tmpfs".into(),
                    source: "tmpfs".into(),
                };
                out.push(remount);
            }
            out
        }
    }
}

fn devices(spec: &Spec) -> Vec<DeviceNode> {
    let mut out: Vec<DeviceNode> = DEFAULT_DEVICES
        .iter()
        .map(|&(path, major, minor)| DeviceNode {
            path: PathBuf::from(path),
            kind: LinuxDeviceType::C,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    let spec_devices = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    for d in spec_devices {
        let node = DeviceNode {
            path: d.path().clone(),
            kind: d.typ(),
            major: u64::try_from(d.major()).unwrap_or(0),
            minor: u64::try_from(d.minor()).unwrap_or(0),
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        out.retain(|existing| existing.path != node.path);
        out.push(node);
    }
    out
}

fn dev_symlinks(has_devpts: bool) -> Vec<(PathBuf, PathBuf)> {
    let mut links = vec![
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/dev/core", "/proc/kcore"));
    }
    if has_devpts {
        links.push(("/dev/ptmx", "pts/ptmx"));
    }
    links
        .into_iter()
        .map(|(l, t)| (PathBuf::from(l), PathBuf::from(t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    const BASE: &str = r#"{
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","strictatime","mode=755","size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid","noexec","nodev","relatime","ro"]},
            {"destination": "/data", "type": "bind", "source": "data", "options": ["rbind","ro"]}
        ],
        "linux": {
            "maskedPaths": ["/proc/kcore"],
            "readonlyPaths": ["/proc/sys"],
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]
        }
    }"#;

    #[test]
    fn plans_mounts_devices_and_paths() {
        let p = plan(&spec(BASE), Path::new("/bundle"), &CgroupMountLayout::V2);
        assert_eq!(p.root_propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert!(p.readonly_root);
        let dests: Vec<_> = p.mounts.iter().map(|m| m.dest.to_str().unwrap()).collect();
        assert_eq!(
            dests,
            ["/proc", "/dev", "/dev/pts", "/sys/fs/cgroup", "/data"]
        );
        assert_eq!(
            p.mounts[4].source,
            Source::Bind(PathBuf::from("/bundle/data"))
        );
        assert!(
            p.mounts[4]
                .options
                .flags
                .contains(MsFlags::MS_RDONLY | MsFlags::MS_BIND)
        );
        assert!(matches!(&p.mounts[3].source, Source::Fs { fstype, .. } if fstype == "cgroup2"));
        assert_eq!(p.devices.len(), 7);
        assert!(
            p.devices
                .iter()
                .any(|d| d.path == Path::new("/dev/fuse") && d.major == 10)
        );
        assert!(
            p.dev_symlinks
                .iter()
                .any(|(l, t)| l == Path::new("/dev/ptmx") && t == Path::new("pts/ptmx"))
        );
        assert_eq!(p.masked, [PathBuf::from("/proc/kcore")]);
        assert_eq!(p.readonly, [PathBuf::from("/proc/sys")]);
    }

    #[test]
    fn cgroup_mount_expands_on_hybrid_hosts() {
        let layout = CgroupMountLayout::V1 {
            controllers: vec![
                ("cpu".into(), "cpu".into()),
                ("systemd".into(), "name=systemd".into()),
            ],
            unified: true,
        };
        let p = plan(&spec(BASE), Path::new("/b"), &layout);
        let cg: Vec<_> = p
            .mounts
            .iter()
            .filter(|m| m.dest.starts_with("/sys/fs/cgroup"))
            .collect();
        let shape: Vec<_> = cg
            .iter()
            .map(|m| match &m.source {
                Source::Fs { fstype, .. } => (
                    fstype.as_str(),
                    m.dest.to_str().unwrap(),
                    m.options.data_string(),
                ),
                Source::Bind(_) => unreachable!(),
            })
            .collect();
        assert_eq!(
            shape[0],
            ("tmpfs", "/sys/fs/cgroup", Some("mode=755".into()))
        );
        assert_eq!(
            shape[1],
            ("cgroup", "/sys/fs/cgroup/cpu", Some("cpu".into()))
        );
        assert_eq!(
            shape[2],
            (
                "cgroup",
                "/sys/fs/cgroup/systemd",
                Some("name=systemd".into())
            )
        );
        assert_eq!(shape[3], ("cgroup2", "/sys/fs/cgroup/unified", None));
        assert!(
            cg[4]
                .options
                .flags
                .contains(MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY)
        );
        assert!(!cg[0].options.flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn bind_mounted_dev_means_no_device_nodes() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "mounts":[{"destination":"/dev","type":"bind","source":"/dev","options":["rbind"]}]}"#,
        );
        let p = plan(&s, Path::new("/b"), &CgroupMountLayout::V2);
        assert!(p.devices.is_empty());
        assert!(!p.readonly_root);
    }

    #[test]
    fn rootfs_propagation_is_honoured() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"linux":{"rootfsPropagation":"private"}}"#,
        );
        let p = plan(&s, Path::new("/b"), &CgroupMountLayout::V2);
        assert_eq!(p.root_propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
    }
}
