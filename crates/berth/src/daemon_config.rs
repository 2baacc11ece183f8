//! From `berth daemon`'s flags to the engine's configuration and the API's listeners.

use anyhow::{Result, bail};

use crate::daemon_args::DaemonArgs;

pub(crate) fn engine_config(a: &DaemonArgs) -> Result<berth_engine::EngineConfig> {
    let mut cfg = berth_engine::EngineConfig::new(&a.data_root, &a.exec_root);
    if a.bip.is_some() && a.bridge != "berth0" {
        bail!("--bip and --bridge are mutually exclusive");
    }
    cfg.network = berth_engine::NetworkDefaults {
        bridge: (a.bridge != "none").then(|| a.bridge.clone()),
        bip: a.bip.clone(),
        fixed_cidr: a.fixed_cidr.clone(),
        mtu: a.mtu,
        icc: a.icc,
        iptables: a.iptables,
        ip_forward: a.ip_forward,
        default_bind_ip: a.ip,
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        dns_options: a.dns_opt.clone(),
    };
    cfg.init_path = a.init_path.clone();
    if let Some(d) = &a.storage_driver {
        if d != "overlay2" && d != "overlay" {
            bail!("storage driver {d:?} is not supported: berth stores images with overlayfs");
        }
    }
    Ok(cfg)
}
