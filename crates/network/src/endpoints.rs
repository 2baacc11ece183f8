//! Attaching containers to networks and detaching them.

use std::os::fd::AsFd;

use crate::controller::{EndpointInfo, EndpointRequest, NetworkController, short_hash};
use crate::error::{NetError, Result};
use crate::link::{self, VethSpec};
use crate::nft;
use crate::state::{EndpointRecord, NetworkRecord};

impl NetworkController {
    /// Attaches a container (its netns exists) to `network`: an address, a veth pair created
    /// with its peer directly in the netns, published ports, DNS names.
    pub async fn connect(&self, network: &str, req: EndpointRequest) -> Result<EndpointInfo> {
        let _serial = self.ops.lock().await;
        let n = self
            .lock()
            .find(network)
            .cloned()
            .ok_or_else(|| NetError::NotFound(network.to_owned()))?;
        if self
            .lock()
            .endpoints
            .iter()
            .any(|e| e.network_id == n.id && e.container_id == req.container_id)
        {
            return Err(NetError::AlreadyAttached {
                container: req.container_name.clone(),
                network: n.name.clone(),
            });
        }
        if n.internal && !req.ports.is_empty() {
            tracing::debug!(network = %n.name, "ports are not published on internal networks");
        }
        let ip = {
            let mut s = self.lock();
            let net = s
                .networks
                .get_mut(&n.id)
                .ok_or_else(|| NetError::NotFound(network.to_owned()))?;
            match req.ipv4 {
                Some(ip) => net.allocations.claim(net.subnet, ip).map(|()| ip),
                None => net.allocations.allocate(net.subnet, &net.name),
            }?
        };
        match self.attach(&n, &req, ip).await {
            Ok(info) => Ok(info),
            Err(e) => {
                if let Some(net) = self.lock().networks.get_mut(&n.id) {
                    net.allocations.release(ip);
                }
                self.reservations
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&key(&req.container_id, &n.id));
                Err(e)
            }
        }
    }

    async fn attach(
        &self,
        n: &NetworkRecord,
        req: &EndpointRequest,
        ip: std::net::Ipv4Addr,
    ) -> Result<EndpointInfo> {
        let ports_wanted = if n.internal {
            Vec::new()
        } else {
            req.ports.clone()
        };
        let (bound, held) = crate::ports::reserve_all(&ports_wanted, self.cfg.default_bind_ip)?;
        let mac = link::mac_for(ip);
        let host_ifname = format!(
            "veth{}",
            &short_hash(&format!("{}/{}", req.container_id, n.id))[..11]
        );
        let bridge_index = link::index_of(&self.host, &n.bridge)
            .await?
            .ok_or_else(|| NetError::Invalid(format!("bridge {} is missing", n.bridge)))?;
        let peer_index = 2 + req
            .ifname
            .trim_start_matches("eth")
            .parse::<u32>()
            .unwrap_or(0);
        let nsfd = link::open_netns(&req.netns)?;
        let spec = VethSpec {
            host_name: &host_ifname,
            ifname: &req.ifname,
            peer_index,
            bridge_index,
            mac,
            mtu: n.mtu,
        };
        if let Err(first) = link::create_veth(&self.host, &spec, nsfd.as_fd()).await {
            // The name is this endpoint's own (a hash of container and network), so a link
            // holding it is the previous incarnation's host end: on a quick restart the kernel
            // may still be tearing down the old netns, whose cleanup removes it asynchronously.
            if link::index_of(&self.host, &host_ifname).await?.is_none() {
                return Err(first);
            }
            let _ = link::delete_link(&self.host, &host_ifname).await;
            link::create_veth(&self.host, &spec, nsfd.as_fd()).await?;
        }
        let inside = link::netns_handle(&req.netns).await?;
        let gateway = (!n.internal && req.ifname == "eth0").then_some(n.gateway);
        link::configure_inside(&inside, peer_index, ip, n.subnet.prefix, gateway).await?;
        if !n.icc {
            // Isolated bridge ports cannot talk to each other, only to the bridge (the host):
            // `--icc=false` without any per-packet rule.
            std::fs::write(format!("/sys/class/net/{host_ifname}/brport/isolated"), "1")
                .map_err(NetError::io(format!("isolating bridge port {host_ifname}")))?;
        }
        if !bound.is_empty() {
            // A container may reach itself through its own published port.
            let _ = std::fs::write(
                format!("/sys/class/net/{host_ifname}/brport/hairpin_mode"),
                "1",
            );
            if self.cfg.iptables {
                nft::apply(&nft::port_elements(
                    &self.cfg.table_name,
                    "add",
                    &crate::ports::rules(&bound, ip),
                ))?;
            }
        }
        let ep = EndpointRecord {
            id: short_hash(&format!("{}:{}:{}", req.container_id, n.id, ip)),
            container_id: req.container_id.clone(),
            container_name: req.container_name.clone(),
            network_id: n.id.clone(),
            ip,
            mac: link::mac_string(mac),
            ifname: req.ifname.clone(),
            host_ifname,
            aliases: req.aliases.clone(),
            ports: bound.clone(),
            netns: req.netns.clone(),
        };
        self.reservations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key(&req.container_id, &n.id), held);
        self.lock().endpoints.push(ep.clone());
        self.save()?;
        self.refresh_dns();
        Ok(EndpointInfo {
            network_id: n.id.clone(),
            endpoint_id: ep.id,
            ip,
            prefix_len: n.subnet.prefix,
            gateway: Some(n.gateway),
            mac: ep.mac,
            ports: bound,
            embedded_dns: (!n.default).then_some(n.gateway),
        })
    }

    /// Forgets one endpoint: address, ports, rules, DNS names. The veth goes with the netns,
    /// or, for a live disconnect, is deleted by the caller.
    fn forget(&self, ep: &EndpointRecord) -> Result<()> {
        if let Some(net) = self.lock().networks.get_mut(&ep.network_id) {
            net.allocations.release(ep.ip);
        }
        self.lock().endpoints.retain(|e| e != ep);
        self.reservations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key(&ep.container_id, &ep.network_id));
        if self.cfg.iptables
            && !ep.ports.is_empty()
            && let Err(e) = nft::apply(&nft::port_elements(
                &self.cfg.table_name,
                "delete",
                &crate::ports::rules(&ep.ports, ep.ip),
            ))
        {
            tracing::warn!(container = %ep.container_id, "removing published ports: {e}");
            self.rebuild_rules()?;
        }
        self.refresh_dns();
        Ok(())
    }

    /// `docker network disconnect` of a running container.
    pub async fn disconnect(&self, network: &str, container_id: &str) -> Result<()> {
        let _serial = self.ops.lock().await;
        let n = self
            .lock()
            .find(network)
            .cloned()
            .ok_or_else(|| NetError::NotFound(network.to_owned()))?;
        let ep = self
            .lock()
            .endpoints
            .iter()
            .find(|e| e.network_id == n.id && e.container_id == container_id)
            .cloned();
        let ep = ep.ok_or_else(|| NetError::NotAttached {
            container: container_id.to_owned(),
            network: n.name.clone(),
        })?;
        self.forget(&ep)?;
        self.save()?;
        link::delete_link(&self.host, &ep.host_ifname).await
    }

    /// Everything of a container that stopped: endpoints, ports, rules, leases.
    pub async fn release_container(&self, container_id: &str) -> Result<()> {
        let _serial = self.ops.lock().await;
        let eps: Vec<EndpointRecord> = self
            .lock()
            .endpoints
            .iter()
            .filter(|e| e.container_id == container_id)
            .cloned()
            .collect();
        if eps.is_empty() {
            return Ok(());
        }
        for ep in &eps {
            self.forget(ep)?;
        }
        self.save()
    }

    /// The endpoints of a container.
    pub fn endpoints_of(&self, container_id: &str) -> Vec<EndpointRecord> {
        self.lock()
            .endpoints
            .iter()
            .filter(|e| e.container_id == container_id)
            .cloned()
            .collect()
    }
}

fn key(container: &str, network: &str) -> String {
    format!("{container}/{network}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn veth_names_fit_ifnamsiz() {
        let name = format!("veth{}", &super::short_hash("abc/def")[..11]);
        assert!(name.len() <= 15);
    }
}
