//! `run` and `exec` without `--detach`: the runtime stays, forwards signals to the process,
//! relays a terminal when there is no console socket, and exits with the process's status.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::sys;

/// Signals a foreground runtime passes on to the container instead of dying of them.
const FORWARDED: [Signal; 8] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCHLD,
];

/// Restores the terminal mode on drop.
struct RawMode {
    fd: OwnedFd,
    saved: Termios,
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd.as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

fn raw_stdin() -> Option<RawMode> {
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let saved = termios::tcgetattr(fd.as_fd()).ok()?;
    let mut raw = saved.clone();
    termios::cfmakeraw(&mut raw);
    termios::tcsetattr(fd.as_fd(), SetArg::TCSANOW, &raw).ok()?;
    Some(RawMode { fd, saved })
}

/// Blocks the forwarded signals so they arrive through a signalfd. Call before the process
/// is created, so none is lost.
pub(crate) fn block_signals() -> Result<SignalFd, Errno> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
}

/// Waits for `pid`, forwarding signals and relaying `pty` (a pty master) to our stdio.
/// Returns the exit code as a shell reports it (128+n for a signal).
pub(crate) fn supervise(pid: Pid, signals: &SignalFd, pty: Option<OwnedFd>) -> Result<i32, Errno> {
    let _raw = pty.as_ref().and_then(|_| raw_stdin());
    if let Some(master) = &pty {
        resize(master.as_fd());
    }
    let mut stdin_open = pty.is_some();
    loop {
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = &pty {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            other => other?,
        };
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready.get(1) == Some(&true)
            && let Some(m) = &pty
            && !copy(m.as_fd(), &mut std::io::stdout())
        {
            // The pty closes when the last holder exits; keep waiting for the status.
        }
        if ready.get(2) == Some(&true)
            && let Some(m) = &pty
        {
            stdin_open = copy_to(m.as_fd());
        }
        if ready[0]
            && let Some(code) = drain_signals(signals, pid, pty.as_ref())?
        {
            if let Some(m) = &pty {
                while copy(m.as_fd(), &mut std::io::stdout()) {}
            }
            return Ok(code);
        }
    }
}

fn drain_signals(
    signals: &SignalFd,
    pid: Pid,
    pty: Option<&OwnedFd>,
) -> Result<Option<i32>, Errno> {
    while let Some(info) = signals.read_signal()? {
        let Ok(sig) = Signal::try_from(i32::try_from(info.ssi_signo).unwrap_or(0)) else {
            continue;
        };
        match sig {
            Signal::SIGCHLD => {}
            Signal::SIGWINCH => {
                if let Some(m) = pty {
                    resize(m.as_fd());
                }
            }
            other => {
                let _ = kill(pid, other);
            }
        }
    }
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => return Ok(Some(128 + sig as i32)),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
}

fn resize(master: BorrowedFd<'_>) {
    if let Ok(size) = sys::tty::window_size(std::io::stdin().as_fd()) {
        let _ = sys::tty::set_window_size(master, &size);
    }
}

/// One read from `from` written to `to`; false at end of input.
fn copy(from: BorrowedFd<'_>, to: &mut impl Write) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => to.write_all(&buf[..n]).and_then(|()| to.flush()).is_ok(),
    }
}

fn copy_to(master: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 8192];
    match std::io::stdin().read(&mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => nix::unistd::write(master, &buf[..n]).is_ok(),
    }
}
