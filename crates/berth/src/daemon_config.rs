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
        host_resolv_conf: a
            .host_resolv_conf
            .clone()
            .unwrap_or_else(berth_engine::config::detect_host_resolv_conf),
    };
    cfg.init_path = a.init_path.clone().or_else(find_docker_init);
    cfg.registry = registry_config(a)?;
    if let Some(d) = &a.storage_driver
        && d != "overlay2"
        && d != "overlay"
    {
        bail!("storage driver {d:?} is not supported: berth stores images with overlayfs");
    }
    Ok(cfg)
}

/// Registry settings: flags plus daemon.json's `insecure-registries` and `registry-mirrors`.
fn registry_config(a: &DaemonArgs) -> Result<berth_engine::RegistryConfig> {
    let mut cfg = berth_engine::RegistryConfig::default();
    cfg.insecure.clone_from(&a.insecure_registries);
    cfg.mirrors.clone_from(&a.registry_mirrors);
    if !a.registry_certs_dirs.is_empty() {
        cfg.certs_dirs.clone_from(&a.registry_certs_dirs);
    }
    match std::fs::read(&a.config_file) {
        Ok(data) => {
            let v: serde_json::Value = serde_json::from_slice(&data).map_err(|e| {
                anyhow::anyhow!(
                    "invalid daemon configuration {}: {e}",
                    a.config_file.display()
                )
            })?;
            let list = |key: &str| -> Vec<String> {
                v.get(key)
                    .and_then(serde_json::Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            cfg.insecure.extend(list("insecure-registries"));
            cfg.mirrors.extend(list("registry-mirrors"));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => bail!("reading {}: {e}", a.config_file.display()),
    }
    Ok(cfg)
}

/// The API's sockets from `-H` (and `-G` for unix sockets' group).
pub(crate) fn listeners(a: &DaemonArgs) -> Result<Vec<berth_api::Listen>> {
    let gid = group_id(&a.group);
    let tls = (a.tls || a.tlsverify).then(|| berth_api::TlsFiles {
        cert: expand_home(&a.tlscert),
        key: expand_home(&a.tlskey),
        client_ca: a.tlsverify.then(|| expand_home(&a.tlscacert)),
    });
    let mut out = Vec::new();
    for h in &a.hosts {
        if let Some(path) = h.strip_prefix("unix://") {
            let path = if path.is_empty() {
                "/run/berth.sock"
            } else {
                path
            };
            out.push(berth_api::Listen::Unix {
                path: path.into(),
                gid,
            });
        } else if let Some(addr) = h.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            let addr = if addr.contains(':') {
                addr.to_owned()
            } else {
                format!("{addr}:2375")
            };
            let addr = addr
                .parse()
                .map_err(|e| anyhow::anyhow!("invalid -H {h}: {e}"))?;
            match &tls {
                Some(files) => out.push(berth_api::Listen::TcpTls {
                    addr,
                    files: files.clone(),
                }),
                None => {
                    tracing::warn!(
                        "listening on tcp://{addr} without TLS: anyone who can reach it has root on this host; use --tlsverify"
                    );
                    out.push(berth_api::Listen::Tcp { addr });
                }
            }
        } else if h.starts_with('/') {
            out.push(berth_api::Listen::Unix {
                path: h.into(),
                gid,
            });
        } else {
            bail!("invalid -H {h}: expected unix:///path or tcp://host:port");
        }
    }
    Ok(out)
}

/// dockerd's default for `--init`: `docker-init` on PATH (Debian's docker.io links it to
/// tini-static), else Docker's libexec directory.
fn find_docker_init() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .chain([std::path::PathBuf::from("/usr/libexec/docker")])
        .map(|d| d.join("docker-init"))
        .find(|p| p.is_file())
}

/// `~/.docker/ca.pem` → `$HOME/.docker/ca.pem` (dockerd's defaults are written so).
fn expand_home(p: &str) -> std::path::PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::Path::new(&home).join(rest),
        _ => p.into(),
    }
}

/// The gid of `-G` (empty or unknown group: none, as dockerd when the group is missing).
fn group_id(name: &str) -> Option<u32> {
    if name.is_empty() {
        return None;
    }
    nix::unistd::Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}
