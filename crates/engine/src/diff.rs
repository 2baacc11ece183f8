//! `docker diff`: what the container's processes changed, without the runtime's own mount
//! points and generated files. dockerd keeps those in an init layer below the container's
//! writable one; berth makes them in the writable layer, so they are taken out here.

use berth_image::{Change, ChangeKind};

use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// What the runtime creates in every container (mount points for `/proc`, `/sys`, `/dev`
/// and everything under it, the generated `/etc` files), as dockerd's init layer holds them.
const RUNTIME_PATHS: &[&str] = &[
    "/dev",
    "/proc",
    "/sys",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/etc/mtab",
    "/.dockerenv",
];

fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Drops the runtime's paths, and directories that are in the list only because the
/// runtime made something inside them (an added `/etc`, or `/etc` copied up for a mount
/// point), unless something else beneath them changed. Deletions are always kept.
pub fn without_runtime_paths(changes: Vec<Change>, init: bool) -> Vec<Change> {
    // `--init` binds docker-init over a mount point the runtime makes.
    let init_path: &[&str] = if init { &["/sbin/docker-init"] } else { &[] };
    let runtime = |c: &Change| {
        c.kind != ChangeKind::Deleted
            && RUNTIME_PATHS
                .iter()
                .chain(init_path)
                .any(|p| under(&c.path, p))
    };
    let (dropped, kept): (Vec<Change>, Vec<Change>) = changes.into_iter().partition(runtime);
    let ancestor_of = |dir: &str, path: &str| path != dir && under(path, dir);
    kept.iter()
        .filter(|c| {
            c.kind == ChangeKind::Deleted
                || !dropped.iter().any(|d| ancestor_of(&c.path, &d.path))
                || kept.iter().any(|k| ancestor_of(&c.path, &k.path))
        })
        .cloned()
        .collect()
}

impl Engine {
    /// `GET /containers/{id}/changes`.
    pub fn changes(&self, key: &str) -> Result<Vec<Change>> {
        let rec = self.container(key)?;
        let all = self
            .images()
            .diff(&rec.id)
            .map_err(|e| EngineError::from_lib(&e))?;
        Ok(without_runtime_paths(
            all,
            rec.host_config.init.unwrap_or(false),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(path: &str, kind: ChangeKind) -> Change {
        Change {
            path: path.into(),
            kind,
        }
    }

    #[test]
    fn runtime_mount_points_and_their_parents_are_not_changes() {
        let all = vec![
            c("/dev", ChangeKind::Added),
            c("/dev/console", ChangeKind::Added),
            c("/etc", ChangeKind::Modified),
            c("/etc/hosts", ChangeKind::Added),
            c("/etc/resolv.conf", ChangeKind::Added),
            c("/proc", ChangeKind::Added),
            c("/test", ChangeKind::Added),
            c("/data", ChangeKind::Added),
        ];
        let got: Vec<String> = without_runtime_paths(all, false)
            .into_iter()
            .map(|c| c.path)
            .collect();
        assert_eq!(got, ["/test", "/data"]);
    }

    #[test]
    fn a_parent_with_real_changes_stays() {
        let all = vec![
            c("/etc", ChangeKind::Modified),
            c("/etc/group", ChangeKind::Deleted),
            c("/etc/hosts", ChangeKind::Added),
            c("/etc/passwd", ChangeKind::Modified),
        ];
        let got: Vec<String> = without_runtime_paths(all, false)
            .into_iter()
            .map(|c| c.path)
            .collect();
        assert_eq!(got, ["/etc", "/etc/group", "/etc/passwd"]);
    }

    #[test]
    fn the_init_mount_point_is_not_a_change_of_an_init_container() {
        let all = vec![
            c("/sbin", ChangeKind::Modified),
            c("/sbin/docker-init", ChangeKind::Added),
        ];
        assert!(without_runtime_paths(all.clone(), true).is_empty());
        assert_eq!(without_runtime_paths(all, false).len(), 2);
    }
}
