//! The container's init: everything between the clone and the exec of the user's program.
//!
//! `run` is a short driver over named steps; each step's doc says why it sits where it does.
//! The order follows runc's `standard_init_linux.go` and `rootfs_linux.go`.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{Gid, Uid, execve, setresgid, setresuid, setsid};
use oci_spec::runtime::{Process, Spec};

use super::channel::{Channel, ToChild, ToParent};
use super::error::{InitError, Step};
use super::{console, environment, identity, limits, lookpath};
use crate::hooks::{self, HookKind};
use crate::namespaces::NamespacePlan;
use crate::rootfs::{apply, plan::MountPlan};
use crate::seccomp::BpfProgram;
use crate::{fsutil, sys};

/// What init needs, prepared by the runtime before the clone.
#[derive(Debug)]
pub(crate) struct InitArgs<'a> {
    pub(crate) id: &'a str,
    pub(crate) spec: &'a Spec,
    pub(crate) bundle: &'a Path,
    pub(crate) rootfs: &'a Path,
    pub(crate) ns: &'a NamespacePlan,
    pub(crate) mounts: &'a MountPlan,
    pub(crate) channel: Channel,
    /// Connected console socket, when the process has a terminal.
    pub(crate) console: Option<OwnedFd>,
    /// Stdio to install as fds 0-2 (the engine's pipes); `None` keeps the inherited ones.
    pub(crate) stdio: Option<[OwnedFd; 3]>,
    /// `O_PATH` fd of the exec fifo (create/start); `None` runs the program at once.
    pub(crate) exec_fifo: Option<OwnedFd>,
    pub(crate) seccomp: Option<&'a BpfProgram>,
    pub(crate) no_pivot: bool,
    pub(crate) prepivot_hooks: bool,
    pub(crate) preserve_fds: i32,
}

/// Runs init and never returns: it execs the user's program or exits.
pub(crate) fn run(mut args: InitArgs<'_>) -> ! {
    let err = match steps(&mut args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if args.channel.send(&ToParent::Failed(err.clone())).is_err() {
        // Nobody is listening any more (create/start): say it where the user looks.
        eprintln!("berth: container {}: {err}", args.id);
    }
    exit(if err.step.starts_with("exec:") {
        127
    } else {
        1
    })
}

#[allow(clippy::exit)] // The child of a fork must leave through exit, never by returning.
fn exit(code: i32) -> ! {
    std::process::exit(code)
}

fn process(spec: &Spec) -> Result<&Process, InitError> {
    spec.process()
        .as_ref()
        .ok_or_else(|| InitError::msg("reading the spec", "process is missing"))
}

fn steps(a: &mut InitArgs<'_>) -> Result<Infallible, InitError> {
    let proc = process(a.spec)?;
    // Init is a clone of its caller (the monitor) and holds its fds until the exec. When it
    // joins a pid namespace others live in, they must not ptrace it or open its fds
    // (CVE-2016-9962). A new user namespace needs init dumpable to map its ids.
    if !a.ns.new_user() {
        nix::sys::prctl::set_dumpable(false).step(|| "making init non-dumpable".into())?;
    }
    sys::process::reset_signals().step(|| "resetting signal handling".into())?;
    if let Some(stdio) = a.stdio.take() {
        install_stdio(stdio)?;
    }
    let namespaces = open_namespaces(a.ns)?;
    join_namespaces(&namespaces)?;
    a.channel.expect(ToChild::Proceed)?;
    enter_pid_namespace(&namespaces, &a.channel)?;
    drop(namespaces);
    become_root_in_userns(a.ns)?;
    if a.ns.new_cgroup {
        unshare(CloneFlags::CLONE_NEWCGROUP).step(|| "unsharing the cgroup namespace".into())?;
    }
    setsid().step(|| "creating a session".into())?;
    umask(Mode::empty());
    limits::oom_score_adj(proc)?;
    let root = apply::prepare(a.mounts, a.rootfs, a.ns.new_user())?;
    fsutil::mkdir_all_in_root(
        root.as_fd(),
        Path::new(proc.cwd()),
        Mode::from_bits_truncate(0o755),
    )
    .step(|| format!("creating the working directory {}", proc.cwd().display()))?;
    drop(root);
    if a.prepivot_hooks {
        run_prepivot_hooks(a)?;
    }
    apply::pivot(a.rootfs, a.no_pivot)?;
    if let Some(socket) = a.console.take() {
        let size = proc.console_size().as_ref().map(limits::winsize);
        console::setup(socket.as_fd(), size, true)?;
    }
    limits::sysctls(a.spec)?;
    apply::finish(a.mounts)?;
    limits::uts(a.spec)?;
    limits::rlimits(proc)?;
    let fifo = a.exec_fifo.take();
    let state = hooks_state(a, "created");
    finish_process(proc, a.seccomp, &a.channel, a.preserve_fds, || {
        if let Some(fifo) = fifo {
            wait_for_start(&fifo)?;
        }
        hooks::run(hooks::of(a.spec, HookKind::StartContainer), &state).map_err(|f| {
            InitError::msg(
                format!("startContainer hook #{} ({})", f.index, f.path),
                f.detail,
            )
        })
    })
}

/// The last steps, shared with exec'd processes: security settings, cwd, program lookup,
/// `Ready`, whatever must happen between readiness and exec (`before_exec`: init waits for
/// `start` and runs startContainer hooks), and the exec itself. seccomp goes as close to the
/// exec as possible (runc's order), so the filter constrains as little of our own setup as
/// possible.
pub(crate) fn finish_process(
    proc: &Process,
    seccomp: Option<&BpfProgram>,
    channel: &Channel,
    preserve_fds: i32,
    before_exec: impl FnOnce() -> Result<(), InitError>,
) -> Result<Infallible, InitError> {
    let nnp = proc.no_new_privileges().unwrap_or(false);
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which goes with the caps.
    if let (Some(prog), false) = (seccomp, nnp) {
        sys::seccomp::load(prog)
            .map_err(|e| InitError::msg("loading the seccomp filter", e.to_string()))?;
    }
    sys::fd::cloexec_from(3 + preserve_fds)
        .step(|| "marking inherited fds close-on-exec".into())?;
    identity::apply(proc.user(), proc.capabilities().as_ref())?;
    if nnp {
        nix::sys::prctl::set_no_new_privs().step(|| "setting no_new_privs".into())?;
    }
    let env = environment::with_home(proc.env().clone().unwrap_or_default(), proc.user().uid());
    environment::enter_cwd(proc.cwd())?;
    let args = proc.args().clone().unwrap_or_default();
    let exe = lookpath::look_path(args.first().map_or("", String::as_str), &env)?;
    umask(Mode::from_bits_truncate(
        proc.user().umask().unwrap_or(0o022),
    ));
    channel
        .send(&ToParent::Ready)
        .step(|| "reporting readiness".into())?;
    before_exec()?;
    if let (Some(prog), true) = (seccomp, nnp) {
        sys::seccomp::load(prog)
            .map_err(|e| InitError::msg("loading the seccomp filter", e.to_string()))?;
    }
    exec(&exe, &args, &env)
}

pub(crate) fn exec(
    exe: &CString,
    args: &[String],
    env: &[String],
) -> Result<Infallible, InitError> {
    let to_c = |v: &[String]| -> Result<Vec<CString>, InitError> {
        v.iter()
            .map(|s| {
                CString::new(s.as_bytes()).map_err(|_| {
                    InitError::msg("preparing exec", format!("{s:?} contains a NUL byte"))
                })
            })
            .collect()
    };
    let (argv, envp) = (to_c(args)?, to_c(env)?);
    execve(exe, &argv, &envp).map_err(|e| InitError::sys(format!("exec: {exe:?}"), e))
}

pub(crate) fn install_stdio(stdio: [OwnedFd; 3]) -> Result<(), InitError> {
    use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout};
    let [i, o, e] = stdio;
    dup2_stdin(&i).step(|| "installing stdin".into())?;
    dup2_stdout(&o).step(|| "installing stdout".into())?;
    dup2_stderr(&e).step(|| "installing stderr".into())
}

/// Namespace files opened before any is joined: once the mount namespace changes, the host's
/// `/proc/<pid>/ns/*` paths are no longer reachable.
#[derive(Debug)]
pub(crate) struct OpenNamespaces {
    join: Vec<(CloneFlags, OwnedFd)>,
    pid: Option<OwnedFd>,
}

fn open_ns(path: &Path) -> Result<OwnedFd, InitError> {
    nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .step(|| format!("opening namespace {}", path.display()))
}

pub(crate) fn open_namespaces(ns: &NamespacePlan) -> Result<OpenNamespaces, InitError> {
    let join = ns
        .join
        .iter()
        .map(|(f, p)| Ok((*f, open_ns(p)?)))
        .collect::<Result<_, InitError>>()?;
    let pid = ns.join_pid.as_deref().map(open_ns).transpose()?;
    Ok(OpenNamespaces { join, pid })
}

/// Joins namespaces given by path, user namespace first.
pub(crate) fn join_namespaces(ns: &OpenNamespaces) -> Result<(), InitError> {
    for (flag, fd) in &ns.join {
        setns(fd, *flag).step(|| format!("joining namespace {flag:?}"))?;
    }
    Ok(())
}

/// setns() into a pid namespace only affects children: fork once more with CLONE_PARENT, so
/// the real init is the runtime's child (it can be waited for) and lives in that namespace.
pub(crate) fn enter_pid_namespace(ns: &OpenNamespaces, channel: &Channel) -> Result<(), InitError> {
    let Some(fd) = &ns.pid else { return Ok(()) };
    setns(fd, CloneFlags::CLONE_NEWPID).step(|| "joining the pid namespace".into())?;
    match sys::process::fork_with(CloneFlags::CLONE_PARENT, None)
        .step(|| "forking into the pid namespace".into())?
    {
        sys::process::Forked::Child => Ok(()),
        sys::process::Forked::Parent(pid) => {
            let sent = channel.send(&ToParent::InitPid(pid.as_raw()));
            exit(i32::from(sent.is_err()))
        }
    }
}

pub(crate) fn become_root_in_userns(ns: &NamespacePlan) -> Result<(), InitError> {
    if !ns.new_user() {
        return Ok(());
    }
    let root_u = Uid::from_raw(0);
    let root_g = Gid::from_raw(0);
    setresgid(root_g, root_g, root_g).step(|| "becoming gid 0 in the user namespace".into())?;
    setresuid(root_u, root_u, root_u).step(|| "becoming uid 0 in the user namespace".into())
}

fn run_prepivot_hooks(a: &InitArgs<'_>) -> Result<(), InitError> {
    a.channel
        .send(&ToParent::PrePivot)
        .step(|| "reporting mounts ready".into())?;
    a.channel.expect(ToChild::HooksDone)?;
    let state = hooks_state(a, "created");
    hooks::run(hooks::of(a.spec, HookKind::CreateContainer), &state).map_err(|f| {
        InitError::msg(
            format!("createContainer hook #{} ({})", f.index, f.path),
            f.detail,
        )
    })
}

fn hooks_state(a: &InitArgs<'_>, status: &str) -> Vec<u8> {
    let pid = std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse::<i32>().ok())
        .unwrap_or(0);
    crate::container::state::hook_state_json(a.id, status, pid, a.bundle, a.spec)
}

/// Blocks until `berth runtime start` opens the fifo for reading (runc's rendezvous). The fd
/// was opened `O_PATH` before pivot_root; re-opening it through /proc/self/fd works after.
fn wait_for_start(fifo: &OwnedFd) -> Result<(), InitError> {
    use std::io::Write;
    let path = fsutil::fd_path(fifo.as_fd());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .step(|| "opening the exec fifo".into())?;
    f.write_all(b"0").step(|| "writing the exec fifo".into())
}
