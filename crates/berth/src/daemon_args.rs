//! `berth daemon`'s command line: dockerd's flags.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{ArgAction, Parser};

/// Run the berth daemon (Docker Engine API server).
#[derive(Debug, Parser)]
#[command(
    name = "berth daemon",
    about = "Run the berth daemon, serving the Docker Engine API"
)]
pub(crate) struct DaemonArgs {
    /// Daemon socket(s) to listen on: unix:///path, tcp://host:port.
    #[arg(short = 'H', long = "host", default_values_t = vec!["unix:///run/berth.sock".to_owned()])]
    pub(crate) hosts: Vec<String>,
    /// Root directory of persistent state.
    #[arg(long = "data-root", default_value = "/var/lib/berth")]
    pub(crate) data_root: PathBuf,
    /// Root directory of execution state (sockets, bundles, running state).
    #[arg(long = "exec-root", default_value = "/run/berth")]
    pub(crate) exec_root: PathBuf,
    /// Path of the daemon's PID file.
    #[arg(short = 'p', long = "pidfile", default_value = "/run/berth.pid")]
    pub(crate) pidfile: PathBuf,
    /// Group owning the unix socket(s); empty for none.
    #[arg(short = 'G', long = "group", default_value = "docker")]
    pub(crate) group: String,
    /// Log level: debug, info, warn, error, fatal.
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    pub(crate) log_level: String,
    /// Debug mode.
    #[arg(short = 'D', long = "debug")]
    pub(crate) debug: bool,
    /// Use TLS (implied by --tlsverify).
    #[arg(long)]
    pub(crate) tls: bool,
    /// Use TLS and verify the remote client's certificate.
    #[arg(long)]
    pub(crate) tlsverify: bool,
    #[arg(long, default_value = "~/.docker/ca.pem")]
    pub(crate) tlscacert: String,
    #[arg(long, default_value = "~/.docker/cert.pem")]
    pub(crate) tlscert: String,
    #[arg(long, default_value = "~/.docker/key.pem")]
    pub(crate) tlskey: String,
    /// Bridge IP with prefix for the default bridge (e.g. 10.99.0.1/24).
    #[arg(long)]
    pub(crate) bip: Option<String>,
    /// Name of the default bridge ("none" disables the default bridge network).
    #[arg(short = 'b', long = "bridge", default_value = "berth0")]
    pub(crate) bridge: String,
    /// Subnet for fixed container IPs on the default bridge.
    #[arg(long = "fixed-cidr")]
    pub(crate) fixed_cidr: Option<String>,
    /// Let berth install nftables rules (NAT, filtering, published ports).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", default_value_t = true)]
    pub(crate) iptables: bool,
    /// Enable net.ipv4.ip_forward.
    #[arg(long = "ip-forward", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", default_value_t = true)]
    pub(crate) ip_forward: bool,
    /// Allow traffic between containers on the default bridge.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", default_value_t = true)]
    pub(crate) icc: bool,
    /// Default address for published ports.
    #[arg(long, default_value = "0.0.0.0")]
    pub(crate) ip: IpAddr,
    /// MTU of container interfaces (default: the default route's, else 1500).
    #[arg(long)]
    pub(crate) mtu: Option<u32>,
    /// DNS servers for containers.
    #[arg(long)]
    pub(crate) dns: Vec<IpAddr>,
    /// DNS search domains for containers.
    #[arg(long = "dns-search")]
    pub(crate) dns_search: Vec<String>,
    /// DNS options for containers.
    #[arg(long = "dns-opt")]
    pub(crate) dns_opt: Vec<String>,
    /// The host resolver configuration containers' DNS derives from (default: /etc/resolv.conf,
    /// or systemd-resolved's upstream list when /etc/resolv.conf only names its stub).
    #[arg(long = "host-resolv-conf")]
    pub(crate) host_resolv_conf: Option<PathBuf>,
    /// Keep containers running while the daemon is down (always on in berth).
    #[arg(long = "live-restore", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", default_value_t = true)]
    pub(crate) live_restore: bool,
    /// Accepted for compatibility; berth has no userland proxy (published ports are nftables).
    #[arg(long = "userland-proxy", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub(crate) userland_proxy: bool,
    /// Path to the init binary used by `--init` (Docker's docker-init / tini).
    #[arg(long = "init-path")]
    pub(crate) init_path: Option<PathBuf>,
    /// Accepted for compatibility: berth's storage is overlayfs.
    #[arg(short = 's', long = "storage-driver")]
    pub(crate) storage_driver: Option<String>,
    /// Registries (host:port or CIDR) reachable over plain HTTP or unverified TLS.
    #[arg(long = "insecure-registry")]
    pub(crate) insecure_registries: Vec<String>,
    /// Mirrors of Docker Hub, tried in order before it.
    #[arg(long = "registry-mirror")]
    pub(crate) registry_mirrors: Vec<String>,
    /// Directories of per-registry CAs and client certificates (`<dir>/<host>/*.crt`,
    /// `*.cert` + `*.key`); default /etc/docker/certs.d and /etc/berth/certs.d.
    #[arg(long = "registry-certs-dir")]
    pub(crate) registry_certs_dirs: Vec<PathBuf>,
    /// Daemon configuration file (dockerd's daemon.json keys `insecure-registries` and
    /// `registry-mirrors`).
    #[arg(long = "config-file", default_value = "/etc/berth/daemon.json")]
    pub(crate) config_file: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockerd_style_flags() {
        let a = DaemonArgs::try_parse_from([
            "berth daemon",
            "-H",
            "unix:///tmp/x.sock",
            "-H",
            "tcp://127.0.0.1:2375",
            "--iptables=false",
            "--icc=false",
            "--bip",
            "10.9.0.1/24",
            "--dns",
            "127.0.0.53",
            "--live-restore",
        ])
        .unwrap();
        assert_eq!(a.hosts.len(), 2);
        assert!(!a.iptables && !a.icc && a.live_restore);
        assert_eq!(a.bip.as_deref(), Some("10.9.0.1/24"));
        let d = DaemonArgs::try_parse_from(["berth daemon"]).unwrap();
        assert_eq!(d.hosts, ["unix:///run/berth.sock"]);
        assert!(d.iptables && d.icc);
    }
}
