//! A service → the Engine API's `POST /containers/create` body (Docker's JSON names), and the
//! endpoint settings for each network it joins.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::labels;
use crate::model::mounts::{Mount, MountKind};
use crate::model::service::ServiceNetwork;
use crate::model::{Project, Service};

/// What makes one container of a service distinct.
#[derive(Debug, Clone)]
pub(crate) struct Instance<'a> {
    pub(crate) project: &'a Project,
    pub(crate) service: &'a str,
    pub(crate) svc: &'a Service,
    pub(crate) number: u32,
    pub(crate) oneoff: bool,
}

impl Instance<'_> {
    /// The create body; the first network is attached here, others with `connect`.
    pub(crate) fn create_body(&self) -> Result<Value, String> {
        let s = self.svc;
        let mut cfg = Map::new();
        cfg.insert("Image".into(), json!(self.project.image_of(self.service)));
        cfg.insert("Labels".into(), json!(self.labels()));
        put_opt(&mut cfg, "Cmd", s.command.as_ref());
        put_opt(&mut cfg, "Entrypoint", s.entrypoint.as_ref());
        let env: Vec<String> = s
            .environment
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        if !env.is_empty() {
            cfg.insert("Env".into(), json!(env));
        }
        put_opt(&mut cfg, "User", s.user.as_ref());
        put_opt(&mut cfg, "WorkingDir", s.working_dir.as_ref());
        put_opt(&mut cfg, "Hostname", s.hostname.as_ref());
        put_opt(&mut cfg, "Domainname", s.domainname.as_ref());
        put_opt(&mut cfg, "StopSignal", s.stop_signal.as_ref());
        put_opt(&mut cfg, "MacAddress", s.mac_address.as_ref());
        if let Some(g) = s.stop_grace_period {
            cfg.insert("StopTimeout".into(), json!(g.0.as_secs()));
        }
        cfg.insert("Tty".into(), json!(s.tty));
        cfg.insert("OpenStdin".into(), json!(s.stdin_open));
        cfg.insert("AttachStdin".into(), json!(false));
        cfg.insert("AttachStdout".into(), json!(true));
        cfg.insert("AttachStderr".into(), json!(true));
        let mut exposed = Map::new();
        for p in &s.expose {
            let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            let (a, b) = crate::model::ports::parse_range(port)?;
            for n in a..=b {
                exposed.insert(format!("{n}/{proto}"), json!({}));
            }
        }
        let bindings = self.port_bindings(&mut exposed)?;
        if !exposed.is_empty() {
            cfg.insert("ExposedPorts".into(), Value::Object(exposed));
        }
        if let Some(h) = &s.healthcheck {
            cfg.insert("Healthcheck".into(), healthcheck(h));
        }
        let anonymous: Map<String, Value> = s
            .volumes
            .iter()
            .filter(|m| m.kind == MountKind::Volume && m.source.is_none())
            .map(|m| (m.target.clone(), json!({})))
            .collect();
        if !anonymous.is_empty() {
            cfg.insert("Volumes".into(), Value::Object(anonymous));
        }
        let mut host = self.host_config()?;
        host.insert("PortBindings".into(), Value::Object(bindings));
        cfg.insert("HostConfig".into(), Value::Object(host));
        if let Some((net, ep)) = self.endpoints().into_iter().next() {
            cfg.insert(
                "NetworkingConfig".into(),
                json!({ "EndpointsConfig": { net: ep } }),
            );
        }
        Ok(Value::Object(cfg))
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let p = self.project;
        let mut l = self.svc.labels.clone();
        for (k, v) in labels::project_labels(p) {
            l.insert(k, v);
        }
        l.insert(labels::SERVICE.into(), self.service.to_owned());
        l.insert(labels::NUMBER.into(), self.number.to_string());
        l.insert(
            labels::ONEOFF.into(),
            if self.oneoff { "True" } else { "False" }.into(),
        );
        l.insert(
            labels::CONFIG_HASH.into(),
            labels::config_hash(p, self.service, self.svc),
        );
        l.insert(
            labels::WORKING_DIR.into(),
            p.working_dir.display().to_string(),
        );
        let files: Vec<String> = p
            .config_files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        l.insert(labels::CONFIG_FILES.into(), files.join(","));
        let deps: Vec<String> = self
            .svc
            .depends_on
            .iter()
            .map(|(n, d)| {
                let cond = serde_json::to_value(d.condition)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                format!("{n}:{cond}:{}", d.restart)
            })
            .collect();
        if !deps.is_empty() {
            l.insert(labels::DEPENDS_ON.into(), deps.join(","));
        }
        l
    }

    /// `PortBindings`, adding each published port to `ExposedPorts`.
    fn port_bindings(
        &self,
        exposed: &mut Map<String, Value>,
    ) -> Result<Map<String, Value>, String> {
        let mut out: Map<String, Value> = Map::new();
        for p in &self.svc.ports {
            for (target, host) in p.bindings()? {
                let key = format!("{target}/{}", p.protocol);
                exposed.insert(key.clone(), json!({}));
                let entry = json!({
                    "HostIp": p.host_ip.clone().unwrap_or_default(),
                    "HostPort": host.map(|h| h.to_string()).unwrap_or_default(),
                });
                match out.get_mut(&key) {
                    Some(Value::Array(a)) => a.push(entry),
                    _ => {
                        out.insert(key, json!([entry]));
                    }
                }
            }
        }
        Ok(out)
    }

    fn host_config(&self) -> Result<Map<String, Value>, String> {
        let s = self.svc;
        let p = self.project;
        let mut h = Map::new();
        let (binds, mounts) = self.mounts();
        if !binds.is_empty() {
            h.insert("Binds".into(), json!(binds));
        }
        if !mounts.is_empty() {
            h.insert("Mounts".into(), json!(mounts));
        }
        let network_mode = match &s.network_mode {
            Some(m) => m.strip_prefix("service:").map_or_else(
                || m.clone(),
                |svc| format!("container:{}", container_name(p, svc, 1)),
            ),
            None => s
                .network_names()
                .first()
                .map_or_else(|| "default".into(), |n| p.network_name(n)),
        };
        h.insert("NetworkMode".into(), json!(network_mode));
        h.insert("RestartPolicy".into(), restart_policy(s));
        put_list(&mut h, "Dns", &s.dns);
        put_list(&mut h, "DnsSearch", &s.dns_search);
        put_list(&mut h, "DnsOptions", &s.dns_opt);
        put_list(&mut h, "ExtraHosts", &s.extra_hosts);
        put_list(&mut h, "CapAdd", &s.cap_add);
        put_list(&mut h, "CapDrop", &s.cap_drop);
        put_list(&mut h, "SecurityOpt", &s.security_opt);
        let links: Vec<String> = s
            .links
            .iter()
            .map(|l| {
                let (svc, alias) = l.split_once(':').unwrap_or((l, l));
                format!("{}:{alias}", container_name(p, svc, 1))
            })
            .collect();
        put_list(&mut h, "Links", &links);
        let volumes_from: Vec<String> = s
            .volumes_from
            .iter()
            .map(|v| match v.strip_prefix("container:") {
                Some(c) => c.to_owned(),
                None => {
                    let (svc, mode) = v
                        .split_once(':')
                        .map_or((v.as_str(), None), |(a, b)| (a, Some(b)));
                    let name = container_name(p, svc, 1);
                    mode.map_or_else(|| name.clone(), |m| format!("{name}:{m}"))
                }
            })
            .collect();
        put_list(&mut h, "VolumesFrom", &volumes_from);
        h.insert("Privileged".into(), json!(s.privileged));
        h.insert("ReadonlyRootfs".into(), json!(s.read_only));
        if let Some(i) = s.init {
            h.insert("Init".into(), json!(i));
        }
        if !s.ulimits.is_empty() {
            let u: Vec<Value> = s
                .ulimits
                .iter()
                .map(|(n, l)| json!({"Name": n, "Soft": l.soft, "Hard": l.hard}))
                .collect();
            h.insert("Ulimits".into(), json!(u));
        }
        self.resources(&mut h)?;
        if !s.sysctls.is_empty() {
            h.insert("Sysctls".into(), json!(s.sysctls));
        }
        if !s.tmpfs.is_empty() {
            let t: Map<String, Value> = s
                .tmpfs
                .iter()
                .map(|t| {
                    let (path, opts) = t.split_once(':').unwrap_or((t, ""));
                    (path.to_owned(), json!(opts))
                })
                .collect();
            h.insert("Tmpfs".into(), Value::Object(t));
        }
        if !s.devices.is_empty() {
            let d: Vec<Value> = s
                .devices
                .iter()
                .map(|d| {
                    let parts: Vec<&str> = d.split(':').collect();
                    let host = parts[0];
                    let cont = parts.get(1).copied().unwrap_or(host);
                    let perms = parts.get(2).copied().unwrap_or("rwm");
                    json!({"PathOnHost": host, "PathInContainer": cont, "CgroupPermissions": perms})
                })
                .collect();
            h.insert("Devices".into(), json!(d));
        }
        let groups: Vec<&str> = s.group_add.iter().map(|g| g.0.as_str()).collect();
        if !groups.is_empty() {
            h.insert("GroupAdd".into(), json!(groups));
        }
        put_opt(&mut h, "PidMode", s.pid.as_ref());
        put_opt(&mut h, "IpcMode", s.ipc.as_ref());
        put_opt(&mut h, "OomScoreAdj", s.oom_score_adj.as_ref());
        if let Some(l) = &s.logging {
            h.insert(
                "LogConfig".into(),
                json!({"Type": l.driver.clone().unwrap_or_else(|| "json-file".into()), "Config": l.options}),
            );
        }
        Ok(h)
    }

    fn resources(&self, h: &mut Map<String, Value>) -> Result<(), String> {
        let s = self.svc;
        let limits = s
            .deploy
            .as_ref()
            .and_then(|d| d.resources.as_ref())
            .and_then(|r| r.limits.clone())
            .unwrap_or_default();
        let reservations = s
            .deploy
            .as_ref()
            .and_then(|d| d.resources.as_ref())
            .and_then(|r| r.reservations.clone())
            .unwrap_or_default();
        if let Some(m) = s.mem_limit.or(limits.memory) {
            h.insert("Memory".into(), json!(m.0));
        }
        if let Some(m) = s.mem_reservation.or(reservations.memory) {
            h.insert("MemoryReservation".into(), json!(m.0));
        }
        if let Some(m) = s.memswap_limit {
            h.insert("MemorySwap".into(), json!(m.0));
        }
        if let Some(m) = s.shm_size {
            h.insert("ShmSize".into(), json!(m.0));
        }
        if let Some(c) = s.cpus.as_ref().or(limits.cpus.as_ref()) {
            let cpus: f64 =
                c.0.parse()
                    .map_err(|_| format!("cpus: {:?} is not a number", c.0))?;
            #[allow(clippy::cast_possible_truncation)] // a CPU count times 1e9 fits in i64
            h.insert("NanoCpus".into(), json!((cpus * 1e9).round() as i64));
        }
        put_opt(h, "CpuShares", s.cpu_shares.as_ref());
        put_opt(h, "CpusetCpus", s.cpuset.as_ref());
        if let Some(p) = s.pids_limit.or(limits.pids) {
            h.insert("PidsLimit".into(), json!(p));
        }
        Ok(())
    }

    /// Short-syntax binds and named volumes go in `Binds` (Docker creates a missing host
    /// directory for those, as `-v` does); the long syntax, tmpfs, configs and secrets in
    /// `Mounts`.
    fn mounts(&self) -> (Vec<String>, Vec<Value>) {
        let mut binds = Vec::new();
        let mut mounts = Vec::new();
        for m in &self.svc.volumes {
            match (m.kind, &m.source) {
                (MountKind::Bind, Some(src))
                    if m.bind.as_ref().and_then(|b| b.create_host_path) == Some(true) =>
                {
                    binds.push(bind_spec(src, m));
                }
                (MountKind::Volume, Some(src)) if m.volume.is_none() => {
                    binds.push(bind_spec(&self.project.volume_name(src), m));
                }
                (MountKind::Volume, None) => {}
                _ => mounts.push(self.mount(m)),
            }
        }
        for (refs, defs, dir) in [
            (&self.svc.configs, &self.project.file.configs, ""),
            (
                &self.svc.secrets,
                &self.project.file.secrets,
                "/run/secrets",
            ),
        ] {
            for r in refs {
                let Some(file) = defs.get(&r.source).and_then(|d| d.file.clone()) else {
                    continue;
                };
                let target = match &r.target {
                    Some(t) if t.starts_with('/') => t.clone(),
                    Some(t) => format!("{}/{t}", if dir.is_empty() { "" } else { dir }),
                    None => format!("{dir}/{}", r.source),
                };
                mounts.push(
                    json!({"Type": "bind", "Source": file, "Target": target, "ReadOnly": true}),
                );
            }
        }
        (binds, mounts)
    }

    fn mount(&self, m: &Mount) -> Value {
        let mut v = json!({
            "Type": match m.kind { MountKind::Bind => "bind", MountKind::Volume => "volume", MountKind::Tmpfs => "tmpfs" },
            "Target": m.target,
            "ReadOnly": m.read_only,
        });
        match m.kind {
            MountKind::Volume => {
                if let Some(src) = &m.source {
                    v["Source"] = json!(self.project.volume_name(src));
                }
                if let Some(o) = &m.volume {
                    v["VolumeOptions"] = json!({"NoCopy": o.nocopy});
                }
            }
            MountKind::Bind => {
                v["Source"] = json!(m.source);
                if let Some(p) = m.bind.as_ref().and_then(|b| b.propagation.clone()) {
                    v["BindOptions"] = json!({"Propagation": p});
                }
            }
            MountKind::Tmpfs => {
                if let Some(t) = &m.tmpfs {
                    let mut o = Map::new();
                    if let Some(s) = t.size {
                        o.insert("SizeBytes".into(), json!(s.0));
                    }
                    if let Some(mode) = t.mode {
                        o.insert("Mode".into(), json!(mode));
                    }
                    v["TmpfsOptions"] = Value::Object(o);
                }
            }
        }
        v
    }

    /// Each network's engine name and endpoint settings, in attach order (priority first).
    pub(crate) fn endpoints(&self) -> Vec<(String, Value)> {
        let s = self.svc;
        if s.network_mode.is_some() {
            return Vec::new();
        }
        let default = BTreeMap::from([("default".to_owned(), ServiceNetwork::default())]);
        let nets = s.networks.as_ref().unwrap_or(&default);
        let mut list: Vec<(&String, &ServiceNetwork)> = nets.iter().collect();
        list.sort_by_key(|(_, n)| std::cmp::Reverse(n.priority.unwrap_or(0)));
        list.into_iter()
            .map(|(key, n)| {
                let mut aliases = vec![self.service.to_owned()];
                aliases.extend(n.aliases.iter().cloned());
                let mut ep = json!({ "Aliases": aliases });
                if n.ipv4_address.is_some() || n.ipv6_address.is_some() {
                    let mut ipam = Map::new();
                    if let Some(a) = &n.ipv4_address {
                        ipam.insert("IPv4Address".into(), json!(a));
                    }
                    if let Some(a) = &n.ipv6_address {
                        ipam.insert("IPv6Address".into(), json!(a));
                    }
                    ep["IPAMConfig"] = Value::Object(ipam);
                }
                if let Some(m) = &n.mac_address {
                    ep["MacAddress"] = json!(m);
                }
                (self.project.network_name(key), ep)
            })
            .collect()
    }
}

/// `<project>-<service>-<n>`, Compose v2's container name (or `container_name`).
pub(crate) fn container_name(project: &Project, service: &str, number: u32) -> String {
    if let Some(n) = project
        .file
        .services
        .get(service)
        .and_then(|s| s.container_name.clone())
    {
        return n;
    }
    format!("{}-{service}-{number}", project.name)
}

fn bind_spec(src: &str, m: &Mount) -> String {
    let mut opts = Vec::new();
    if m.read_only {
        opts.push("ro".to_owned());
    }
    if let Some(b) = &m.bind {
        opts.extend(b.selinux.clone());
        opts.extend(b.propagation.clone());
    }
    if opts.is_empty() {
        format!("{src}:{}", m.target)
    } else {
        format!("{src}:{}:{}", m.target, opts.join(","))
    }
}

fn healthcheck(h: &crate::model::service::Healthcheck) -> Value {
    if h.disable {
        return json!({"Test": ["NONE"]});
    }
    let mut v = Map::new();
    if let Some(t) = &h.test {
        v.insert("Test".into(), json!(t));
    }
    for (k, d) in [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
    ] {
        if let Some(d) = d {
            v.insert(k.into(), json!(d.nanos()));
        }
    }
    if let Some(r) = h.retries {
        v.insert("Retries".into(), json!(r));
    }
    Value::Object(v)
}

fn restart_policy(s: &Service) -> Value {
    let r = s.restart.clone().or_else(|| {
        s.deploy
            .as_ref()
            .and_then(|d| d.restart_policy.as_ref())
            .and_then(|p| p.condition.clone())
            .map(|c| match c.as_str() {
                "any" => "always".to_owned(),
                "none" => "no".to_owned(),
                other => other.to_owned(),
            })
    });
    match r.as_deref() {
        None | Some("no" | "") => json!({"Name": "no"}),
        Some(p) => match p.split_once(':') {
            Some((name, n)) => {
                json!({"Name": name, "MaximumRetryCount": n.parse::<i64>().unwrap_or(0)})
            }
            None => json!({"Name": p}),
        },
    }
}

fn put_opt<T: serde::Serialize>(m: &mut Map<String, Value>, k: &str, v: Option<&T>) {
    if let Some(v) = v {
        m.insert(k.into(), json!(v));
    }
}

fn put_list(m: &mut Map<String, Value>, k: &str, v: &[String]) {
    if !v.is_empty() {
        m.insert(k.into(), json!(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Environment, Options, load};

    fn project(yaml: &str) -> Project {
        let d = tempfile::Builder::new()
            .prefix("conv")
            .tempdir()
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(d.path().join("compose.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
        let opts = Options {
            files: vec![d.path().join("compose.yaml")],
            project_name: Some("p".into()),
            ..Options::default()
        };
        load(&opts, &Environment::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn body(p: &Project, service: &str) -> Value {
        Instance {
            project: p,
            service,
            svc: &p.file.services[service],
            number: 1,
            oneoff: false,
        }
        .create_body()
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn service_to_create_body() {
        let p = project(
            r#"
services:
  web:
    image: busybox
    command: echo hi
    ports: ["127.0.0.1:8080:80", "9000-9001:9000-9001/udp"]
    expose: ["7000"]
    volumes: ["./conf:/conf:ro", "data:/data", "/anon", {type: tmpfs, target: /t, tmpfs: {size: 1m}}]
    healthcheck: {test: ["CMD", "true"], interval: 1500ms, retries: 3}
    restart: on-failure:4
    mem_limit: 64m
    cpus: 0.5
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 64}
    init: true
    read_only: true
    cap_add: [NET_ADMIN]
    stop_signal: SIGINT
    stop_grace_period: 3s
    extra_hosts: {db: 10.0.0.5}
    networks:
      front: {aliases: [www], ipv4_address: 10.5.0.9}
      back: {}
networks: {front: {}, back: {}}
volumes: {data: {}}
"#,
        );
        let b = body(&p, "web");
        assert_eq!(b["Cmd"], json!(["echo", "hi"]));
        assert_eq!(b["Labels"][labels::PROJECT], "p");
        assert_eq!(b["Labels"][labels::NUMBER], "1");
        let h = &b["HostConfig"];
        assert_eq!(
            h["PortBindings"]["80/tcp"],
            json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}])
        );
        assert_eq!(
            h["PortBindings"]["9001/udp"],
            json!([{"HostIp": "", "HostPort": "9001"}])
        );
        assert!(b["ExposedPorts"]["7000/tcp"].is_object());
        let binds = h["Binds"].as_array().unwrap_or_else(|| panic!("{h}"));
        assert!(
            binds[0]
                .as_str()
                .is_some_and(|s| s.ends_with("/conf:/conf:ro"))
        );
        assert_eq!(binds[1], "p_data:/data");
        assert!(b["Volumes"]["/anon"].is_object());
        assert_eq!(h["Mounts"][0]["TmpfsOptions"]["SizeBytes"], 1 << 20);
        assert_eq!(b["Healthcheck"]["Interval"], 1_500_000_000_i64);
        assert_eq!(
            h["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 4})
        );
        assert_eq!(h["Memory"], 64 << 20);
        assert_eq!(h["NanoCpus"], 500_000_000);
        assert_eq!(
            h["Ulimits"][1],
            json!({"Name": "nproc", "Soft": 64, "Hard": 64})
        );
        assert_eq!(
            (h["Init"].clone(), h["ReadonlyRootfs"].clone()),
            (json!(true), json!(true))
        );
        assert_eq!(b["StopSignal"], "SIGINT");
        assert_eq!(b["StopTimeout"], 3);
        assert_eq!(h["ExtraHosts"], json!(["db:10.0.0.5"]));
        // The first network at create, the rest connected after; the service name is an alias.
        assert_eq!(h["NetworkMode"], "p_back");
        let inst = Instance {
            project: &p,
            service: "web",
            svc: &p.file.services["web"],
            number: 1,
            oneoff: false,
        };
        let eps = inst.endpoints();
        assert_eq!(eps.len(), 2);
        let front = &eps
            .iter()
            .find(|(n, _)| n == "p_front")
            .unwrap_or_else(|| panic!("{eps:?}"))
            .1;
        assert_eq!(front["Aliases"], json!(["web", "www"]));
        assert_eq!(front["IPAMConfig"]["IPv4Address"], "10.5.0.9");
    }

    #[test]
    fn config_hash_changes_with_the_service_alone() {
        let a = project("services:\n  web: {image: busybox, command: a}\n  db: {image: busybox}\n");
        let b = project("services:\n  web: {image: busybox, command: b}\n  db: {image: busybox}\n");
        let c = project(
            "services:\n  web: {image: busybox, command: a, scale: 3, depends_on: [db]}\n  db: {image: busybox}\n",
        );
        let h = |p: &Project, s: &str| labels::config_hash(p, s, &p.file.services[s]);
        assert_eq!(
            h(&a, "web"),
            h(
                &project(
                    "services:\n  db: {image: busybox}\n  web: {command: a, image: busybox}\n"
                ),
                "web"
            )
        );
        assert_ne!(h(&a, "web"), h(&b, "web"));
        assert_eq!(h(&a, "db"), h(&b, "db"));
        // Scale and start order do not change a container.
        assert_eq!(h(&a, "web"), h(&c, "web"));
    }
}
