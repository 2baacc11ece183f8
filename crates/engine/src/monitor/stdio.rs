//! The stdio of a container or exec'd process, made by the monitor before the process exists.
//!
//! Without a terminal: pipes (the child gets the read end of stdin and the write ends of
//! stdout/stderr). With one: a socketpair stands in for the console socket, and init sends
//! the pty master back over it.

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::pipe2;

use super::logfile::Stream;

#[derive(Debug, thiserror::Error)]
pub(crate) enum StdioError {
    #[error("{0}")]
    Sys(&'static str, #[source] nix::errno::Errno),
    #[error(transparent)]
    Exec(Box<berth_runtime::RuntimeError>),
}

/// The monitor's ends.
#[derive(Debug)]
pub(crate) struct ParentIo {
    /// Output to read, with its stream.
    pub(crate) outputs: Vec<(OwnedFd, Stream)>,
    /// Where input goes.
    pub(crate) stdin: Option<OwnedFd>,
    pub(crate) master: Option<OwnedFd>,
    /// With a terminal: our end of the console socketpair, until the master arrives.
    console_ours: Option<OwnedFd>,
}

impl ParentIo {
    /// After the process exists: receive the pty master when there is a terminal.
    pub(crate) fn finish(mut self) -> Result<Self, StdioError> {
        if let Some(sock) = self.console_ours.take() {
            let (master, _) = berth_runtime::sys::fd::recv_fd(sock.as_fd())
                .map_err(|e| StdioError::Sys("receiving the pty master", e))?;
            set_nonblocking(&master)?;
            let input = master
                .try_clone()
                .map_err(|e| StdioError::Sys("duplicating the pty master", errno(&e)))?;
            let output = master
                .try_clone()
                .map_err(|e| StdioError::Sys("duplicating the pty master", errno(&e)))?;
            self.outputs.push((output, Stream::Stdout));
            self.stdin = Some(input);
            self.master = Some(master);
        }
        Ok(self)
    }
}

/// Both sides, before the process is created.
#[derive(Debug)]
pub(crate) struct Io {
    pub(crate) parent: ParentIo,
    pub(crate) child_stdio: Option<[OwnedFd; 3]>,
    pub(crate) console_theirs: Option<OwnedFd>,
}

fn errno(e: &std::io::Error) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

fn set_nonblocking(fd: &OwnedFd) -> Result<(), StdioError> {
    use nix::fcntl::{FcntlArg, fcntl};
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| StdioError::Sys("reading fd flags", e))?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map(drop)
    .map_err(|e| StdioError::Sys("setting O_NONBLOCK", e))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), StdioError> {
    pipe2(OFlag::O_CLOEXEC).map_err(|e| StdioError::Sys("creating a pipe", e))
}

/// stdio for a container's init (`stdin`: OpenStdin).
pub(crate) fn for_container(tty: bool, stdin: bool) -> Result<Io, StdioError> {
    make(tty, stdin)
}

/// stdio for an exec'd process.
pub(crate) fn for_exec(tty: bool, stdin: bool) -> Result<Io, StdioError> {
    make(tty, stdin)
}

fn make(tty: bool, stdin: bool) -> Result<Io, StdioError> {
    if tty {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| StdioError::Sys("creating the console socket pair", e))?;
        let parent = ParentIo {
            outputs: Vec::new(),
            stdin: None,
            master: None,
            console_ours: Some(ours),
        };
        return Ok(Io {
            parent,
            child_stdio: None,
            console_theirs: Some(theirs),
        });
    }
    let (in_r, in_w) = if stdin {
        let (r, w) = pipe()?;
        set_nonblocking(&w)?;
        (r, Some(w))
    } else {
        let null = std::fs::File::open("/dev/null")
            .map_err(|e| StdioError::Sys("opening /dev/null", errno(&e)))?;
        (OwnedFd::from(null), None)
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    set_nonblocking(&out_r)?;
    set_nonblocking(&err_r)?;
    let parent = ParentIo {
        outputs: vec![(out_r, Stream::Stdout), (err_r, Stream::Stderr)],
        stdin: in_w,
        master: None,
        console_ours: None,
    };
    Ok(Io {
        parent,
        child_stdio: Some([in_r, out_w, err_w]),
        console_theirs: None,
    })
}
