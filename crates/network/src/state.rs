//! What the network controller persists (`<state-dir>/networks.json`, written atomically):
//! networks with their address allocations, and endpoints with their published ports.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};
use crate::ipam::{Allocations, Subnet};
use crate::ports::BoundPort;

/// A bridge network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// The Linux bridge.
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub internal: bool,
    pub icc: bool,
    pub mtu: u32,
    pub labels: HashMap<String, String>,
    pub options: HashMap<String, String>,
    pub created: chrono::DateTime<chrono::Utc>,
    /// The default `bridge` network (no DNS, links allowed).
    pub default: bool,
    pub allocations: Allocations,
    /// Created with a subnet and no gateway: IPAM lists the subnet alone, as dockerd does.
    #[serde(default)]
    pub subnet_only: bool,
}

/// A container's attachment to a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub id: String,
    pub container_id: String,
    pub container_name: String,
    pub network_id: String,
    pub ip: Ipv4Addr,
    pub mac: String,
    pub ifname: String,
    pub host_ifname: String,
    pub aliases: Vec<String>,
    pub ports: Vec<BoundPort>,
    pub netns: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) networks: BTreeMap<String, NetworkRecord>,
    pub(crate) endpoints: Vec<EndpointRecord>,
}

impl State {
    pub(crate) fn load(dir: &Path) -> Self {
        std::fs::read(dir.join("networks.json"))
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default()
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(NetError::io(format!("creating {}", dir.display())))?;
        let data = serde_json::to_vec_pretty(self).map_err(|e| NetError::Invalid(e.to_string()))?;
        berth_fsutil::atomic_write(&dir.join("networks.json"), &data)
            .map_err(NetError::io("writing the network state"))
    }

    /// A network by name, full id or unique id prefix.
    pub(crate) fn find(&self, key: &str) -> Option<&NetworkRecord> {
        if let Some(n) = self
            .networks
            .values()
            .find(|n| n.name == key || n.id == key)
        {
            return Some(n);
        }
        let mut it = self
            .networks
            .values()
            .filter(|n| !key.is_empty() && n.id.starts_with(key));
        match (it.next(), it.next()) {
            (Some(n), None) => Some(n),
            _ => None,
        }
    }
}
