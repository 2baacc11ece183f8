//! `--link name:alias` on the default bridge: a hosts entry per link, and Docker's
//! environment variables (`ALIAS_PORT_80_TCP_ADDR=...`).

use crate::container::record::ContainerRecord;
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// (target record, alias) for each `--link` of `rec`.
fn targets(engine: &Engine, rec: &ContainerRecord) -> Result<Vec<(ContainerRecord, String)>> {
    let links = rec
        .net
        .networks
        .get("bridge")
        .map(|e| e.links.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for l in links {
        let (name, alias) = l.split_once(':').unwrap_or((l.as_str(), l.as_str()));
        let target = engine.container(name.trim_start_matches('/'))?;
        if !target.is_running() {
            return Err(EngineError::InvalidArgument(format!(
                "Cannot link to a non running container: /{} AS /{}/{}",
                target.name,
                rec.name,
                alias.trim_start_matches('/')
            )));
        }
        out.push((target, alias.trim_start_matches('/').to_owned()));
    }
    Ok(out)
}

/// Hosts lines `(ip, names)` for the links.
pub(crate) fn host_entries(
    engine: &Engine,
    rec: &ContainerRecord,
) -> Result<Vec<(String, Vec<String>)>> {
    Ok(targets(engine, rec)?
        .into_iter()
        .filter_map(|(t, alias)| {
            let ip = t.net.networks.get("bridge")?.ip_address.clone();
            let mut names = vec![alias.clone()];
            if t.name != alias {
                names.push(t.name.clone());
            }
            names.push(t.short_id().to_owned());
            Some((ip, names))
        })
        .collect())
}

/// Docker's link environment variables.
pub(crate) fn env(engine: &Engine, rec: &ContainerRecord) -> Result<Vec<String>> {
    let mut env = Vec::new();
    for (t, alias) in targets(engine, rec)? {
        let Some(ip) = t.net.networks.get("bridge").map(|e| e.ip_address.clone()) else {
            continue;
        };
        let prefix = alias.to_ascii_uppercase().replace('-', "_");
        env.push(format!("{prefix}_NAME=/{}/{}", rec.name, alias));
        let mut ports: Vec<(u16, String)> = t
            .config
            .exposed_ports
            .iter()
            .flatten()
            .filter_map(|k| crate::ports::parse_key(k).ok())
            .collect();
        ports.sort();
        if let Some((p, proto)) = ports.first() {
            env.push(format!("{prefix}_PORT={proto}://{ip}:{p}"));
        }
        for (p, proto) in &ports {
            let up = proto.to_ascii_uppercase();
            env.push(format!("{prefix}_PORT_{p}_{up}={proto}://{ip}:{p}"));
            env.push(format!("{prefix}_PORT_{p}_{up}_ADDR={ip}"));
            env.push(format!("{prefix}_PORT_{p}_{up}_PORT={p}"));
            env.push(format!("{prefix}_PORT_{p}_{up}_PROTO={proto}"));
        }
        for kv in t.config.env.iter().flatten() {
            let key = kv.split('=').next().unwrap_or_default();
            if !matches!(key, "HOME" | "PATH" | "HOSTNAME") && !key.is_empty() {
                env.push(format!("{prefix}_ENV_{kv}"));
            }
        }
    }
    Ok(env)
}

impl Engine {
    /// `docker rm --link parent/alias`: removes the link `alias` of container `parent`
    /// (its `/etc/hosts` keeps the old entry until the container restarts, as with dockerd).
    pub(crate) async fn remove_link(&self, key: &str) -> Result<()> {
        let name = key.trim_start_matches('/');
        let Some((parent, alias)) = name.rsplit_once('/') else {
            // The container's own name is its "default link", which dockerd refuses to drop.
            self.lookup(name)?;
            return Err(EngineError::DefaultLink);
        };
        // dockerd names the whole link in its not-found error.
        let ctr = match self.lookup(parent) {
            Err(EngineError::NoSuchContainer(_)) => {
                return Err(EngineError::NoSuchContainer(name.to_owned()));
            }
            other => other?,
        };
        let _guard = ctr.lifecycle.lock().await;
        let is_it = |l: &String| {
            let a = l.split_once(':').map_or(l.as_str(), |(_, a)| a);
            a.rsplit('/').next() == Some(alias)
        };
        let removed = ctr.update(|r| {
            let before = r.host_config.links.as_ref().map_or(0, Vec::len);
            if let Some(links) = &mut r.host_config.links {
                links.retain(|l| !is_it(l));
            }
            for e in r.net.networks.values_mut() {
                e.links.retain(|l| !is_it(l));
            }
            let after = r.host_config.links.as_ref().map_or(0, Vec::len);
            before != after
        });
        if !removed {
            return Err(EngineError::NoSuchContainer(name.to_owned()));
        }
        ctr.persist(&self.inner.cfg.containers_dir())
    }
}
