//! The network controller: the daemon's one object for everything network.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use tokio::sync::Mutex as AsyncMutex;

use crate::dns::{self, DnsServer, Records};
use crate::error::{NetError, Result};
use crate::ipam::{self, Allocations, Subnet};
use crate::link;
use crate::nft::{self, BridgeRules};
use crate::ports::{BoundPort, PortRequest, Reservation};
use crate::state::{EndpointRecord, NetworkRecord, State};

/// The daemon's networking settings.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    pub state_dir: PathBuf,
    /// The default bridge's name; `None` disables the default `bridge` network.
    pub bridge_name: Option<String>,
    /// `--bip`: gateway address and prefix of the default bridge.
    pub bip: Option<String>,
    pub fixed_cidr: Option<String>,
    pub mtu: Option<u32>,
    pub icc: bool,
    /// Install nftables rules at all.
    pub iptables: bool,
    pub ip_forward: bool,
    pub default_bind_ip: IpAddr,
    pub dns: Vec<IpAddr>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub host_resolv_conf: PathBuf,
    /// Name of berth's nftables tables.
    pub table_name: String,
}

/// Prefix of every bridge berth makes (also what Docker's filter lets through).
pub const BRIDGE_PREFIX: &str = "berth";

/// A network as `docker network inspect` shows it.
#[derive(Debug, Clone)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: HashMap<String, String>,
    pub options: HashMap<String, String>,
    pub created: chrono::DateTime<chrono::Utc>,
    pub endpoints: Vec<EndpointRecord>,
    pub bridge: Option<String>,
    /// Whether IPAM shows the gateway (dockerd leaves it out when the subnet was given
    /// without one).
    pub show_gateway: bool,
}

/// Options of `network create`.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    pub driver: Option<String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: HashMap<String, String>,
    pub options: HashMap<String, String>,
}

/// Attaching a container.
#[derive(Debug, Clone)]
pub struct EndpointRequest {
    pub container_id: String,
    pub container_name: String,
    pub hostname: String,
    pub netns: PathBuf,
    pub ifname: String,
    pub aliases: Vec<String>,
    pub ipv4: Option<Ipv4Addr>,
    pub ports: Vec<PortRequest>,
    pub links: Vec<String>,
}

/// The result of attaching.
#[derive(Debug, Clone)]
pub struct EndpointInfo {
    pub network_id: String,
    pub endpoint_id: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: String,
    pub ports: Vec<BoundPort>,
    /// The container should use the network's DNS server (the gateway).
    pub embedded_dns: Option<Ipv4Addr>,
}

/// The network controller.
#[derive(Debug)]
pub struct NetworkController {
    /// What the start found wrong on disk and moved aside.
    pub(crate) warnings: Vec<String>,
    pub(crate) cfg: NetworkConfig,
    pub(crate) state: Mutex<State>,
    /// Serialises changes to links, rules and state.
    pub(crate) ops: AsyncMutex<()>,
    pub(crate) host: rtnetlink::Handle,
    pub(crate) reservations: Mutex<HashMap<String, Vec<Reservation>>>,
    /// Each user network's running server.
    pub(crate) dns: Mutex<HashMap<String, DnsServer>>,
    /// The names all servers answer from.
    pub(crate) dns_views: Records,
}

pub(crate) fn short_hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn host_mtu() -> u32 {
    std::fs::read_to_string("/proc/net/route")
        .ok()
        .and_then(|t| {
            t.lines()
                .skip(1)
                .find(|l| l.split_whitespace().nth(1) == Some("00000000"))
                .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        })
        .and_then(|dev| std::fs::read_to_string(format!("/sys/class/net/{dev}/mtu")).ok())
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(1500)
}

impl NetworkController {
    /// Starts networking: restores the default bridge and user networks, releases endpoints
    /// of containers that are gone (`live` lists those still running), and rebuilds berth's
    /// nftables tables from the persisted state in one transaction.
    pub async fn start(cfg: NetworkConfig, live: &[String]) -> Result<Self> {
        let (mut state, warnings) = State::load(&cfg.state_dir)?;
        state.endpoints.retain(|e| live.contains(&e.container_id));
        for n in state.networks.values_mut() {
            n.allocations = Allocations::default();
            n.allocations.used.insert(n.gateway);
        }
        let eps = state.endpoints.clone();
        for e in &eps {
            if let Some(n) = state.networks.get_mut(&e.network_id) {
                n.allocations.used.insert(e.ip);
            }
        }
        if cfg.ip_forward {
            let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");
        }
        let host = link::host_handle()?;
        let ctl = Self {
            warnings,
            cfg,
            state: Mutex::new(state),
            ops: AsyncMutex::new(()),
            host,
            reservations: Mutex::new(HashMap::new()),
            dns: Mutex::new(HashMap::new()),
            dns_views: Records::default(),
        };
        // Choosing the default bridge's subnet and configuring it is one step host-wide.
        let subnet_lock = crate::hostlock::SubnetLock::acquire()?;
        ctl.ensure_default_network().await?;
        let networks: Vec<NetworkRecord> = ctl.lock().networks.values().cloned().collect();
        for n in &networks {
            link::ensure_bridge(&ctl.host, &n.bridge, n.gateway, n.subnet, n.mtu).await?;
        }
        drop(subnet_lock);
        for e in eps {
            // Ports of running containers stay reserved across a daemon restart.
            if let Ok((_, held)) = crate::ports::reserve_all(
                &e.ports
                    .iter()
                    .map(|b| PortRequest {
                        container_port: b.container_port,
                        protocol: b.protocol.clone(),
                        host_ip: Some(b.host_ip),
                        host_port: b.host_port,
                    })
                    .collect::<Vec<_>>(),
                ctl.cfg.default_bind_ip,
            ) {
                ctl.reservations
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(e.container_id.clone())
                    .or_default()
                    .extend(held);
            }
        }
        ctl.rebuild_rules()?;
        ctl.save()?;
        for n in networks.iter().filter(|n| !n.default) {
            ctl.start_dns(n).await;
        }
        Ok(ctl)
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn save(&self) -> Result<()> {
        let s = self.lock().clone();
        s.save(&self.cfg.state_dir)
    }

    /// All of berth's rules, from the state, in one transaction.
    pub(crate) fn rebuild_rules(&self) -> Result<()> {
        if !self.cfg.iptables {
            return Ok(());
        }
        let (bridges, ports) = {
            let s = self.lock();
            let bridges: Vec<BridgeRules> = s
                .networks
                .values()
                .map(|n| BridgeRules {
                    ifname: n.bridge.clone(),
                    subnet: n.subnet,
                    internal: n.internal,
                    icc: n.icc,
                })
                .collect();
            let ports: Vec<nft::PortRule> = s
                .endpoints
                .iter()
                .flat_map(|e| crate::ports::rules(&e.ports, e.ip))
                .collect();
            (bridges, ports)
        };
        nft::apply(&nft::ruleset(&self.cfg.table_name, &bridges, &ports))?;
        // Interface patterns of berth's bridges: user networks share the prefix; a default
        // bridge named otherwise (`--bridge`) is added by name.
        let mut ifnames = vec![format!("{BRIDGE_PREFIX}*")];
        if let Some(b) = self
            .cfg
            .bridge_name
            .as_ref()
            .filter(|b| !b.starts_with(BRIDGE_PREFIX))
        {
            ifnames.push(b.clone());
        }
        if let Err(e) = nft::allow_in_docker_filter(&ifnames) {
            tracing::warn!("could not let berth's traffic through Docker's FORWARD chain: {e}");
        }
        Ok(())
    }

    async fn ensure_default_network(&self) -> Result<()> {
        let Some(bridge) = self.cfg.bridge_name.clone() else {
            return Ok(());
        };
        let existing = self.lock().networks.values().find(|n| n.default).cloned();
        let (subnet, gateway) = match (&self.cfg.bip, &existing) {
            (Some(bip), _) => {
                let g = Subnet::parse(bip, true)?;
                (
                    Subnet {
                        addr: g.network(),
                        prefix: g.prefix,
                    },
                    g.addr,
                )
            }
            (None, Some(n)) => (n.subnet, n.gateway),
            (None, None) => {
                let taken: Vec<Subnet> = self.lock().networks.values().map(|n| n.subnet).collect();
                let mut routes = ipam::host_routes();
                // A route on our own bridge (from an earlier run) is not a conflict.
                routes.retain(|r| existing.as_ref().is_none_or(|n| *r != n.subnet));
                let s = ipam::pick(&taken, &routes)
                    .ok_or_else(|| NetError::NoSubnet("bridge".into()))?;
                (s, s.host(1).unwrap_or(s.addr))
            }
        };
        let mut rec = existing.unwrap_or_else(|| NetworkRecord {
            id: short_hash("bridge:default"),
            name: "bridge".into(),
            bridge: bridge.clone(),
            subnet,
            gateway,
            internal: false,
            icc: self.cfg.icc,
            mtu: self.cfg.mtu.unwrap_or_else(host_mtu),
            labels: HashMap::new(),
            options: HashMap::from([
                ("com.docker.network.bridge.name".to_owned(), bridge.clone()),
                (
                    "com.docker.network.bridge.default_bridge".to_owned(),
                    "true".to_owned(),
                ),
            ]),
            created: chrono::Utc::now(),
            default: true,
            allocations: Allocations::default(),
            subnet_only: false,
        });
        rec.subnet = subnet;
        rec.gateway = gateway;
        rec.icc = self.cfg.icc;
        rec.bridge = bridge;
        if let Some(m) = self.cfg.mtu {
            rec.mtu = m;
        }
        rec.allocations.used.insert(gateway);
        self.lock().networks.insert(rec.id.clone(), rec);
        Ok(())
    }

    /// The settings the controller was started with.
    pub fn config(&self) -> &NetworkConfig {
        &self.cfg
    }

    /// What the start found wrong on disk and moved aside, for `/info`.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    pub(crate) async fn start_dns(&self, n: &NetworkRecord) {
        let host_resolv = std::fs::read_to_string(&self.cfg.host_resolv_conf).unwrap_or_default();
        let upstreams = dns::upstreams(&host_resolv);
        match dns::serve(n.gateway, n.id.clone(), self.dns_views.clone(), upstreams).await {
            Ok(server) => {
                self.dns
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(n.id.clone(), server);
                self.refresh_dns();
            }
            Err(e) => tracing::warn!(network = %n.name, "embedded DNS not started: {e}"),
        }
    }

    /// Rebuilds the names every DNS server answers from (all endpoints of user networks;
    /// cheap, and it keeps one source of truth).
    pub(crate) fn refresh_dns(&self) {
        let (eps, default_nets): (Vec<EndpointRecord>, Vec<String>) = {
            let s = self.lock();
            let default_nets = s
                .networks
                .values()
                .filter(|n| n.default)
                .map(|n| n.id.clone())
                .collect();
            (s.endpoints.clone(), default_nets)
        };
        let mut views = dns::Views::default();
        for e in eps.iter().filter(|e| !default_nets.contains(&e.network_id)) {
            let map = views.names.entry(e.network_id.clone()).or_default();
            let mut names = vec![
                e.container_name.clone(),
                e.container_id[..12.min(e.container_id.len())].to_owned(),
            ];
            names.extend(e.aliases.clone());
            for n in names {
                map.entry(n.to_ascii_lowercase()).or_default().push(e.ip);
            }
        }
        for e in &eps {
            let nets: Vec<String> = eps
                .iter()
                .filter(|o| o.container_id == e.container_id)
                .map(|o| o.network_id.clone())
                .collect();
            views.networks_of.insert(e.ip, nets);
        }
        if let Ok(mut r) = self.dns_views.write() {
            *r = views;
        }
    }
}
