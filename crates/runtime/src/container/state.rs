//! A container's persisted state (`<root>/<id>/state.json`) and its live status.
//!
//! The status is not stored: it is derived from the kernel every time (is the init process
//! alive — same pid *and* same start time, so a recycled pid is not mistaken for it —, is its
//! cgroup frozen, is the exec fifo still there), so it can never go stale.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::cgroups::Cgroup;

/// runtime-spec status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the runtime remembers about a container between invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Host pid of init.
    pub pid: i32,
    /// Start time of init in clock ticks since boot (field 22 of /proc/<pid>/stat).
    pub pid_start_time: u64,
    pub created: DateTime<Utc>,
    pub cgroup: Cgroup,
    /// The spec the container was created from (exec and delete need it).
    pub config: Spec,
}

impl crate::fsutil::record::Record for ContainerState {
    const KIND: &'static str = "runtime state";
    const SCHEMA_VERSION: u32 = 1;
}

impl ContainerState {
    /// Versioned JSON for `state.json`.
    pub(crate) fn encode(&self, path: &Path) -> crate::Result<Vec<u8>> {
        crate::fsutil::record::encode(self).map_err(|e| crate::RuntimeError::State {
            id: self.id.clone(),
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })
    }
}

/// Start time and state letter of a process, from /proc/<pid>/stat.
pub(crate) fn proc_stat(pid: i32) -> Option<(u64, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

impl ContainerState {
    /// True while init (this very process, not a recycled pid) exists and is not a zombie.
    pub fn init_alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some((start, state)) if start == self.pid_start_time && state != 'Z' && state != 'X')
    }

    /// The live status.
    pub fn status(&self, dir: &Path) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if self.cgroup.is_frozen().unwrap_or(false) {
            return Status::Paused;
        }
        if dir.join(super::EXEC_FIFO).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// The runtime-spec state document, as `runc state` prints it.
    pub fn oci_state(&self, status: Status) -> OciState {
        OciState {
            oci_version: self.config.version().clone(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created,
            owner: String::new(),
            annotations: self.config.annotations().clone().unwrap_or_default(),
        }
    }
}

/// runtime-spec `state` plus runc's extra fields (rootfs, created, owner), which containerd's
/// go-runc reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: DateTime<Utc>,
    pub owner: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

/// The state JSON hooks read on stdin.
pub(crate) fn hook_state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    spec: &Spec,
) -> Vec<u8> {
    let doc = serde_json::json!({
        "ociVersion": spec.version(),
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": spec.annotations().clone().unwrap_or_default(),
    });
    let mut out = serde_json::to_vec(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_stat() {
        let me = i32::try_from(std::process::id()).unwrap();
        let (start, state) = proc_stat(me).unwrap();
        assert!(start > 0);
        assert!(state == 'R' || state == 'S');
        assert!(proc_stat(i32::MAX).is_none());
    }
}
