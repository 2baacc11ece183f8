//! Docker's container configuration → an OCI runtime spec.
//!
//! This is where `docker run`'s options become namespaces, mounts, capabilities, seccomp,
//! resources and the process. The defaults (capabilities, masked paths, mounts, seccomp
//! profile) come from `berth_runtime::spec`, the same ones `berth runtime spec` writes, so
//! both faces of berth give a container what Docker gives it.

pub mod devices;
mod mounts;
pub mod resources;
mod security;
pub mod user;

use std::collections::HashMap;
use std::path::PathBuf;

use bollard_stubs::models::{ContainerConfig, HostConfig};
use oci_spec::runtime::{
    LinuxBuilder, LinuxNamespace, LinuxNamespaceType, Mount, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType, ProcessBuilder, RootBuilder, Spec, UserBuilder,
};

pub use mounts::ExtraMount;

/// A configuration that cannot become a spec.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    User(String),
    #[error("building the spec: {0}")]
    Build(String),
}

impl berth_errdefs::HasKind for SpecError {
    fn kind(&self) -> berth_errdefs::ErrorKind {
        berth_errdefs::ErrorKind::InvalidArgument
    }
}

/// How the container's namespaces relate to others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsMode {
    /// A new namespace.
    Private,
    /// The host's (no namespace entry in the spec).
    Host,
    /// Join this one (e.g. a bind-mounted netns, or another container's `/proc/<pid>/ns/*`).
    Path(PathBuf),
}

/// Everything besides Docker's config the spec needs, prepared by the engine.
#[derive(Debug, Clone)]
pub struct SpecInputs {
    pub id: String,
    /// Docker's Config, already merged with the image's config.
    pub config: ContainerConfig,
    pub host: HostConfig,
    /// The mounted root filesystem.
    pub rootfs: PathBuf,
    pub net: NsMode,
    pub pid: NsMode,
    pub ipc: NsMode,
    pub uts: NsMode,
    /// Files the engine wrote and bind-mounts: (container path, host path).
    pub etc_files: Vec<(String, PathBuf)>,
    /// Volumes and binds, resolved to host paths.
    pub extra_mounts: Vec<ExtraMount>,
    /// Host path of an init binary for `--init` (Docker's docker-init).
    pub init_path: Option<PathBuf>,
}

fn ns(t: LinuxNamespaceType, mode: &NsMode) -> Option<LinuxNamespace> {
    let mut n = LinuxNamespace::default();
    n.set_typ(t);
    match mode {
        NsMode::Host => return None,
        NsMode::Private => {}
        NsMode::Path(p) => {
            n.set_path(Some(p.clone()));
        }
    }
    Some(n)
}

fn rlimits(h: &HostConfig) -> Result<Vec<PosixRlimit>, SpecError> {
    let mut out = Vec::new();
    for u in h.ulimits.iter().flatten() {
        let name = u.name.clone().unwrap_or_default();
        let typ = match name.as_str() {
            "core" => PosixRlimitType::RlimitCore,
            "cpu" => PosixRlimitType::RlimitCpu,
            "data" => PosixRlimitType::RlimitData,
            "fsize" => PosixRlimitType::RlimitFsize,
            "locks" => PosixRlimitType::RlimitLocks,
            "memlock" => PosixRlimitType::RlimitMemlock,
            "msgqueue" => PosixRlimitType::RlimitMsgqueue,
            "nice" => PosixRlimitType::RlimitNice,
            "nofile" => PosixRlimitType::RlimitNofile,
            "nproc" => PosixRlimitType::RlimitNproc,
            "rss" => PosixRlimitType::RlimitRss,
            "rtprio" => PosixRlimitType::RlimitRtprio,
            "rttime" => PosixRlimitType::RlimitRttime,
            "sigpending" => PosixRlimitType::RlimitSigpending,
            "stack" => PosixRlimitType::RlimitStack,
            "as" => PosixRlimitType::RlimitAs,
            other => return Err(SpecError::Invalid(format!("invalid ulimit type: {other}"))),
        };
        let r = PosixRlimitBuilder::default()
            .typ(typ)
            .soft(u64::try_from(u.soft.unwrap_or(0)).unwrap_or(u64::MAX))
            .hard(u64::try_from(u.hard.unwrap_or(0)).unwrap_or(u64::MAX))
            .build()
            .map_err(|e| SpecError::Build(e.to_string()))?;
        out.push(r);
    }
    Ok(out)
}

/// The process's argv: entrypoint + cmd, with `--init` in front.
fn argv(c: &ContainerConfig, init: bool) -> Result<Vec<String>, SpecError> {
    let mut args: Vec<String> = c.entrypoint.clone().unwrap_or_default();
    args.extend(c.cmd.clone().unwrap_or_default());
    if args.is_empty() {
        return Err(SpecError::Invalid("no command specified".into()));
    }
    if init {
        let mut with_init = vec!["/sbin/docker-init".to_owned(), "--".to_owned()];
        with_init.extend(args);
        return Ok(with_init);
    }
    Ok(args)
}

/// The environment: PATH default, HOSTNAME, TERM with a tty, then the config's, then HOME.
fn environment(c: &ContainerConfig, hostname: &str, home: Option<&str>) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |kv: String| {
        let key = kv.split('=').next().unwrap_or_default().to_owned();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    };
    set(format!(
        "PATH={}",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    ));
    set(format!("HOSTNAME={hostname}"));
    if c.tty.unwrap_or(false) {
        set("TERM=xterm".into());
    }
    for kv in c.env.iter().flatten() {
        if kv.contains('=') {
            set(kv.clone());
        }
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home.unwrap_or("/")));
    }
    env
}

/// Builds the spec.
/// `--hostname`, else the host's with `--network host`, else the short id (Docker's rules).
fn hostname(c: &ContainerConfig, h: &HostConfig, id: &str) -> String {
    if let Some(name) = c.hostname.clone().filter(|s| !s.is_empty()) {
        return name;
    }
    if h.network_mode.as_deref() == Some("host")
        && let Ok(name) = nix::unistd::gethostname()
    {
        return name.to_string_lossy().into_owned();
    }
    id.chars().take(12).collect()
}

/// The CLI sends the terminal's size at create (`ConsoleSize`): the pty starts with it, so a
/// program that reads its size at once does not see 0x0 before the first resize.
fn console_size(
    c: &ContainerConfig,
    h: &HostConfig,
) -> Result<Option<oci_spec::runtime::Box>, SpecError> {
    let Some([height, width]) = h
        .console_size
        .as_deref()
        .and_then(|s| <[usize; 2]>::try_from(s).ok())
    else {
        return Ok(None);
    };
    if !c.tty.unwrap_or(false) || height == 0 || width == 0 {
        return Ok(None);
    }
    oci_spec::runtime::BoxBuilder::default()
        .height(u64::try_from(height).unwrap_or(0))
        .width(u64::try_from(width).unwrap_or(0))
        .build()
        .map(Some)
        .map_err(|e| SpecError::Build(e.to_string()))
}

pub fn build(i: &SpecInputs) -> Result<Spec, SpecError> {
    let c = &i.config;
    let h = &i.host;
    let privileged = h.privileged.unwrap_or(false);
    let identity = user::resolve(
        &i.rootfs,
        c.user.as_deref().unwrap_or_default(),
        h.group_add.as_deref().unwrap_or_default(),
    )?;
    let hostname = hostname(c, h, &i.id);
    let sec = security::settings(h)?;
    let caps = security::capabilities(h)?;
    let mut process = ProcessBuilder::default()
        .terminal(c.tty.unwrap_or(false))
        .args(argv(c, h.init.unwrap_or(false) && i.init_path.is_some())?)
        .env(environment(c, &hostname, identity.home.as_deref()))
        .cwd(
            c.working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
        )
        .user(
            UserBuilder::default()
                .uid(identity.uid)
                .gid(identity.gid)
                .additional_gids(identity.additional_gids.clone())
                .build()
                .map_err(|e| SpecError::Build(e.to_string()))?,
        )
        .capabilities(caps.clone())
        .no_new_privileges(sec.no_new_privileges)
        .rlimits(rlimits(h)?)
        .build()
        .map_err(|e| SpecError::Build(e.to_string()))?;
    if let Some(adj) = h.oom_score_adj.filter(|v| *v != 0) {
        process.set_oom_score_adj(i32::try_from(adj).ok());
    }
    process.set_console_size(console_size(c, h)?);
    let (device_nodes, device_rules) =
        devices::from_mappings(h.devices.as_deref().unwrap_or_default())?;
    let mut namespaces: Vec<LinuxNamespace> = [
        (LinuxNamespaceType::Mount, &NsMode::Private),
        (LinuxNamespaceType::Network, &i.net),
        (LinuxNamespaceType::Pid, &i.pid),
        (LinuxNamespaceType::Ipc, &i.ipc),
        (LinuxNamespaceType::Uts, &i.uts),
        (LinuxNamespaceType::Cgroup, &NsMode::Private),
    ]
    .into_iter()
    .filter_map(|(t, m)| ns(t, m))
    .collect();
    if i.uts == NsMode::Host {
        namespaces.retain(|n| n.typ() != LinuxNamespaceType::Uts);
    }
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources::resources(h, privileged, device_rules)?)
        .cgroups_path(PathBuf::from(
            match h.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
                Some(parent) => format!("{}/{}", parent.trim_end_matches('/'), i.id),
                None => format!("/berth/{}", i.id),
            },
        ))
        .devices(device_nodes)
        .build()
        .map_err(|e| SpecError::Build(e.to_string()))?;
    if !privileged {
        linux.set_masked_paths(Some(
            h.masked_paths
                .clone()
                .unwrap_or_else(berth_runtime::spec::masked_paths),
        ));
        linux.set_readonly_paths(Some(
            h.readonly_paths
                .clone()
                .unwrap_or_else(berth_runtime::spec::readonly_paths),
        ));
    }
    if let Some(sysctls) = h.sysctls.as_ref().filter(|s| !s.is_empty()) {
        linux.set_sysctl(Some(sysctls.clone().into_iter().collect::<HashMap<_, _>>()));
    }
    if let Some(profile) = security::seccomp(h, &sec, &caps)? {
        linux.set_seccomp(Some(profile));
    }
    let mut spec = Spec::default();
    spec.set_version("1.2.0".into());
    spec.set_process(Some(process));
    spec.set_root(Some(
        RootBuilder::default()
            .path(i.rootfs.clone())
            .readonly(h.readonly_rootfs.unwrap_or(false))
            .build()
            .map_err(|e| SpecError::Build(e.to_string()))?,
    ));
    spec.set_hostname(Some(hostname));
    if let Some(d) = c.domainname.clone().filter(|d| !d.is_empty()) {
        spec.set_domainname(Some(d));
    }
    let all_mounts: Vec<Mount> = mounts::all(i, privileged)?;
    spec.set_mounts(Some(all_mounts));
    spec.set_linux(Some(linux));
    if let Some(a) = h.annotations.clone() {
        spec.set_annotations(Some(a));
    }
    Ok(spec)
}
