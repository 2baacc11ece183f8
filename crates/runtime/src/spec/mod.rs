//! Default OCI specs: what `berth runtime spec` writes, and the pieces the engine uses to give
//! every container what Docker gives it by default (capabilities, masked and read-only
//! paths, mounts, the seccomp profile).

use oci_spec::runtime::Spec;

/// Docker's default capability set; inside a container: CapEff 00000000a80425fb.
pub const DOCKER_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths Docker hides from containers (an empty tmpfs over directories, /dev/null over files).
pub fn masked_paths() -> Vec<String> {
    [
        "/proc/asound",
        "/proc/acpi",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Paths Docker makes read-only in containers.
pub fn readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Options of [`default_spec`].
#[derive(Debug, Clone, Default)]
pub struct SpecOptions {
    /// A spec for a user-namespaced container (like `runc spec --rootless`).
    pub rootless: bool,
    /// Allocate a terminal (runc's default spec does).
    pub terminal: bool,
}

/// Docker's default mounts, as spec JSON.
fn mounts_json(rootless: bool) -> serde_json::Value {
    let mut m = serde_json::json!([
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}
    ]);
    if rootless {
        // Without a network namespace of its own sysfs cannot be mounted: bind the host's.
        m[3] = serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        m[2]["options"] = serde_json::json!([
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620"
        ]);
    }
    m
}

/// The spec `berth runtime spec` writes: Docker's defaults for a container running `sh`.
pub fn default_spec(opts: &SpecOptions) -> Spec {
    let caps = DOCKER_DEFAULT_CAPS;
    let cap_names: Vec<String> = caps.iter().map(|s| (*s).to_owned()).collect();
    let seccomp =
        crate::seccomp::resolve_for_host(&crate::seccomp::docker_default(), &cap_names).ok();
    let mut namespaces = vec![
        serde_json::json!({"type": "pid"}),
        serde_json::json!({"type": "ipc"}),
        serde_json::json!({"type": "uts"}),
        serde_json::json!({"type": "mount"}),
        serde_json::json!({"type": "cgroup"}),
    ];
    if opts.rootless {
        namespaces.push(serde_json::json!({"type": "user"}));
    } else {
        namespaces.push(serde_json::json!({"type": "network"}));
    }
    let mut doc = serde_json::json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": opts.terminal,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            // Within this host's hard limit (20000 here): a spec must not ask for more than
            // the host allows.
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": false
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "berth",
        "mounts": mounts_json(opts.rootless),
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": masked_paths(),
            "readonlyPaths": readonly_paths()
        }
    });
    if let Some(s) = seccomp {
        doc["linux"]["seccomp"] = serde_json::to_value(s).unwrap_or_default();
    }
    if opts.rootless {
        let (uid, gid) = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        doc["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        doc["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        doc["linux"]["resources"] = serde_json::json!({});
    }
    serde_json::from_value(doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_caps_are_dockers_bitmask() {
        let bits: u64 = DOCKER_DEFAULT_CAPS
            .iter()
            .map(|c| c.parse::<caps::Capability>().unwrap().index())
            .fold(0, |acc, i| acc | (1u64 << i));
        assert_eq!(format!("{bits:016x}"), "00000000a80425fb");
    }

    #[test]
    fn default_spec_has_dockers_shape() {
        let s = default_spec(&SpecOptions::default());
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &vec!["sh".to_owned()]);
        assert_eq!(
            p.capabilities()
                .as_ref()
                .unwrap()
                .effective()
                .as_ref()
                .unwrap()
                .len(),
            14
        );
        let l = s.linux().as_ref().unwrap();
        assert!(l.seccomp().is_some());
        assert!(
            l.masked_paths()
                .as_ref()
                .unwrap()
                .contains(&"/proc/kcore".to_owned())
        );
        assert_eq!(l.namespaces().as_ref().unwrap().len(), 6);
        assert!(p.rlimits().as_ref().unwrap()[0].hard() <= 20000);
        let r = default_spec(&SpecOptions {
            rootless: true,
            ..Default::default()
        });
        assert!(r.linux().as_ref().unwrap().uid_mappings().is_some());
    }
}
