//! The container's terminal: a pty made from the container's own devpts, whose master is
//! handed to whoever listens on the console socket (containerd's shim, the engine's monitor).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::pty::{Winsize, grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::stat::Mode;

use super::error::{InitError, Step};
use crate::sys;

/// Creates the pty, sends its master over `socket`, and makes the slave this process's stdio
/// and controlling terminal. With `bind_console`, the slave is also bound on /dev/console.
pub(crate) fn setup(
    socket: BorrowedFd<'_>,
    size: Option<Winsize>,
    bind_console: bool,
) -> Result<(), InitError> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .step(|| "opening /dev/ptmx".into())?;
    grantpt(&master).step(|| "grantpt".into())?;
    unlockpt(&master).step(|| "unlockpt".into())?;
    let name = ptsname_r(&master).step(|| "ptsname".into())?;
    let slave = open(
        Path::new(&name),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .step(|| format!("opening {name}"))?;
    if let Some(size) = size {
        sys::tty::set_window_size(slave.as_fd(), &size)
            .step(|| format!("setting window size of {name}"))?;
    }
    sys::fd::send_fd(socket, master.as_fd(), name.as_bytes())
        .step(|| "sending the pty master to the console socket".into())?;
    drop(master);
    if bind_console {
        bind_dev_console(&name)?;
    }
    make_stdio(&slave)?;
    sys::tty::set_controlling_terminal(slave.as_fd())
        .step(|| format!("making {name} the controlling terminal"))
}

fn bind_dev_console(pty: &str) -> Result<(), InitError> {
    let console = Path::new("/dev/console");
    if !console.exists() {
        std::fs::File::create(console).step(|| "creating /dev/console".into())?;
    }
    mount(
        Some(pty),
        console,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .step(|| format!("bind-mounting {pty} on /dev/console"))
}

fn make_stdio(slave: &OwnedFd) -> Result<(), InitError> {
    use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout};
    dup2_stdin(slave).step(|| "dup2 of the pty onto stdin".into())?;
    dup2_stdout(slave).step(|| "dup2 of the pty onto stdout".into())?;
    dup2_stderr(slave).step(|| "dup2 of the pty onto stderr".into())
}
