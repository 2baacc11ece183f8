//! The zygote: a small, single-threaded process the daemon forks before its async runtime
//! starts. Its only job is to fork monitors on request.
//!
//! Forking the multi-threaded daemon would be unsafe (locks held by other threads stay held
//! in the child); exec'ing a fresh binary per container would cost milliseconds and
//! megabytes. A fork of the zygote costs a fraction of a millisecond and shares every page.
//!
//! Monitors stay the zygote's children, so the zygote reaps them. When the daemon goes away
//! the zygote stops taking requests but lives on until its last monitor has exited: the
//! containers outlive the daemon, and no monitor is left a zombie under a pid 1 that does
//! not reap (this host's does not).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::MonitorConfig;
use berth_runtime::sys::{fd as sysfd, process as sysproc};

/// Errors talking to the zygote.
#[derive(Debug, thiserror::Error)]
pub enum ZygoteError {
    #[error("{what}")]
    Sys {
        what: &'static str,
        #[source]
        source: Errno,
    },
    #[error("the zygote failed to fork a monitor for container {id}")]
    Fork {
        id: String,
        #[source]
        source: Errno,
    },
    #[error("the zygote is gone")]
    Gone,
}

impl berth_errdefs::HasKind for ZygoteError {
    fn kind(&self) -> berth_errdefs::ErrorKind {
        berth_errdefs::ErrorKind::Internal
    }
}

/// The daemon's handle on its zygote.
#[derive(Debug)]
pub struct Zygote {
    sock: Mutex<OwnedFd>,
    pid: Pid,
}

impl Zygote {
    /// Forks the zygote. Call it while the process is still single-threaded.
    pub fn start() -> Result<Self, ZygoteError> {
        let (daemon_end, zygote_end) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|source| ZygoteError::Sys {
            what: "creating the zygote socket",
            source,
        })?;
        match sysproc::fork().map_err(|source| ZygoteError::Sys {
            what: "forking the zygote",
            source,
        })? {
            sysproc::Forked::Child => {
                drop(daemon_end);
                let code = serve(zygote_end);
                #[allow(clippy::exit)] // The zygote is a fork: it must never return into main.
                std::process::exit(code)
            }
            sysproc::Forked::Parent(pid) => Ok(Self {
                sock: Mutex::new(daemon_end),
                pid,
            }),
        }
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Has the zygote fork a monitor for `cfg`; returns the monitor's pid and the daemon's end
    /// of the monitor's control connection.
    pub fn spawn(&self, cfg: &MonitorConfig) -> Result<(Pid, OwnedFd), ZygoteError> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|source| ZygoteError::Sys {
            what: "creating a monitor control socket",
            source,
        })?;
        let payload = serde_json::to_vec(cfg).map_err(|_| ZygoteError::Sys {
            what: "encoding the monitor config",
            source: Errno::EINVAL,
        })?;
        let sock = self.sock.lock().map_err(|_| ZygoteError::Gone)?;
        sysfd::send_fd(sock.as_fd(), theirs.as_fd(), &payload).map_err(|_| ZygoteError::Gone)?;
        drop(theirs);
        let mut reply = [0u8; 4];
        let n = recv(
            std::os::fd::AsRawFd::as_raw_fd(&*sock),
            &mut reply,
            MsgFlags::empty(),
        )
        .map_err(|_| ZygoteError::Gone)?;
        if n != 4 {
            return Err(ZygoteError::Gone);
        }
        match i32::from_be_bytes(reply) {
            pid if pid > 0 => Ok((Pid::from_raw(pid), ours)),
            errno => Err(ZygoteError::Fork {
                id: cfg.id.clone(),
                source: Errno::from_raw(-errno),
            }),
        }
    }
}

/// The zygote's loop; returns its exit code.
fn serve(sock: OwnedFd) -> i32 {
    let _ = nix::sys::prctl::set_name(c"berth-zygote");
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    if sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).is_err() {
        return 1;
    }
    let Ok(signals) = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
    else {
        return 1;
    };
    let mut accepting = true;
    let mut children = 0usize;
    loop {
        if !accepting && children == 0 {
            return 0;
        }
        let (sock_ready, sig_ready) = {
            let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            if accepting {
                fds.push(PollFd::new(sock.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Err(Errno::EINTR) => continue,
                Err(_) => return 1,
                Ok(_) => {}
            }
            let r = |i: usize| {
                fds.get(i)
                    .and_then(PollFd::revents)
                    .is_some_and(|r| !r.is_empty())
            };
            (r(1), r(0))
        };
        if sig_ready {
            while let Ok(Some(_)) = signals.read_signal() {}
            children -= reap(children);
        }
        if sock_ready {
            match handle_request(&sock) {
                Outcome::Spawned => children += 1,
                Outcome::Skipped => {}
                Outcome::DaemonGone => accepting = false,
                Outcome::Monitor(cfg, control) => {
                    // The monitor: none of the zygote's fds, its own session, stdio away
                    // from the daemon's terminal and into the container's monitor.log.
                    drop(sock);
                    drop(signals);
                    let _ = nix::unistd::setsid();
                    redirect_stdio(&cfg);
                    return super::main(cfg, control);
                }
            }
        }
    }
}

/// Reaps exited monitors; returns how many.
fn reap(limit: usize) -> usize {
    let mut n = 0;
    while n < limit {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => n += 1,
            Ok(_) => {}
        }
    }
    n
}

/// What a spawn request led to.
enum Outcome {
    Spawned,
    Skipped,
    DaemonGone,
    /// We are the freshly forked monitor.
    Monitor(MonitorConfig, OwnedFd),
}

/// Serves one spawn request.
fn handle_request(sock: &OwnedFd) -> Outcome {
    let (control, payload) = match sysfd::recv_fd(sock.as_fd()) {
        Ok(v) => v,
        Err(Errno::EINTR | Errno::EAGAIN) => return Outcome::Skipped,
        Err(_) => return Outcome::DaemonGone,
    };
    let reply = |v: i32, ok: Outcome| match send(
        std::os::fd::AsRawFd::as_raw_fd(sock),
        &v.to_be_bytes(),
        MsgFlags::MSG_NOSIGNAL,
    ) {
        Ok(_) => ok,
        Err(_) => Outcome::DaemonGone,
    };
    let Ok(cfg) = serde_json::from_slice::<MonitorConfig>(&payload) else {
        return reply(-(Errno::EINVAL as i32), Outcome::Skipped);
    };
    match sysproc::fork() {
        Ok(sysproc::Forked::Child) => Outcome::Monitor(cfg, control),
        Ok(sysproc::Forked::Parent(pid)) => reply(pid.as_raw(), Outcome::Spawned),
        Err(e) => reply(-(e as i32), Outcome::Skipped),
    }
}

fn redirect_stdio(cfg: &MonitorConfig) {
    use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout};
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = dup2_stdin(&null);
        let _ = dup2_stdout(&null);
    }
    let log = cfg.bundle.join("monitor.log");
    if let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = dup2_stderr(&f);
    }
}
