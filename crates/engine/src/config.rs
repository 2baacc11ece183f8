//! The engine's configuration, filled from `berth daemon`'s flags.

use std::net::IpAddr;
use std::path::PathBuf;

/// Networking defaults (dockerd's `--bip`, `--icc`, ...).
#[derive(Debug, Clone)]
pub struct NetworkDefaults {
    /// Name of the default bridge; `None` disables the default bridge network.
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub fixed_cidr: Option<String>,
    pub mtu: Option<u32>,
    pub icc: bool,
    pub iptables: bool,
    pub ip_forward: bool,
    pub default_bind_ip: IpAddr,
    pub dns: Vec<IpAddr>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// The host's resolver configuration that containers' DNS derives from.
    pub host_resolv_conf: PathBuf,
}

/// The host's resolv.conf; with systemd-resolved's stub (127.0.0.53) in /etc/resolv.conf,
/// the real upstreams are in /run/systemd/resolve/resolv.conf (Docker reads that one too).
pub fn detect_host_resolv_conf() -> PathBuf {
    let etc = std::path::Path::new("/etc/resolv.conf");
    let resolved = std::path::Path::new("/run/systemd/resolve/resolv.conf");
    let only_stub = std::fs::read_to_string(etc).is_ok_and(|t| {
        let servers: Vec<&str> = t
            .lines()
            .filter_map(|l| l.strip_prefix("nameserver"))
            .map(str::trim)
            .collect();
        !servers.is_empty() && servers.iter().all(|s| *s == "127.0.0.53")
    });
    if only_stub && resolved.exists() {
        resolved.to_path_buf()
    } else {
        etc.to_path_buf()
    }
}

impl Default for NetworkDefaults {
    fn default() -> Self {
        Self {
            bridge: Some("berth0".into()),
            bip: None,
            fixed_cidr: None,
            mtu: None,
            icc: true,
            iptables: true,
            ip_forward: true,
            default_bind_ip: IpAddr::from([0, 0, 0, 0]),
            host_resolv_conf: detect_host_resolv_conf(),
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_options: Vec::new(),
        }
    }
}

/// Where the engine keeps things and how it behaves.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Persistent state (`--data-root`, default /var/lib/berth).
    pub data_root: PathBuf,
    /// Runtime state (`--exec-root`, default /run/berth).
    pub exec_root: PathBuf,
    pub network: NetworkDefaults,
    /// Binary bind-mounted as /sbin/docker-init for `--init`.
    pub init_path: Option<PathBuf>,
    /// Registries: insecure hosts, mirrors, certs.d roots.
    pub registry: berth_registry::RegistryConfig,
}

impl EngineConfig {
    pub fn new(data_root: impl Into<PathBuf>, exec_root: impl Into<PathBuf>) -> Self {
        Self {
            data_root: data_root.into(),
            exec_root: exec_root.into(),
            network: NetworkDefaults::default(),
            init_path: None,
            registry: berth_registry::RegistryConfig::default(),
        }
    }

    pub(crate) fn containers_dir(&self) -> PathBuf {
        self.data_root.join("containers")
    }

    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }

    /// The monitor's socket: `<exec-root>/m/<id[..16]>.sock`, short because a unix socket
    /// path is capped at 108 bytes (a long `--exec-root` plus a 64-char id would not fit).
    pub(crate) fn monitor_socket(&self, id: &str) -> PathBuf {
        self.exec_root
            .join("m")
            .join(format!("{}.sock", &id[..16.min(id.len())]))
    }

    pub(crate) fn run_dir(&self, id: &str) -> PathBuf {
        self.run_dirs().join(id)
    }

    /// Where the run directories are: one per started container.
    pub(crate) fn run_dirs(&self) -> PathBuf {
        self.exec_root.join("containers")
    }

    pub(crate) fn runtime_root(&self) -> PathBuf {
        self.exec_root.join("runtime")
    }

    pub(crate) fn netns_dir(&self) -> PathBuf {
        self.exec_root.join("netns")
    }
}
