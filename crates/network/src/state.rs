//! What the network controller persists (`<state-dir>/networks.json`, written atomically):
//! networks with their address allocations, and endpoints with their published ports.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_fsutil::record::{self, Loaded, Record};
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

impl Record for State {
    const KIND: &'static str = "network state";
    const SCHEMA_VERSION: u32 = 1;
}

impl State {
    /// Loads `networks.json`, with what had to be moved aside: a file that does not parse is
    /// renamed `networks.json.corrupt-<time>` (and reported at every start while it is
    /// there), and networking starts from the default network. A file that cannot be read
    /// stops the start.
    pub(crate) fn load(dir: &Path) -> Result<(Self, Vec<String>)> {
        let path = dir.join("networks.json");
        let mut warnings: Vec<String> = record::quarantined_in(dir)
            .into_iter()
            .map(|p| {
                format!(
                    "network state moved aside by an earlier start: {}",
                    p.display()
                )
            })
            .collect();
        let state = match record::load::<State>(&path).map_err(|e| NetError::Record(Box::new(e)))? {
            Loaded::Record(s) => s,
            Loaded::Missing => Self::default(),
            Loaded::Corrupt(why) => {
                let to = record::quarantine(&path).map_err(|e| NetError::Record(Box::new(e)))?;
                let msg = format!(
                    "network state {} does not parse ({why}): moved aside to {}; starting with the default network",
                    path.display(),
                    to.display()
                );
                tracing::error!("{msg}");
                warnings.push(msg);
                Self::default()
            }
        };
        Ok((state, warnings))
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(NetError::io(format!("creating {}", dir.display())))?;
        record::save(&dir.join("networks.json"), self).map_err(|e| NetError::Record(Box::new(e)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/testdata")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn state_of_every_format_loads() {
        for f in ["networks-v0.json", "networks-v1.json"] {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join("networks.json"), fixture(f)).unwrap();
            let (s, warnings) = State::load(d.path()).unwrap();
            assert!(warnings.is_empty(), "{f}: {warnings:?}");
            let net = s.find("fxnet").unwrap();
            assert_eq!(net.gateway, Ipv4Addr::new(172, 19, 0, 1), "{f}");
            assert_eq!(s.endpoints.len(), 1, "{f}");
            s.save(d.path()).unwrap();
            let raw: serde_json::Value =
                serde_json::from_slice(&std::fs::read(d.path().join("networks.json")).unwrap())
                    .unwrap();
            assert_eq!(raw["schema_version"], 1);
        }
    }

    #[test]
    fn state_that_does_not_parse_is_moved_aside() {
        let d = tempfile::tempdir().unwrap();
        let torn = fixture("networks-v1.json");
        std::fs::write(d.path().join("networks.json"), &torn[..torn.len() / 3]).unwrap();
        let (s, warnings) = State::load(d.path()).unwrap();
        assert!(s.networks.is_empty());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let moved = record::quarantined_in(d.path());
        assert_eq!(std::fs::read(&moved[0]).unwrap(), &torn[..torn.len() / 3]);
        let (_, again) = State::load(d.path()).unwrap();
        assert!(again[0].contains("earlier start"), "{again:?}");
    }

    #[test]
    fn state_that_cannot_be_read_stops_the_start() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("networks.json")).unwrap();
        assert!(State::load(d.path()).is_err());
    }
}
