//! `exec`: run another process in a running container.
//!
//! The runtime forks a child, puts it in the container's cgroups, and the child joins the
//! container's namespaces through `/proc/<init>/ns/*` (user first). setns() into a pid
//! namespace only affects children, so the child forks once more with CLONE_PARENT: the final
//! process lives in the container's pid namespace and is the *caller's* child, which can wait
//! for it. It then takes the same final steps as init (identity, seccomp, cwd, exec).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::create::cgroup_err;
use super::{Container, Status};
use crate::error::{Result, RuntimeError};
use crate::fsutil;
use crate::namespaces::NamespacePlan;
use crate::process::channel::{self, Channel, ToChild, ToParent};
use crate::process::error::{InitError, Step};
use crate::process::{console, init, limits};
use crate::seccomp::BpfProgram;
use crate::sys;

/// What to run, and how to wire it.
#[derive(Debug)]
pub struct ExecRequest {
    pub process: Process,
    /// Connected console socket, when the process has a terminal.
    pub console_socket: Option<OwnedFd>,
    /// stdin, stdout, stderr; `None` inherits the caller's.
    pub stdio: Option<[OwnedFd; 3]>,
    pub preserve_fds: i32,
    pub pid_file: Option<PathBuf>,
}

impl ExecRequest {
    pub fn new(process: Process) -> Self {
        Self {
            process,
            console_socket: None,
            stdio: None,
            preserve_fds: 0,
            pid_file: None,
        }
    }
}

fn ns_name(t: LinuxNamespaceType) -> Option<(&'static str, CloneFlags)> {
    Some(match t {
        LinuxNamespaceType::User => ("user", CloneFlags::CLONE_NEWUSER),
        LinuxNamespaceType::Ipc => ("ipc", CloneFlags::CLONE_NEWIPC),
        LinuxNamespaceType::Uts => ("uts", CloneFlags::CLONE_NEWUTS),
        LinuxNamespaceType::Network => ("net", CloneFlags::CLONE_NEWNET),
        LinuxNamespaceType::Mount => ("mnt", CloneFlags::CLONE_NEWNS),
        LinuxNamespaceType::Cgroup => ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        LinuxNamespaceType::Pid => ("pid", CloneFlags::CLONE_NEWPID),
        LinuxNamespaceType::Time => return None,
    })
}

impl Container {
    /// The namespaces an exec'd process joins: every namespace the container has, through its
    /// init, in join order.
    fn exec_namespaces(&self) -> NamespacePlan {
        let pid = self.pid();
        let mut plan = NamespacePlan::default();
        let spec_ns = self
            .state
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        for ns in spec_ns {
            let Some((name, flag)) = ns_name(ns.typ()) else {
                continue;
            };
            let path = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
            if flag == CloneFlags::CLONE_NEWPID {
                plan.join_pid = Some(path);
            } else {
                plan.join.push((flag, path));
            }
        }
        let order = |f: &CloneFlags| {
            [
                CloneFlags::CLONE_NEWUSER,
                CloneFlags::CLONE_NEWIPC,
                CloneFlags::CLONE_NEWUTS,
                CloneFlags::CLONE_NEWNET,
                CloneFlags::CLONE_NEWNS,
                CloneFlags::CLONE_NEWCGROUP,
            ]
            .iter()
            .position(|o| o == f)
        };
        plan.join.sort_by_key(|(f, _)| order(f));
        plan
    }

    fn exec_seccomp(&self) -> Result<Option<BpfProgram>> {
        let Some(profile) = self
            .state
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
        else {
            return Ok(None);
        };
        let cache = self
            .dir
            .parent()
            .unwrap_or(Path::new("/"))
            .join(".cache")
            .join("seccomp");
        crate::seccomp::compile_cached(profile, &cache)
            .map(Some)
            .map_err(|e| RuntimeError::Seccomp {
                id: self.id().to_owned(),
                source: Box::new(e),
            })
    }

    /// Starts `req.process` in the container and returns its host pid once it has exec'd.
    /// The process is the caller's child.
    pub fn exec(&self, mut req: ExecRequest) -> Result<Pid> {
        let status = self.status();
        if !matches!(status, Status::Running | Status::Created) {
            return Err(self.bad_state(status, "exec in"));
        }
        let ns = self.exec_namespaces();
        let seccomp = self.exec_seccomp()?;
        let (parent, child) = channel::pair().map_err(self.sys_err("creating the exec channel"))?;
        let forked = sys::process::fork().map_err(self.sys_err("forking the exec process"))?;
        let first = match forked {
            sys::process::Forked::Child => {
                drop(parent);
                exec_child(&ns, &req, seccomp.as_ref(), &child)
            }
            sys::process::Forked::Parent(pid) => pid,
        };
        drop((child, req.console_socket.take(), req.stdio.take()));
        let pid = self.exec_handshake(&parent, first, ns.join_pid.is_some())?;
        if let Some(pid_file) = &req.pid_file {
            fsutil::atomic_write(pid_file, pid.as_raw().to_string().as_bytes()).map_err(
                |source| RuntimeError::Io {
                    id: self.id().into(),
                    what: "writing the pid file".into(),
                    source,
                },
            )?;
        }
        Ok(pid)
    }

    fn exec_handshake(&self, ch: &Channel, first: Pid, forks_again: bool) -> Result<Pid> {
        let kill_first = || {
            let _ = nix::sys::signal::kill(first, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(first, None);
        };
        if let Err(e) = self.state.cgroup.add_pid(first.as_raw()) {
            kill_first();
            return Err(cgroup_err(self.id(), e));
        }
        ch.send(&ToChild::Proceed)
            .map_err(self.sys_err("signalling the exec process"))?;
        let mut pid = first;
        let mut ready = false;
        loop {
            match ch
                .recv::<ToParent>()
                .map_err(self.sys_err("reading from the exec process"))?
            {
                Some(ToParent::InitPid(real)) if forks_again => {
                    let _ = waitpid(first, None);
                    pid = Pid::from_raw(real);
                }
                Some(ToParent::Ready) => ready = true,
                Some(ToParent::Failed(e)) => {
                    let _ = waitpid(pid, None);
                    return Err(RuntimeError::Init(e));
                }
                Some(other) => {
                    kill_first();
                    return Err(RuntimeError::Init(InitError::msg(
                        "exec handshake",
                        format!("unexpected message {other:?}"),
                    )));
                }
                None if ready => return Ok(pid),
                None => {
                    let _ = waitpid(pid, None);
                    return Err(RuntimeError::Init(InitError::msg(
                        "starting the exec process",
                        "it exited before it was ready",
                    )));
                }
            }
        }
    }
}

/// Closes what the exec helper inherited from its parent (the monitor's log file and
/// sockets) but the process needs: stdio, the preserved fds, the channel, the console socket.
fn close_inherited_fds(req: &ExecRequest, ch: &Channel) -> std::result::Result<(), InitError> {
    use std::os::fd::AsRawFd;
    let mut keep = vec![ch.as_raw_fd()];
    keep.extend(req.console_socket.as_ref().map(AsRawFd::as_raw_fd));
    keep.extend(3..3 + req.preserve_fds.max(0));
    sys::fd::close_all_except(3, &keep).step(|| "closing inherited fds".into())
}

/// The exec'd process's side; never returns.
fn exec_child(
    ns: &NamespacePlan,
    req: &ExecRequest,
    seccomp: Option<&BpfProgram>,
    ch: &Channel,
) -> ! {
    let result = (|| -> std::result::Result<std::convert::Infallible, InitError> {
        // Before anything else: a process the container can see must not be ptrace-able or
        // have its /proc/<pid>/fd opened by container root (CVE-2016-9962). Dumpability comes
        // back with the execve of the user's program, which then holds only its own fds.
        nix::sys::prctl::set_dumpable(false)
            .step(|| "making the exec helper non-dumpable".into())?;
        sys::process::reset_signals().step(|| "resetting signal handling".into())?;
        if let Some([i, o, e]) = &req.stdio {
            use std::os::fd::AsFd;
            let dup = |f: &OwnedFd| f.as_fd().try_clone_to_owned();
            let (i, o, e) = (
                dup(i).step(|| "dup stdin".into())?,
                dup(o).step(|| "dup stdout".into())?,
                dup(e).step(|| "dup stderr".into())?,
            );
            init::install_stdio([i, o, e])?;
        }
        close_inherited_fds(req, ch)?;
        let namespaces = init::open_namespaces(ns)?;
        init::join_namespaces(&namespaces)?;
        ch.expect(ToChild::Proceed)?;
        init::enter_pid_namespace(&namespaces, ch)?;
        drop(namespaces);
        nix::unistd::setsid().step(|| "creating a session".into())?;
        if let Some(socket) = &req.console_socket {
            use std::os::fd::AsFd;
            let size = req.process.console_size().as_ref().map(limits::winsize);
            console::setup(socket.as_fd(), size, false)?;
        }
        limits::rlimits(&req.process)?;
        init::finish_process(&req.process, seccomp, ch, req.preserve_fds, || Ok(()))
    })();
    let err = match result {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = ch.send(&ToParent::Failed(err));
    #[allow(clippy::exit)] // The child of a fork leaves through exit.
    std::process::exit(127)
}
