//! The spec's namespaces, as clone flags for new ones and paths for joined ones.

use std::path::PathBuf;

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::SpecError;

/// What init does with namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamespacePlan {
    /// New namespaces created by the clone itself (all but cgroup).
    pub(crate) clone_flags: CloneFlags,
    /// A new cgroup namespace, unshared by init once it is in its cgroups.
    pub(crate) new_cgroup: bool,
    /// Namespaces joined by path, in the order init must join them (user first).
    pub(crate) join: Vec<(CloneFlags, PathBuf)>,
    /// A pid namespace joined by path: needs one more fork (setns affects children only).
    pub(crate) join_pid: Option<PathBuf>,
}

impl Default for NamespacePlan {
    fn default() -> Self {
        Self {
            clone_flags: CloneFlags::empty(),
            new_cgroup: false,
            join: Vec::new(),
            join_pid: None,
        }
    }
}

impl NamespacePlan {
    pub(crate) fn new_user(&self) -> bool {
        self.clone_flags.contains(CloneFlags::CLONE_NEWUSER)
    }

    pub(crate) fn has_mount_ns(&self) -> bool {
        self.clone_flags.contains(CloneFlags::CLONE_NEWNS)
            || self.join.iter().any(|(f, _)| *f == CloneFlags::CLONE_NEWNS)
    }
}

fn flag(t: LinuxNamespaceType) -> Option<CloneFlags> {
    Some(match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => return None,
    })
}

/// Join order: user first (it grants the rights to join the rest), then as runc's nsexec.
const JOIN_ORDER: [CloneFlags; 6] = [
    CloneFlags::CLONE_NEWUSER,
    CloneFlags::CLONE_NEWIPC,
    CloneFlags::CLONE_NEWUTS,
    CloneFlags::CLONE_NEWNET,
    CloneFlags::CLONE_NEWNS,
    CloneFlags::CLONE_NEWCGROUP,
];

pub(crate) fn plan(spec: &Spec) -> Result<NamespacePlan, SpecError> {
    let mut out = NamespacePlan::default();
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut seen = CloneFlags::empty();
    for ns in &namespaces {
        let Some(f) = flag(ns.typ()) else {
            return Err(SpecError::Unsupported(format!(
                "namespace type {:?}",
                ns.typ()
            )));
        };
        if seen.contains(f) {
            return Err(SpecError::Invalid(format!(
                "duplicate namespace {:?}",
                ns.typ()
            )));
        }
        seen |= f;
        match (ns.path(), f) {
            (Some(path), CloneFlags::CLONE_NEWPID) => out.join_pid = Some(path.clone()),
            (Some(path), _) => out.join.push((f, path.clone())),
            (None, CloneFlags::CLONE_NEWCGROUP) => out.new_cgroup = true,
            (None, _) => out.clone_flags |= f,
        }
    }
    out.join
        .sort_by_key(|(f, _)| JOIN_ORDER.iter().position(|o| o == f));
    if !out.has_mount_ns() {
        return Err(SpecError::Invalid("a mount namespace is required".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ns: &str) -> Spec {
        serde_json::from_str(&format!(
            r#"{{"ociVersion":"1.0.2","linux":{{"namespaces":{ns}}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn new_and_joined_namespaces() {
        let p = plan(&spec(r#"[{"type":"pid"},{"type":"mount"},{"type":"cgroup"},
            {"type":"network","path":"/run/berth/netns/x"},{"type":"user","path":"/proc/1/ns/user"}]"#)).unwrap();
        assert_eq!(
            p.clone_flags,
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS
        );
        assert!(p.new_cgroup);
        assert_eq!(
            p.join[0].0,
            CloneFlags::CLONE_NEWUSER,
            "user is joined first"
        );
        assert_eq!(
            p.join[1],
            (
                CloneFlags::CLONE_NEWNET,
                PathBuf::from("/run/berth/netns/x")
            )
        );
        assert!(p.join_pid.is_none());
    }

    #[test]
    fn pid_namespace_by_path_needs_a_fork() {
        let p = plan(&spec(
            r#"[{"type":"mount"},{"type":"pid","path":"/proc/7/ns/pid"}]"#,
        ))
        .unwrap();
        assert_eq!(p.join_pid, Some(PathBuf::from("/proc/7/ns/pid")));
        assert!(!p.clone_flags.contains(CloneFlags::CLONE_NEWPID));
    }

    #[test]
    fn rejects_duplicates_and_missing_mount_ns() {
        assert!(plan(&spec(r#"[{"type":"mount"},{"type":"mount"}]"#)).is_err());
        assert!(plan(&spec(r#"[{"type":"pid"}]"#)).is_err());
    }
}
