//! `create`: validate, prepare cgroups and filters, clone init with its namespaces, and walk
//! it through the handshake. On any failure everything made so far is undone: no cgroup, no
//! state directory, no process is left behind.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, mkfifo};
use oci_spec::runtime::Spec;

use super::state::{ContainerState, hook_state_json, proc_stat};
use super::{Container, CreateRequest, EXEC_FIFO, Runtime, STATE_FILE, StartMode, validate_id};
use crate::cgroups::Cgroup;
use crate::error::{Result, RuntimeError};
use crate::hooks::{self, HookKind};
use crate::process::channel::{self, Channel, ToChild, ToParent};
use crate::process::init::{self, InitArgs};
use crate::rootfs::plan::{self, MountPlan};
use crate::seccomp::BpfProgram;
use crate::{fsutil, namespaces, sys, validate};

/// Undoes a half-made container unless disarmed.
struct Cleanup {
    dir: PathBuf,
    cgroup: Option<Cgroup>,
    pid: Option<Pid>,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cg) = &self.cgroup
            && let Err(e) = cg.destroy()
        {
            tracing::warn!(error = %e, "removing cgroup of a failed create");
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Everything computed from the spec before the clone.
struct Prepared {
    spec: Spec,
    bundle: PathBuf,
    rootfs: PathBuf,
    ns: namespaces::NamespacePlan,
    mounts: MountPlan,
}

pub(crate) fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = fs::read(&path).map_err(|source| RuntimeError::ReadConfig {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&data).map_err(|source| RuntimeError::ParseConfig { path, source })
}

fn prepare(spec: Spec, bundle: PathBuf, layout: &plan::CgroupMountLayout) -> Result<Prepared> {
    let spec_err = |source| RuntimeError::Spec {
        path: bundle.join("config.json"),
        source,
    };
    validate::spec(&spec).map_err(spec_err)?;
    let ns = namespaces::plan(&spec).map_err(spec_err)?;
    let root = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_default();
    let rootfs = if root.is_absolute() {
        root
    } else {
        bundle.join(root)
    };
    if !rootfs.is_dir() {
        return Err(RuntimeError::MissingRootfs(rootfs));
    }
    let mounts = plan::plan(&spec, &bundle, layout);
    Ok(Prepared {
        spec,
        bundle,
        rootfs,
        ns,
        mounts,
    })
}

impl Runtime {
    /// Creates a container: on return its init exists in its namespaces and cgroups, and has
    /// either exec'd the user's program (`StartMode::Immediately`) or waits for `start`.
    pub fn create(&self, mut req: CreateRequest) -> Result<Container> {
        validate_id(&req.id)?;
        let id = req.id.clone();
        let bundle = std::path::absolute(&req.bundle).unwrap_or_else(|_| req.bundle.clone());
        let spec = match req.spec.take() {
            Some(s) => s,
            None => load_spec(&bundle)?,
        };
        let hierarchy = crate::cgroups::Hierarchy::detect().map_err(|e| cgroup_err(&id, e))?;
        let layout = cgroup_layout(&hierarchy, &spec).map_err(|e| cgroup_err(&id, e))?;
        let p = prepare(spec, bundle, &layout)?;
        let io = |what: &str| {
            let what = what.to_owned();
            let id = id.clone();
            move |source| RuntimeError::Io { id, what, source }
        };
        fs::create_dir_all(&self.root).map_err(io("creating the state root"))?;
        let dir = self.dir(&id);
        match fs::create_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::Exists(id));
            }
            other => other.map_err(io("creating the state directory"))?,
        }
        let mut cleanup = Cleanup {
            dir: dir.clone(),
            cgroup: None,
            pid: None,
            armed: true,
        };
        let cgroup = setup_cgroup(&hierarchy, &p.spec, &id)?;
        cleanup.cgroup = Some(cgroup.clone());
        let seccomp = self.compile_seccomp(&p.spec, &id)?;
        let fifo = match req.start {
            StartMode::OnStart => Some(make_fifo(&dir).map_err(|source| RuntimeError::Sys {
                id: id.clone(),
                what: "creating the exec fifo".into(),
                source,
            })?),
            StartMode::Immediately => None,
        };
        let (parent, child) = channel::pair().map_err(|source| RuntimeError::Sys {
            id: id.clone(),
            what: "creating the init channel".into(),
            source,
        })?;
        let cg_fd = cgroup.unified_dir().and_then(|d| {
            nix::fcntl::open(
                d,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ok()
        });
        let forked = sys::process::fork_with(p.ns.clone_flags, cg_fd.as_ref().map(AsFd::as_fd))
            .map_err(|source| RuntimeError::Sys {
                id: id.clone(),
                what: "cloning init".into(),
                source,
            })?;
        let pid = match forked {
            sys::process::Forked::Child => {
                drop(parent);
                init::run(InitArgs {
                    id: &id,
                    spec: &p.spec,
                    bundle: &p.bundle,
                    rootfs: &p.rootfs,
                    ns: &p.ns,
                    mounts: &p.mounts,
                    channel: child,
                    console: req.console_socket.take(),
                    stdio: req.stdio.take(),
                    exec_fifo: fifo,
                    seccomp: seccomp.as_ref(),
                    no_pivot: req.no_pivot,
                    prepivot_hooks: has_prepivot_hooks(&p.spec),
                    preserve_fds: req.preserve_fds,
                })
            }
            sys::process::Forked::Parent(pid) => pid,
        };
        cleanup.pid = Some(pid);
        drop((
            child,
            fifo,
            req.console_socket.take(),
            req.stdio.take(),
            cg_fd,
        ));
        let start_time = proc_stat(pid.as_raw()).map(|(t, _)| t);
        let (pid, start_time) = handshake(&id, &p, &cgroup, &parent, pid, start_time, req.start)?;
        cleanup.pid = Some(pid);
        let state = ContainerState {
            id: id.clone(),
            bundle: p.bundle.clone(),
            rootfs: p.rootfs.clone(),
            pid: pid.as_raw(),
            pid_start_time: start_time.unwrap_or(0),
            created: chrono::Utc::now(),
            cgroup,
            config: p.spec,
        };
        let json = state.encode(&dir.join(STATE_FILE))?;
        fsutil::replace(&dir.join(STATE_FILE), &json).map_err(io("writing state.json"))?;
        if let Some(pid_file) = &req.pid_file {
            fsutil::atomic_write(pid_file, pid.as_raw().to_string().as_bytes())
                .map_err(io("writing the pid file"))?;
        }
        cleanup.armed = false;
        let container = Container { dir, state };
        if req.start == StartMode::Immediately {
            container.run_poststart_hooks();
        }
        Ok(container)
    }

    fn compile_seccomp(&self, spec: &Spec, id: &str) -> Result<Option<BpfProgram>> {
        let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
            return Ok(None);
        };
        crate::seccomp::compile_cached(profile, &self.seccomp_cache())
            .map(Some)
            .map_err(|e| RuntimeError::Seccomp {
                id: id.to_owned(),
                source: Box::new(e),
            })
    }
}

/// The parent's side of the protocol drawn in `process/channel.rs`.
fn handshake(
    cid: &str,
    p: &Prepared,
    cgroup: &Cgroup,
    ch: &Channel,
    mut pid: Pid,
    mut start_time: Option<u64>,
    mode: StartMode,
) -> Result<(Pid, Option<u64>)> {
    let cid = cid.to_owned();
    if p.ns.new_user() {
        write_id_maps(pid, &p.spec).map_err(|source| RuntimeError::Io {
            id: cid.clone(),
            what: "writing uid/gid maps".into(),
            source,
        })?;
    }
    cgroup
        .add_pid(pid.as_raw())
        .map_err(|e| cgroup_err(&cid, e))?;
    let send = |m: ToChild| {
        ch.send(&m).map_err(|source| RuntimeError::Sys {
            id: cid.clone(),
            what: "signalling init".into(),
            source,
        })
    };
    send(ToChild::Proceed)?;
    let mut ready = false;
    loop {
        let msg = ch.recv::<ToParent>().map_err(|source| RuntimeError::Sys {
            id: cid.clone(),
            what: "reading from init".into(),
            source,
        })?;
        match msg {
            Some(ToParent::InitPid(real)) => {
                let _ = waitpid(pid, None);
                pid = Pid::from_raw(real);
                start_time = proc_stat(real).map(|(t, _)| t);
            }
            Some(ToParent::PrePivot) => {
                let state = hook_state_json(&cid, "creating", pid.as_raw(), &p.bundle, &p.spec);
                for kind in [HookKind::Prestart, HookKind::CreateRuntime] {
                    hooks::run(hooks::of(&p.spec, kind), &state).map_err(|f| {
                        RuntimeError::Hook {
                            id: cid.clone(),
                            kind: kind.name(),
                            index: f.index,
                            path: f.path,
                            detail: f.detail,
                        }
                    })?;
                }
                send(ToChild::HooksDone)?;
            }
            Some(ToParent::Ready) if mode == StartMode::OnStart => return Ok((pid, start_time)),
            Some(ToParent::Ready) => ready = true,
            Some(ToParent::Failed(e)) => return Err(RuntimeError::Init(e)),
            None if ready => return Ok((pid, start_time)),
            None => {
                return Err(RuntimeError::Init(crate::process::error::InitError::msg(
                    "starting container init",
                    "init exited before it was ready",
                )));
            }
        }
    }
}

fn has_prepivot_hooks(spec: &Spec) -> bool {
    [
        HookKind::Prestart,
        HookKind::CreateRuntime,
        HookKind::CreateContainer,
    ]
    .iter()
    .any(|k| !hooks::of(spec, *k).is_empty())
}

fn make_fifo(dir: &Path) -> std::result::Result<OwnedFd, nix::errno::Errno> {
    let path = dir.join(EXEC_FIFO);
    mkfifo(&path, Mode::from_bits_truncate(0o622))?;
    nix::fcntl::open(&path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
}

pub(crate) fn cgroup_err(
    id: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> RuntimeError {
    RuntimeError::Cgroup {
        id: id.to_owned(),
        source: Box::new(e),
    }
}

fn setup_cgroup(h: &crate::cgroups::Hierarchy, spec: &Spec, id: &str) -> Result<Cgroup> {
    let linux = spec.linux().as_ref();
    let default = format!("/berth/{id}");
    let path = linux
        .and_then(|l| l.cgroups_path().as_ref())
        .map_or(default, |p| p.to_string_lossy().into_owned());
    let cg = Cgroup::new(h, &path).map_err(|e| cgroup_err(id, e))?;
    cg.create().map_err(|e| cgroup_err(id, e))?;
    if let Some(resources) = linux.and_then(|l| l.resources().as_ref()) {
        let resources = with_default_devices(resources, spec);
        if let Err(e) = cg.apply(&resources) {
            let _ = cg.destroy();
            return Err(cgroup_err(id, e));
        }
    }
    Ok(cg)
}

/// The device rules a container always gets on top of the spec's (runc's AllowedDevices):
/// the nodes every container has, /dev/pts, and the spec's own device nodes — without them a
/// spec that starts with "deny all" could not even create /dev/null.
fn with_default_devices(
    r: &oci_spec::runtime::LinuxResources,
    spec: &Spec,
) -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let Some(rules) = r.devices().as_ref() else {
        return r.clone();
    };
    let allow = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some("rwm".into()));
        d
    };
    let mut out = rules.clone();
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        out.push(allow(LinuxDeviceType::C, Some(major), Some(minor)));
    }
    out.push(allow(LinuxDeviceType::C, Some(136), None));
    for d in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        out.push(allow(d.typ(), Some(d.major()), Some(d.minor())));
    }
    let mut r = r.clone();
    r.set_devices(Some(out));
    r
}

/// How the cgroup mount inside the container must look on this host.
fn cgroup_layout(
    h: &crate::cgroups::Hierarchy,
    spec: &Spec,
) -> std::result::Result<plan::CgroupMountLayout, crate::cgroups::CgroupError> {
    let linux = spec.linux().as_ref();
    let own_ns = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Cgroup)
        });
    if own_ns {
        return Ok(crate::cgroups::mount_layout(h));
    }
    let path = linux
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    crate::cgroups::bind_layout(h, &path)
}

fn write_id_maps(pid: Pid, spec: &Spec) -> std::io::Result<()> {
    let linux = spec.linux().as_ref();
    let render = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| -> String {
        maps.into_iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect()
    };
    let uid = render(linux.and_then(|l| l.uid_mappings().as_ref()));
    let gid = render(linux.and_then(|l| l.gid_mappings().as_ref()));
    fs::write(format!("/proc/{pid}/uid_map"), uid)?;
    fs::write(format!("/proc/{pid}/gid_map"), gid)
}
