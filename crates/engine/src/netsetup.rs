//! A container's network at start and stop: the namespace for its `--network` mode, its
//! endpoints and published ports, and its /etc/hostname, /etc/hosts and /etc/resolv.conf.

use std::path::PathBuf;

use crate::container::record::{ContainerRecord, EndpointRecord, NetRecord, PublishedPort};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::ocispec::NsMode;

/// The network side of a start.
#[derive(Debug, Clone)]
pub(crate) struct NetSetup {
    pub(crate) ns: NsMode,
    pub(crate) record: NetRecord,
    pub(crate) hosts: String,
    pub(crate) resolv: String,
}

/// The container's network mode, normalised (`default` is `bridge`).
pub(crate) fn mode(rec: &ContainerRecord) -> String {
    match rec.host_config.network_mode.as_deref() {
        None | Some("" | "default") => "bridge".into(),
        Some(m) => m.to_owned(),
    }
}

fn host_file(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Sets up the network for `rec` (before its process exists).
pub(crate) async fn setup(engine: &Engine, rec: &ContainerRecord) -> Result<NetSetup> {
    let mode = mode(rec);
    let hostname = hostname(rec);
    let extra_hosts = rec.host_config.extra_hosts.clone().unwrap_or_default();
    match mode.as_str() {
        "none" => Ok(NetSetup {
            ns: NsMode::Private,
            record: NetRecord::default(),
            hosts: berth_network::hosts_file(&hostname, None, &extra_hosts, &[]),
            resolv: engine.resolv_conf(rec, None),
        }),
        "host" => Ok(NetSetup {
            ns: NsMode::Host,
            record: NetRecord::default(),
            hosts: host_file("/etc/hosts"),
            resolv: host_file("/etc/resolv.conf"),
        }),
        m if m.starts_with("container:") => {
            let other = engine.lookup(&m["container:".len()..])?.snapshot();
            if !other.is_running() {
                return Err(EngineError::Conflict(format!(
                    "cannot join network of a non running container: {}",
                    other.id
                )));
            }
            Ok(NetSetup {
                ns: NsMode::Path(PathBuf::from(format!("/proc/{}/ns/net", other.state.pid))),
                record: NetRecord::default(),
                hosts: std::fs::read_to_string(&other.hosts_path).unwrap_or_default(),
                resolv: std::fs::read_to_string(&other.resolv_conf_path).unwrap_or_default(),
            })
        }
        _ => engine.connect_networks(rec, &hostname).await,
    }
}

/// The container's hostname: `--hostname`, else the host's with `--network host`, else the
/// short id (Docker's rules).
pub(crate) fn hostname(rec: &ContainerRecord) -> String {
    if let Some(h) = rec.config.hostname.clone().filter(|h| !h.is_empty()) {
        return h;
    }
    if mode(rec) == "host"
        && let Ok(h) = nix::unistd::gethostname()
    {
        return h.to_string_lossy().into_owned();
    }
    rec.short_id().to_owned()
}

/// Writes the /etc files next to the record and returns (container path, host path) pairs to
/// bind-mount.
pub(crate) fn write_etc_files(
    rec: &ContainerRecord,
    net: &NetSetup,
) -> Result<Vec<(String, PathBuf)>> {
    // 0644 as Docker makes them: a container's non-root users must read them to resolve names.
    let write = |path: &PathBuf, content: &str| {
        berth_runtime::fsutil::replace_mode(
            path,
            content.as_bytes(),
            berth_runtime::fsutil::WORLD_READABLE,
        )
        .map_err(|e| EngineError::internal(format!("writing {}", path.display()), e))
    };
    let host_mode = mode(rec) == "host";
    let name = if host_mode {
        host_file("/etc/hostname").trim().to_owned()
    } else {
        hostname(rec)
    };
    write(&rec.hostname_path, &format!("{name}\n"))?;
    write(&rec.hosts_path, &net.hosts)?;
    write(&rec.resolv_conf_path, &net.resolv)?;
    Ok(vec![
        ("/etc/hostname".into(), rec.hostname_path.clone()),
        ("/etc/hosts".into(), rec.hosts_path.clone()),
        ("/etc/resolv.conf".into(), rec.resolv_conf_path.clone()),
    ])
}

impl Engine {
    /// resolv.conf for a container: the host's minus loopback servers, with `--dns*` and the
    /// daemon's defaults; on user networks, berth's embedded DNS server.
    pub(crate) fn resolv_conf(
        &self,
        rec: &ContainerRecord,
        embedded_dns: Option<std::net::Ipv4Addr>,
    ) -> String {
        let d = &self.inner.cfg.network;
        let h = &rec.host_config;
        let dns: Vec<String> = h
            .dns
            .clone()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| d.dns.iter().map(ToString::to_string).collect());
        let search = h
            .dns_search
            .clone()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| d.dns_search.clone());
        let options = h
            .dns_options
            .clone()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| d.dns_options.clone());
        berth_network::resolv_conf(
            &std::fs::read_to_string(&d.host_resolv_conf).unwrap_or_default(),
            &dns,
            &search,
            &options,
            embedded_dns,
        )
    }

    /// Creates the container's netns and connects it to its networks.
    async fn connect_networks(&self, rec: &ContainerRecord, hostname: &str) -> Result<NetSetup> {
        let netns = self.inner.cfg.netns_dir().join(&rec.id);
        std::fs::create_dir_all(self.inner.cfg.netns_dir())
            .map_err(|e| EngineError::internal("creating the netns directory", e))?;
        berth_network::Netns::create(&netns).map_err(|e| EngineError::from_lib(&e))?;
        let mut record = NetRecord {
            sandbox_key: Some(netns.clone()),
            ..NetRecord::default()
        };
        let mut first_ip = None;
        let mut embedded_dns = None;
        let networks: Vec<(String, EndpointRecord)> =
            rec.net.networks.clone().into_iter().collect();
        for (i, (name, ep)) in networks.into_iter().enumerate() {
            let req = berth_network::EndpointRequest {
                container_id: rec.id.clone(),
                container_name: rec.name.clone(),
                hostname: hostname.to_owned(),
                netns: netns.clone(),
                ifname: format!("eth{i}"),
                aliases: ep.aliases.clone(),
                ipv4: ep.requested_ip.as_deref().and_then(|s| s.parse().ok()),
                ports: if i == 0 {
                    crate::ports::requested(rec)?
                } else {
                    Vec::new()
                },
                links: ep.links.clone(),
            };
            let info = match self.inner.network.connect(&name, req).await {
                Ok(info) => info,
                Err(e) => {
                    let _ = self.inner.network.release_container(&rec.id).await;
                    let _ = berth_network::Netns::remove(&netns);
                    return Err(EngineError::from_lib(&e));
                }
            };
            embedded_dns = embedded_dns.or(info.embedded_dns);
            first_ip.get_or_insert(info.ip);
            for p in &info.ports {
                record.ports.push(PublishedPort {
                    container_port: p.container_port,
                    protocol: p.protocol.clone(),
                    host_ip: p.host_ip.to_string(),
                    host_port: p.host_port,
                });
            }
            record.networks.insert(
                name,
                EndpointRecord {
                    network_id: info.network_id.clone(),
                    endpoint_id: info.endpoint_id.clone(),
                    aliases: ep.aliases.clone(),
                    links: ep.links.clone(),
                    ip_address: info.ip.to_string(),
                    prefix_len: info.prefix_len,
                    gateway: info.gateway.map(|g| g.to_string()).unwrap_or_default(),
                    mac_address: info.mac.clone(),
                    requested_ip: ep.requested_ip.clone(),
                },
            );
        }
        let links = crate::links::host_entries(self, rec)?;
        let extra = rec.host_config.extra_hosts.clone().unwrap_or_default();
        Ok(NetSetup {
            ns: NsMode::Path(netns),
            record,
            hosts: berth_network::hosts_file(hostname, first_ip, &extra, &links),
            resolv: self.resolv_conf(rec, embedded_dns),
        })
    }
}

/// Releases the container's endpoints and drops its netns (the kernel reaps the veths).
pub(crate) async fn teardown(engine: &Engine, id: &str) {
    if let Err(e) = engine.inner.network.release_container(id).await {
        tracing::warn!(container = %id, error = %berth_errdefs::chain(&e), "releasing the network");
    }
    let netns = engine.inner.cfg.netns_dir().join(id);
    if netns.exists()
        && let Err(e) = berth_network::Netns::remove(&netns)
    {
        tracing::warn!(container = %id, error = %berth_errdefs::chain(&e), "removing the netns");
    }
}
