//! `docker network create/ls/inspect/rm/prune`.

use std::collections::HashMap;

use crate::controller::{BRIDGE_PREFIX, CreateNetwork, NetworkController, NetworkInfo, short_hash};
use crate::error::{NetError, Result};
use crate::ipam::{self, Allocations, Subnet};
use crate::link;
use crate::state::NetworkRecord;

/// The networks every Docker host has besides the bridges.
fn predefined() -> Vec<NetworkInfo> {
    ["host", "none"]
        .iter()
        .map(|n| NetworkInfo {
            id: short_hash(&format!("{n}:predefined")),
            name: (*n).to_owned(),
            driver: if *n == "host" {
                "host".into()
            } else {
                "null".into()
            },
            subnet: None,
            gateway: None,
            internal: false,
            labels: HashMap::new(),
            options: HashMap::new(),
            created: chrono::DateTime::UNIX_EPOCH,
            endpoints: Vec::new(),
            bridge: None,
            show_gateway: false,
        })
        .collect()
}

impl NetworkController {
    fn info(&self, n: &NetworkRecord) -> NetworkInfo {
        let endpoints = self
            .lock()
            .endpoints
            .iter()
            .filter(|e| e.network_id == n.id)
            .cloned()
            .collect();
        let mut options = n.options.clone();
        if n.default {
            // The default bridge's settings, listed as dockerd lists its own.
            for (k, v) in [
                ("com.docker.network.bridge.enable_icc", n.icc.to_string()),
                (
                    "com.docker.network.bridge.enable_ip_masquerade",
                    "true".into(),
                ),
                (
                    "com.docker.network.bridge.host_binding_ipv4",
                    "0.0.0.0".into(),
                ),
                ("com.docker.network.driver.mtu", n.mtu.to_string()),
            ] {
                options.entry(k.to_owned()).or_insert(v);
            }
        }
        NetworkInfo {
            id: n.id.clone(),
            name: n.name.clone(),
            driver: "bridge".into(),
            subnet: Some(n.subnet.to_string()),
            gateway: Some(n.gateway.to_string()),
            internal: n.internal,
            labels: n.labels.clone(),
            options,
            created: n.created,
            endpoints,
            bridge: Some(n.bridge.clone()),
            show_gateway: !n.subnet_only,
        }
    }

    /// Every network, the predefined `host` and `none` included.
    pub fn list(&self) -> Vec<NetworkInfo> {
        let nets: Vec<NetworkRecord> = self.lock().networks.values().cloned().collect();
        let mut out: Vec<NetworkInfo> = nets.iter().map(|n| self.info(n)).collect();
        out.extend(predefined());
        out
    }

    /// A network by name, id or unique id prefix.
    pub fn get(&self, key: &str) -> Result<NetworkInfo> {
        if let Some(p) = predefined()
            .into_iter()
            .find(|p| p.name == key || p.id == key || (key.len() >= 3 && p.id.starts_with(key)))
        {
            return Ok(p);
        }
        let n = self
            .lock()
            .find(key)
            .cloned()
            .ok_or_else(|| NetError::NotFound(key.to_owned()))?;
        Ok(self.info(&n))
    }

    /// `docker network create` (bridge driver).
    pub async fn create_network(&self, req: CreateNetwork) -> Result<NetworkInfo> {
        let _serial = self.ops.lock().await;
        match req.driver.as_deref() {
            None | Some("" | "bridge") => {}
            Some(d @ ("overlay" | "macvlan" | "ipvlan" | "host" | "null")) => {
                return Err(NetError::UnsupportedDriver(d.to_owned()));
            }
            Some(d) => return Err(NetError::NoDriver(d.to_owned())),
        }
        // dockerd takes any name but an empty one (spaces, dots, `:` and non-ASCII
        // included); nothing berth derives from a network (bridge, table) uses the name.
        if req.name.is_empty() || req.name.contains('\0') {
            return Err(NetError::Invalid(format!("invalid name: {}", req.name)));
        }
        if self.lock().networks.values().any(|n| n.name == req.name)
            || ["host", "none"].contains(&req.name.as_str())
        {
            return Err(NetError::Exists(req.name.clone()));
        }
        let subnet_lock = crate::hostlock::SubnetLock::acquire()?;
        let taken: Vec<Subnet> = self.lock().networks.values().map(|n| n.subnet).collect();
        let subnet = match &req.subnet {
            Some(s) => {
                let s = Subnet::parse(s, false)?;
                if taken.iter().any(|t| t.overlaps(s)) {
                    return Err(NetError::Overlap);
                }
                s
            }
            None => ipam::pick(&taken, &ipam::host_routes())
                .ok_or_else(|| NetError::NoSubnet(req.name.clone()))?,
        };
        let gateway = match &req.gateway {
            Some(g) => g
                .parse()
                .ok()
                .filter(|g| subnet.contains(*g))
                .ok_or_else(|| {
                    NetError::Invalid(format!("gateway {g} is not in subnet {subnet}"))
                })?,
            None => subnet
                .host(1)
                .ok_or_else(|| NetError::BadSubnet(subnet.to_string(), "too small"))?,
        };
        let id = short_hash(&format!(
            "{}:{}",
            req.name,
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        let bridge = req
            .options
            .get("com.docker.network.bridge.name")
            .cloned()
            .unwrap_or_else(|| format!("{BRIDGE_PREFIX}-{}", &id[..9]));
        let mut allocations = Allocations::default();
        allocations.used.insert(gateway);
        let mtu = req
            .options
            .get("com.docker.network.driver.mtu")
            .and_then(|m| m.parse().ok())
            .or(self.cfg.mtu)
            .unwrap_or(1500);
        let rec = NetworkRecord {
            id,
            name: req.name.clone(),
            bridge,
            subnet,
            gateway,
            internal: req.internal,
            icc: req
                .options
                .get("com.docker.network.bridge.enable_icc")
                .is_none_or(|v| v != "false"),
            mtu,
            labels: req.labels.clone(),
            options: req.options.clone(),
            created: chrono::Utc::now(),
            default: false,
            allocations,
            subnet_only: req.subnet.is_some() && req.gateway.is_none(),
        };
        link::ensure_bridge(&self.host, &rec.bridge, gateway, subnet, mtu).await?;
        drop(subnet_lock);
        self.lock().networks.insert(rec.id.clone(), rec.clone());
        if let Err(e) = self.rebuild_rules().and_then(|()| self.save()) {
            self.lock().networks.remove(&rec.id);
            let _ = link::delete_link(&self.host, &rec.bridge).await;
            return Err(e);
        }
        self.start_dns(&rec).await;
        Ok(self.info(&rec))
    }

    /// `docker network rm`: refused while containers are attached.
    pub async fn remove_network(&self, key: &str) -> Result<()> {
        let _serial = self.ops.lock().await;
        if ["host", "none", "bridge"].contains(&key) {
            return Err(NetError::Predefined(key.to_owned()));
        }
        let n = self
            .lock()
            .find(key)
            .cloned()
            .ok_or_else(|| NetError::NotFound(key.to_owned()))?;
        if n.default {
            return Err(NetError::Predefined(n.name));
        }
        if self.lock().endpoints.iter().any(|e| e.network_id == n.id) {
            return Err(NetError::ActiveEndpoints {
                name: n.name,
                id: n.id,
            });
        }
        self.dns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&n.id);
        self.lock().networks.remove(&n.id);
        self.rebuild_rules()?;
        self.save()?;
        link::delete_link(&self.host, &n.bridge).await
    }

    /// `docker network prune`: user networks without endpoints.
    pub async fn prune(&self) -> Result<Vec<String>> {
        self.prune_where(|_, _| true).await
    }

    /// `docker network prune --filter ...`: the unused networks whose labels and creation
    /// time `pick` accepts.
    pub async fn prune_where(
        &self,
        pick: impl Fn(&HashMap<String, String>, chrono::DateTime<chrono::Utc>) -> bool,
    ) -> Result<Vec<String>> {
        let unused: Vec<(String, String)> = {
            let s = self.lock();
            s.networks
                .values()
                .filter(|n| !n.default && !s.endpoints.iter().any(|e| e.network_id == n.id))
                .filter(|n| pick(&n.labels, n.created))
                .map(|n| (n.id.clone(), n.name.clone()))
                .collect()
        };
        let mut out = Vec::new();
        for (id, name) in unused {
            if self.remove_network(&id).await.is_ok() {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Tears down everything berth made (for tests and `--iptables=false` switches).
    pub async fn teardown_all(&self) {
        let nets: Vec<NetworkRecord> = self.lock().networks.values().cloned().collect();
        self.dns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        for n in nets {
            let _ = link::delete_link(&self.host, &n.bridge).await;
        }
        if self.cfg.iptables {
            crate::nft::remove_tables(&self.cfg.table_name);
        }
    }
}
