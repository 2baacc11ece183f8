//! `create`: validate the request, resolve the image, merge its defaults, make the
//! container's writable layer and volumes, and record it. Nothing is left half-made: every
//! check runs before the first change.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bollard_stubs::models::{ContainerConfig, ContainerCreateBody, HostConfig};

use crate::container::names;
use crate::container::record::{ContainerRecord, EndpointRecord, NetRecord, RunState};
use crate::container::restart::Policy;
use crate::engine::{Ctr, Engine};
use crate::error::{EngineError, Result};
use crate::lifecycle::validate;
use crate::{mounts, netsetup, store};

/// Options the API passes with a create.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: Option<String>,
    /// `--platform`, accepted when it names this host's platform.
    pub platform: Option<String>,
}

fn random_id() -> String {
    let mut b = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Docker's merge of the user's config over the image's (`Config` in inspect).
pub(crate) fn merge_config(user: &ContainerConfig, image: &ContainerConfig) -> ContainerConfig {
    let mut c = user.clone();
    let given = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    if given(&user.entrypoint) {
        // `--entrypoint ""` arrives as [""]: no entrypoint, and the image's Cmd is dropped too.
        if user.entrypoint.as_deref() == Some(&[String::new()][..]) {
            c.entrypoint = None;
        }
    } else {
        c.entrypoint = image.entrypoint.clone();
        if !given(&user.cmd) {
            c.cmd = image.cmd.clone();
        }
    }
    let mut env: Vec<String> = image.env.clone().unwrap_or_default();
    for kv in user.env.iter().flatten() {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    // dockerd shows no environment as null, not as an empty list.
    c.env = (!env.is_empty()).then_some(env);
    if c.working_dir.as_deref().is_none_or(str::is_empty) {
        c.working_dir = image.working_dir.clone();
    }
    if c.user.as_deref().is_none_or(str::is_empty) {
        c.user = image.user.clone();
    }
    let mut ports: Vec<String> = image.exposed_ports.clone().unwrap_or_default();
    ports.extend(user.exposed_ports.clone().unwrap_or_default());
    ports.sort();
    ports.dedup();
    c.exposed_ports = (!ports.is_empty()).then_some(ports);
    let mut vols: Vec<String> = image.volumes.clone().unwrap_or_default();
    vols.extend(user.volumes.clone().unwrap_or_default());
    vols.sort();
    vols.dedup();
    c.volumes = (!vols.is_empty()).then_some(vols);
    let mut labels: HashMap<String, String> = image.labels.clone().unwrap_or_default();
    labels.extend(user.labels.clone().unwrap_or_default());
    c.labels = Some(labels);
    if c.stop_signal.as_deref().is_none_or(str::is_empty) {
        c.stop_signal = image.stop_signal.clone();
    }
    if c.healthcheck.is_none() {
        c.healthcheck = image.healthcheck.clone();
    }
    if c.shell.is_none() {
        c.shell = image.shell.clone();
    }
    c.on_build = None;
    c
}

/// Checks the user's config and host config before anything is made; Docker's warnings.
fn validate_all(c: &ContainerConfig, h: &mut HostConfig) -> Result<Vec<String>> {
    validate::config(c)?;
    validate(h)?;
    validate::host(h)?;
    let warnings = validate::resources(
        &validate::Resources::of_host(h),
        validate::host_info(),
        false,
    )?;
    if !validate::host_info().blkio_weight {
        h.blkio_weight = None;
    }
    Ok(warnings)
}

/// Checks the host config before anything is made.
fn validate(h: &HostConfig) -> Result<()> {
    let rp = h.restart_policy.clone().unwrap_or_default();
    let policy = Policy::from_docker(
        &rp.name.map(|n| n.to_string()).unwrap_or_default(),
        rp.maximum_retry_count.unwrap_or(0),
    )
    .map_err(EngineError::InvalidArgument)?;
    if h.auto_remove.unwrap_or(false) && policy != Policy::No {
        return Err(EngineError::InvalidArgument(
            "can't create 'AutoRemove' container with restart policy".into(),
        ));
    }
    if let Some(s) = &h.security_opt {
        for o in s {
            if !(o.starts_with("no-new-privileges")
                || o.starts_with("seccomp")
                || o.starts_with("apparmor")
                || o.starts_with("label")
                || o.starts_with("systempaths"))
            {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid --security-opt: {o:?}"
                )));
            }
        }
    }
    crate::ports::validate(h)?;
    Ok(())
}

impl Engine {
    /// Creates a container; returns its id and warnings.
    pub async fn create(
        &self,
        opts: CreateOptions,
        body: ContainerCreateBody,
    ) -> Result<(String, Vec<String>)> {
        let (config, mut host, networking) = split_body(body);
        let image_ref = config
            .image
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| EngineError::InvalidArgument("no image specified".into()))?;
        let platform = opts.platform.as_deref().filter(|p| !p.is_empty());
        if let Some(p) = platform {
            super::refuse::Platform::parse(p)?;
        }
        let warnings = validate_all(&config, &mut host)?;
        super::refuse::at_create(&host, &self.inner.cfg.data_root)?;
        let image = self.inner.images.resolve(&image_ref).map_err(|e| match e {
            berth_image::ImageError::NotFound(_) => {
                EngineError::NoSuchImage(normalize_ref(&image_ref))
            }
            // A bad reference, an unreadable store: their own class, not a 404.
            other => EngineError::from_lib(&other),
        })?;
        if let Some(p) = platform {
            let info = self
                .inner
                .images
                .inspect(&image.id)
                .map_err(|e| EngineError::from_lib(&e))?;
            super::refuse::platform(
                p,
                &image_ref,
                &info.os,
                &info.architecture,
                info.variant.as_deref(),
            )?;
        }
        let id = random_id();
        let name = match opts.name.filter(|n| !n.is_empty()) {
            Some(n) if !names::is_valid(&n) => return Err(EngineError::InvalidName(n)),
            Some(n) => n.trim_start_matches('/').to_owned(),
            None => self.generate_name(&id),
        };
        let mut config = merge_config(&config, &image.config);
        // Docker records the hostname it will use (inspect shows it): the short id, or the
        // host's with `--network host`.
        if config.hostname.as_deref().is_none_or(str::is_empty) {
            let host_net = host.network_mode.as_deref() == Some("host");
            config.hostname = Some(match nix::unistd::gethostname() {
                Ok(h) if host_net => h.to_string_lossy().into_owned(),
                _ => id[..12].to_owned(),
            });
        }
        if config.entrypoint.as_ref().is_none_or(Vec::is_empty)
            && config.cmd.as_ref().is_none_or(Vec::is_empty)
        {
            return Err(EngineError::InvalidArgument("No command specified".into()));
        }
        fill_host_defaults(&mut host);
        let net = self.plan_networks(&host, networking.as_ref())?;
        self.reserve_name(&name, &id)?;
        match self
            .create_reserved(&id, &name, &image_ref, image.id.clone(), config, host, net)
            .await
        {
            Ok(ctr) => {
                let rec = ctr.snapshot();
                self.insert(ctr);
                self.container_event(&rec, "create", &[]);
                Ok((id, warnings))
            }
            Err(e) => {
                self.release_name(&name);
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_reserved(
        &self,
        id: &str,
        name: &str,
        image_ref: &str,
        image_id: String,
        config: ContainerConfig,
        host: HostConfig,
        net: NetRecord,
    ) -> Result<Arc<Ctr>> {
        let mounts = mounts::resolve(self, id, &config, &host)?;
        self.inner
            .images
            .prepare(id, &image_id)
            .map_err(|e| EngineError::from_lib(&e))?;
        let dir = self.inner.cfg.container_dir(id);
        let (path, args) = {
            let mut all: Vec<String> = config.entrypoint.clone().unwrap_or_default();
            all.extend(config.cmd.clone().unwrap_or_default());
            let mut it = all.into_iter();
            (it.next().unwrap_or_default(), it.collect())
        };
        let json_log = host.log_config.as_ref().and_then(|l| l.typ.as_deref()) != Some("none");
        let rec = ContainerRecord {
            id: id.to_owned(),
            name: name.to_owned(),
            created: chrono::Utc::now(),
            image: image_ref.to_owned(),
            image_id,
            config,
            host_config: host,
            state: RunState::default(),
            net,
            mounts,
            path,
            args,
            log_path: json_log.then(|| dir.join(format!("{id}-json.log"))),
            hostname_path: dir.join("hostname"),
            hosts_path: dir.join("hosts"),
            resolv_conf_path: dir.join("resolv.conf"),
            exec_ids: Vec::new(),
        };
        if let Err(e) = store::save(&self.inner.cfg.containers_dir(), &rec) {
            let _ = self.inner.images.remove(id);
            return Err(e);
        }
        Ok(Ctr::new(rec))
    }

    fn generate_name(&self, id: &str) -> String {
        let seed = u64::from_str_radix(&id[..15], 16).unwrap_or(0);
        let names = self
            .inner
            .names
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (0..)
            .map(|n| names::generate(seed, n))
            .find(|n| !names.contains_key(n))
            .unwrap_or_default()
    }

    /// The networks a container joins: its network mode, plus `EndpointsConfig` entries.
    fn plan_networks(
        &self,
        host: &HostConfig,
        networking: Option<&bollard_stubs::models::NetworkingConfig>,
    ) -> Result<NetRecord> {
        let mode = match host.network_mode.as_deref() {
            None | Some("" | "default") => "bridge".to_owned(),
            Some(m) => m.to_owned(),
        };
        let mut networks = BTreeMap::new();
        if mode == "none" || mode == "host" || mode.starts_with("container:") {
            if let Some(c) = mode.strip_prefix("container:") {
                self.lookup(c)?;
            }
            return Ok(NetRecord {
                networks,
                ..NetRecord::default()
            });
        }
        // The CLI keys the default network's settings as "default".
        let endpoints: HashMap<String, _> = networking
            .and_then(|n| n.endpoints_config.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (if k == "default" { mode.clone() } else { k }, v))
            .collect();
        let mut names: Vec<String> = vec![mode.clone()];
        names.extend(endpoints.keys().filter(|k| **k != mode).cloned());
        for n in names {
            // As dockerd: a network that does not exist (yet) fails the start, not the create
            // (the CLI would take a 404 from create for a missing image and try a pull).
            let info = match self.inner.network.get(&n) {
                Ok(info) => info,
                Err(berth_network::NetError::NotFound(_)) => {
                    let ep = endpoints.get(&n).cloned().unwrap_or_default();
                    networks.insert(
                        n.clone(),
                        EndpointRecord {
                            aliases: ep.aliases.clone().unwrap_or_default(),
                            links: ep.links.clone().unwrap_or_default(),
                            ..EndpointRecord::default()
                        },
                    );
                    continue;
                }
                Err(e) => return Err(EngineError::from_lib(&e)),
            };
            let ep = endpoints.get(&n).cloned().unwrap_or_default();
            if info.name == "bridge" && ep.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
                return Err(EngineError::InvalidArgument("network-scoped alias is supported only for containers in user defined networks".into()));
            }
            let requested_ip = ep
                .ipam_config
                .as_ref()
                .and_then(|i| i.ipv4_address.clone())
                .filter(|s| !s.is_empty());
            let links = if info.name == "bridge" {
                host.links.clone().unwrap_or_default()
            } else {
                ep.links.clone().unwrap_or_default()
            };
            networks.insert(
                info.name.clone(),
                EndpointRecord {
                    network_id: info.id.clone(),
                    aliases: ep.aliases.clone().unwrap_or_default(),
                    links,
                    requested_ip,
                    ..EndpointRecord::default()
                },
            );
        }
        Ok(NetRecord {
            networks,
            ..NetRecord::default()
        })
    }
}

/// `busybox` → `busybox:latest`, as Docker's "No such image" message shows it.
pub(crate) fn normalize_ref(r: &str) -> String {
    let last = r.rsplit('/').next().unwrap_or(r);
    if r.contains('@') || last.contains(':') {
        r.to_owned()
    } else {
        format!("{r}:latest")
    }
}

fn split_body(
    body: ContainerCreateBody,
) -> (
    ContainerConfig,
    HostConfig,
    Option<bollard_stubs::models::NetworkingConfig>,
) {
    let host = body.host_config.clone().unwrap_or_default();
    let networking = body.networking_config.clone();
    let config = ContainerConfig {
        hostname: body.hostname,
        domainname: body.domainname,
        user: body.user,
        attach_stdin: body.attach_stdin,
        attach_stdout: body.attach_stdout,
        attach_stderr: body.attach_stderr,
        exposed_ports: body.exposed_ports,
        tty: body.tty,
        open_stdin: body.open_stdin,
        stdin_once: body.stdin_once,
        env: body.env,
        cmd: body.cmd,
        healthcheck: body.healthcheck,
        args_escaped: body.args_escaped,
        image: body.image,
        volumes: body.volumes,
        working_dir: body.working_dir,
        entrypoint: body.entrypoint,
        network_disabled: body.network_disabled,
        on_build: body.on_build,
        labels: body.labels,
        stop_signal: body.stop_signal,
        stop_timeout: body.stop_timeout,
        shell: body.shell,
    };
    (config, host, networking)
}

/// Defaults Docker fills in at create, which inspect shows.
fn fill_host_defaults(h: &mut HostConfig) {
    if h.network_mode
        .as_deref()
        .is_none_or(|m| m.is_empty() || m == "default")
    {
        h.network_mode = Some("bridge".into());
    }
    if h.log_config
        .as_ref()
        .and_then(|l| l.typ.as_deref())
        .is_none_or(str::is_empty)
    {
        h.log_config = Some(bollard_stubs::models::HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: h.log_config.as_ref().and_then(|l| l.config.clone()),
        });
    }
    if h.shm_size.is_none_or(|s| s == 0) {
        h.shm_size = Some(64 << 20);
    }
    // Docker stores the swap limit a memory limit implies (inspect shows it), and no pids
    // limit for a non-positive one.
    if let Some(m) = h.memory.filter(|m| *m > 0)
        && h.memory_swap.is_none_or(|s| s == 0)
    {
        h.memory_swap = Some(m.saturating_mul(2));
    }
    if h.pids_limit.is_some_and(|p| p <= 0) {
        h.pids_limit = None;
    }
    if !h.privileged.unwrap_or(false) {
        if h.masked_paths.is_none() {
            h.masked_paths = Some(berth_runtime::spec::masked_paths());
        }
        if h.readonly_paths.is_none() {
            h.readonly_paths = Some(berth_runtime::spec::readonly_paths());
        }
    }
    let _ = netsetup::mode;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_follows_docker() {
        let image = ContainerConfig {
            cmd: Some(vec!["sh".into()]),
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            working_dir: Some("/app".into()),
            exposed_ports: Some(vec!["80/tcp".into()]),
            ..Default::default()
        };
        let user = ContainerConfig {
            env: Some(vec!["A=2".into(), "B=3".into()]),
            ..Default::default()
        };
        let c = merge_config(&user, &image);
        assert_eq!(c.cmd, Some(vec!["sh".into()]));
        assert_eq!(
            c.env,
            Some(vec!["PATH=/bin".into(), "A=2".into(), "B=3".into()])
        );
        assert_eq!(c.working_dir.as_deref(), Some("/app"));
        let user = ContainerConfig {
            cmd: Some(vec!["echo".into(), "hi".into()]),
            ..Default::default()
        };
        let c = merge_config(
            &user,
            &ContainerConfig {
                entrypoint: Some(vec!["/init".into()]),
                cmd: Some(vec!["x".into()]),
                ..Default::default()
            },
        );
        assert_eq!(c.entrypoint, Some(vec!["/init".into()]));
        assert_eq!(c.cmd, Some(vec!["echo".into(), "hi".into()]));
    }

    #[test]
    fn validation_errors_are_dockers() {
        let mut h = HostConfig {
            memory: Some(1024),
            ..Default::default()
        };
        assert_eq!(
            validate_all(&ContainerConfig::default(), &mut h)
                .unwrap_err()
                .to_string(),
            "Minimum memory limit allowed is 6MB"
        );
        assert_eq!(normalize_ref("busybox"), "busybox:latest");
        assert_eq!(normalize_ref("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(normalize_ref("x:1"), "x:1");
    }
}
