//! What the engine remembers about a container, persisted as
//! `<data-root>/containers/<id>/config.v2.json` (atomic writes) and held in memory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bollard_stubs::models::{ContainerConfig, HostConfig};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::health::HealthState;
use super::state::Status;

/// The live part: Docker's `State`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub status: Status,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub oom_killed: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub health: Option<HealthState>,
    /// The monitor's pid while the container runs.
    pub monitor_pid: i32,
    /// Restarts done by the restart policy since the last manual start.
    pub restart_count: u32,
    /// Stopped or killed by the user: the restart policy stays out of it.
    pub manually_stopped: bool,
    /// Paused by a commit in progress, not by the user: a daemon that died mid-commit
    /// thaws it when it comes back.
    #[serde(default)]
    pub paused_for_commit: bool,
}

impl Default for RunState {
    fn default() -> Self {
        Self {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: None,
            finished_at: None,
            health: None,
            monitor_pid: 0,
            restart_count: 0,
            manually_stopped: false,
            paused_for_commit: false,
        }
    }
}

/// A mount the container has, as `docker inspect` lists it under `Mounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Volume name, for volumes.
    pub name: Option<String>,
    pub source: PathBuf,
    pub destination: String,
    pub rw: bool,
    pub mode: String,
    pub propagation: String,
    /// Tmpfs options, for tmpfs mounts.
    pub tmpfs_options: Option<String>,
    /// The directory inside the volume that is mounted (`VolumeOptions.Subpath`).
    #[serde(default)]
    pub subpath: Option<String>,
}

/// One network the container is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub network_id: String,
    pub endpoint_id: String,
    pub aliases: Vec<String>,
    pub links: Vec<String>,
    pub ip_address: String,
    pub prefix_len: u8,
    pub gateway: String,
    pub mac_address: String,
    /// The address asked for with `--ip`.
    pub requested_ip: Option<String>,
}

/// A published port: container port/proto → host ip:port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: String,
    pub host_port: u16,
}

/// The container's network state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NetRecord {
    /// By network name.
    pub networks: BTreeMap<String, EndpointRecord>,
    pub ports: Vec<PublishedPort>,
    /// The bind-mounted netns while running.
    pub sandbox_key: Option<PathBuf>,
}

/// Everything about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub created: DateTime<Utc>,
    /// The image as the user named it.
    pub image: String,
    /// `sha256:<hex>`.
    pub image_id: String,
    /// Docker's Config, merged with the image's defaults (what inspect shows).
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub state: RunState,
    pub net: NetRecord,
    pub mounts: Vec<MountRecord>,
    /// Entrypoint + cmd, split as inspect shows them (Path, Args).
    pub path: String,
    pub args: Vec<String>,
    pub log_path: Option<PathBuf>,
    pub hostname_path: PathBuf,
    pub hosts_path: PathBuf,
    pub resolv_conf_path: PathBuf,
    /// Exec instances created in this container.
    #[serde(default)]
    pub exec_ids: Vec<String>,
}

impl ContainerRecord {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    pub fn is_running(&self) -> bool {
        self.state.status.is_live()
    }
}
