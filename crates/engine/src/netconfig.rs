//! The network library's configuration from the engine's.

use crate::config::EngineConfig;

pub(crate) fn network_config(cfg: &EngineConfig) -> berth_network::NetworkConfig {
    let n = &cfg.network;
    berth_network::NetworkConfig {
        state_dir: cfg.data_root.join("network"),
        bridge_name: n.bridge.clone(),
        bip: n.bip.clone(),
        fixed_cidr: n.fixed_cidr.clone(),
        mtu: n.mtu,
        icc: n.icc,
        iptables: n.iptables,
        ip_forward: n.ip_forward,
        default_bind_ip: n.default_bind_ip,
        dns: n.dns.clone(),
        dns_search: n.dns_search.clone(),
        dns_options: n.dns_options.clone(),
        host_resolv_conf: n.host_resolv_conf.clone(),
        // A daemon with its own bridge (tests, a second daemon) gets its own table too.
        table_name: match n.bridge.as_deref() {
            Some(b) if b != "berth0" => b.replace('-', "_"),
            _ => "berth".into(),
        },
    }
}
