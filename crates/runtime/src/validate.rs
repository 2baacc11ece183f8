//! Spec validation before anything is created: a spec berth cannot honour is refused with a
//! message naming the field, and nothing is left behind.

use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::SpecError;

fn invalid(msg: impl Into<String>) -> SpecError {
    SpecError::Invalid(msg.into())
}

/// Checks the parts of the spec the runtime relies on.
pub(crate) fn spec(spec: &Spec) -> Result<(), SpecError> {
    if !spec.version().starts_with("1.") {
        return Err(invalid(format!(
            "ociVersion {:?}: berth runs runtime-spec 1.x",
            spec.version()
        )));
    }
    if spec
        .root()
        .as_ref()
        .is_none_or(|r| r.path().as_os_str().is_empty())
    {
        return Err(invalid("root.path is required"));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process is required"))?;
    if process.args().as_ref().is_none_or(Vec::is_empty) {
        return Err(invalid("process.args must not be empty"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(format!(
            "process.cwd {:?} must be an absolute path",
            process.cwd()
        )));
    }
    for m in spec.mounts().iter().flatten() {
        if !m.destination().is_absolute() {
            return Err(invalid(format!(
                "mount destination {:?} must be an absolute path",
                m.destination()
            )));
        }
    }
    let has_new = |t: LinuxNamespaceType| {
        spec.linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
    };
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
        && !has_new(LinuxNamespaceType::Uts)
    {
        return Err(invalid("hostname requires a UTS namespace"));
    }
    if has_new(LinuxNamespaceType::User) {
        let linux = spec.linux().as_ref();
        if linux
            .and_then(|l| l.uid_mappings().as_ref())
            .is_none_or(Vec::is_empty)
            || linux
                .and_then(|l| l.gid_mappings().as_ref())
                .is_none_or(Vec::is_empty)
        {
            return Err(invalid(
                "a user namespace needs linux.uidMappings and linux.gidMappings",
            ));
        }
    }
    if has_new(LinuxNamespaceType::Time) {
        return Err(SpecError::Unsupported("the time namespace".into()));
    }
    sysctls(spec, &has_new)
}

/// A sysctl may only be set in the namespace that isolates it (runc's rules).
fn sysctls(spec: &Spec, has_new: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<(), SpecError> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for key in map.keys() {
        let ipc = [
            "kernel.msgmax",
            "kernel.msgmnb",
            "kernel.msgmni",
            "kernel.sem",
            "kernel.shmall",
            "kernel.shmmax",
            "kernel.shmmni",
            "kernel.shm_rmid_forced",
        ];
        let ns = if ipc.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            LinuxNamespaceType::Ipc
        } else if key.starts_with("net.") {
            LinuxNamespaceType::Network
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            LinuxNamespaceType::Uts
        } else {
            return Err(invalid(format!(
                "sysctl {key:?} is not namespaced and cannot be set in a container"
            )));
        };
        if !has_new(ns) && !joined(spec, ns) {
            return Err(invalid(format!("sysctl {key:?} needs a {ns:?} namespace")));
        }
    }
    Ok(())
}

fn joined(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == t && n.path().as_deref().is_some_and(|p| p != Path::new("")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<(), SpecError> {
        spec(&serde_json::from_str(json).unwrap())
    }

    const OK: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
        "hostname":"h","linux":{"namespaces":[{"type":"mount"},{"type":"uts"},{"type":"network"}],
        "sysctl":{"net.ipv4.ip_forward":"1"}}}"#;

    #[test]
    fn accepts_a_sane_spec() {
        check(OK).unwrap();
    }

    #[test]
    fn rejects_what_cannot_run() {
        let cases = [
            (
                r#""ociVersion":"1.0.2""#,
                r#""ociVersion":"2.0.0""#,
                "ociVersion",
            ),
            (r#""args":["sh"]"#, r#""args":[]"#, "process.args"),
            (r#""cwd":"/""#, r#""cwd":"rel""#, "process.cwd"),
            (r#"{"type":"uts"},"#, "", "hostname requires"),
            (
                r#""net.ipv4.ip_forward""#,
                r#""kernel.panic""#,
                "not namespaced",
            ),
            (r#"{"type":"network"}"#, r#"{"type":"user"}"#, "uidMappings"),
        ];
        for (from, to, needle) in cases {
            let bad = OK.replacen(from, to, 1);
            let err = check(&bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
