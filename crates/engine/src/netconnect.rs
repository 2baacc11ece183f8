//! `docker network connect` / `disconnect`: on a stopped container only the record changes;
//! on a running one an interface is added to (or removed from) its netns at once.

use bollard_stubs::models::EndpointSettings;

use crate::container::record::EndpointRecord;
use crate::engine::Engine;
use crate::error::{EngineError, Result};

fn net_err(e: &berth_network::NetError) -> EngineError {
    EngineError::from_lib(e)
}

impl Engine {
    /// Attaches a container to a network.
    pub async fn connect_network(
        &self,
        key: &str,
        network: &str,
        cfg: EndpointSettings,
    ) -> Result<()> {
        let ctr = self.lookup(key)?;
        let _guard = ctr.lifecycle.lock().await;
        let rec = ctr.snapshot();
        let mode = rec.host_config.network_mode.clone().unwrap_or_default();
        if matches!(mode.as_str(), "host" | "none") || mode.starts_with("container:") {
            return Err(EngineError::InvalidArgument(format!(
                "container cannot be disconnected from host network or connected to host network ({mode})"
            )));
        }
        let info = self.inner.network.get(network).map_err(|e| net_err(&e))?;
        if rec.net.networks.contains_key(&info.name) {
            return Err(EngineError::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, info.name
            )));
        }
        let requested_ip = cfg
            .ipam_config
            .as_ref()
            .and_then(|i| i.ipv4_address.clone())
            .filter(|s| !s.is_empty());
        let mut ep = EndpointRecord {
            network_id: info.id.clone(),
            aliases: cfg.aliases.clone().unwrap_or_default(),
            links: cfg.links.clone().unwrap_or_default(),
            requested_ip: requested_ip.clone(),
            ..EndpointRecord::default()
        };
        if rec.is_running() {
            let netns = rec.net.sandbox_key.clone().ok_or_else(|| {
                EngineError::Conflict(format!("container {} has no network namespace", rec.id))
            })?;
            let req = berth_network::EndpointRequest {
                container_id: rec.id.clone(),
                container_name: rec.name.clone(),
                hostname: rec.config.hostname.clone().unwrap_or_default(),
                netns,
                ifname: format!("eth{}", rec.net.networks.len()),
                aliases: ep.aliases.clone(),
                ipv4: requested_ip.as_deref().and_then(|s| s.parse().ok()),
                ports: Vec::new(),
                links: ep.links.clone(),
            };
            let got = self
                .inner
                .network
                .connect(&info.name, req)
                .await
                .map_err(|e| net_err(&e))?;
            if let Some(dns) = got.embedded_dns {
                self.use_embedded_dns(&rec, dns);
            }
            ep.endpoint_id = got.endpoint_id;
            ep.ip_address = got.ip.to_string();
            ep.prefix_len = got.prefix_len;
            ep.gateway = got.gateway.map(|g| g.to_string()).unwrap_or_default();
            ep.mac_address = got.mac;
        }
        let rec = ctr.update(|r| {
            r.net.networks.insert(info.name.clone(), ep);
            r.clone()
        });
        ctr.persist(&self.inner.cfg.containers_dir())?;
        self.network_event("connect", &info, &rec.id);
        Ok(())
    }

    /// Docker's `network connect`/`disconnect` event.
    fn network_event(&self, action: &str, net: &berth_network::NetworkInfo, container: &str) {
        self.inner.events.publish(
            "network",
            action,
            &net.id,
            std::collections::HashMap::from([
                ("container".to_owned(), container.to_owned()),
                ("name".to_owned(), net.name.clone()),
                ("type".to_owned(), "bridge".to_owned()),
            ]),
        );
    }

    /// A container that had no embedded DNS (default bridge only) gets the new network's, so
    /// its names resolve at once, as with Docker. The file is bind-mounted: rewrite in place.
    fn use_embedded_dns(
        &self,
        rec: &crate::container::record::ContainerRecord,
        dns: std::net::Ipv4Addr,
    ) {
        let current = std::fs::read_to_string(&rec.resolv_conf_path).unwrap_or_default();
        let has_embedded = rec.net.networks.values().any(|e| {
            !e.gateway.is_empty() && current.contains(&format!("nameserver {}", e.gateway))
        });
        if has_embedded {
            return;
        }
        let text = self.resolv_conf(rec, Some(dns));
        if let Err(e) = std::fs::write(&rec.resolv_conf_path, text) {
            tracing::warn!(container = %rec.id, "updating resolv.conf: {e}");
        }
    }

    /// Detaches a container from a network.
    pub async fn disconnect_network(&self, key: &str, network: &str, force: bool) -> Result<()> {
        let ctr = self.lookup(key)?;
        let _guard = ctr.lifecycle.lock().await;
        let rec = ctr.snapshot();
        let info = self.inner.network.get(network).map_err(|e| net_err(&e))?;
        if !rec.net.networks.contains_key(&info.name) && !force {
            return Err(EngineError::Conflict(format!(
                "container {} is not connected to network {}",
                rec.id, info.name
            )));
        }
        if rec.is_running() {
            self.inner
                .network
                .disconnect(&info.name, &rec.id)
                .await
                .map_err(|e| net_err(&e))?;
        }
        let rec = ctr.update(|r| {
            r.net.networks.remove(&info.name);
            r.clone()
        });
        ctr.persist(&self.inner.cfg.containers_dir())?;
        self.network_event("disconnect", &info, &rec.id);
        Ok(())
    }
}
