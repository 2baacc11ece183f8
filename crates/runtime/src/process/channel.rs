//! The parent ↔ init channel: a `SOCK_SEQPACKET` socketpair carrying JSON messages, one per
//! packet. Each direction has one message type; an unexpected message is a protocol error.
//!
//! ```text
//! parent                                   init (child)
//!   clone ───────────────────────────────▶ joins namespaces by path
//!   uid/gid maps, cgroup membership
//!   ToChild::Proceed ────────────────────▶ cgroupns, mounts, devices
//!                  ◀──────────────────── ToParent::PrePivot        (only with hooks)
//!   createRuntime/prestart hooks
//!   ToChild::HooksDone ──────────────────▶ createContainer hooks, pivot_root, console,
//!                                          sysctls, masks, rlimits, identity
//!                  ◀──────────────────── ToParent::Ready
//!   create: returns; start opens the exec fifo ─▶ execve
//!   run:    waits for EOF (exec closed the CLOEXEC socket) or ToParent::Failed
//! ```

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::error::InitError;

/// Messages from init (or an exec'd process) to the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ToParent {
    /// Mounts are in place; the runtime may run createRuntime/prestart hooks.
    PrePivot,
    /// Everything but the final exec is done.
    Ready,
    /// An intermediate process forked the real init (joining a pid namespace); its host pid.
    InitPid(i32),
    /// A step failed; init exits.
    Failed(InitError),
}

/// Messages from the runtime to init.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ToChild {
    /// uid/gid maps are written and init is in its cgroups.
    Proceed,
    /// createRuntime/prestart hooks ran.
    HooksDone,
}

const MAX_MESSAGE: usize = 64 * 1024;

/// One end of the channel.
#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
}

impl std::os::fd::AsRawFd for Channel {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// A connected pair: (parent end, child end). Both are close-on-exec, so a successful exec in
/// the child is seen by the parent as end-of-file.
pub(crate) fn pair() -> Result<(Channel, Channel), Errno> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub(crate) fn send<T: Serialize>(&self, msg: &T) -> Result<(), Errno> {
        let bytes = serde_json::to_vec(msg).map_err(|_| Errno::EINVAL)?;
        send(
            std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            &bytes,
            MsgFlags::MSG_NOSIGNAL,
        )?;
        Ok(())
    }

    /// The next message, or `None` at end-of-file (the peer exec'd or exited).
    pub(crate) fn recv<T: DeserializeOwned>(&self) -> Result<Option<T>, Errno> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let n = loop {
            match recv(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                &mut buf,
                MsgFlags::empty(),
            ) {
                Err(Errno::EINTR) => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&buf[..n])
            .map(Some)
            .map_err(|_| Errno::EBADMSG)
    }

    /// Receives a message that must be `expected`, for the child's waits.
    pub(crate) fn expect(&self, expected: ToChild) -> Result<(), InitError> {
        match self.recv::<ToChild>() {
            Ok(Some(m)) if m == expected => Ok(()),
            Ok(Some(m)) => Err(InitError::msg(
                "waiting for the runtime",
                format!("expected {expected:?}, received {m:?}"),
            )),
            Ok(None) => Err(InitError::msg(
                "waiting for the runtime",
                "the runtime went away",
            )),
            Err(e) => Err(InitError::sys("waiting for the runtime", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof() {
        let (a, b) = pair().unwrap();
        b.send(&ToParent::Failed(InitError::msg("step", "detail")))
            .unwrap();
        b.send(&ToParent::Ready).unwrap();
        assert_eq!(
            a.recv::<ToParent>().unwrap(),
            Some(ToParent::Failed(InitError::msg("step", "detail")))
        );
        assert_eq!(a.recv::<ToParent>().unwrap(), Some(ToParent::Ready));
        drop(b);
        assert_eq!(a.recv::<ToParent>().unwrap(), None);
    }

    #[test]
    fn unexpected_message_is_a_protocol_error() {
        let (a, b) = pair().unwrap();
        a.send(&ToChild::HooksDone).unwrap();
        let err = b.expect(ToChild::Proceed).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected Proceed, received HooksDone")
        );
    }
}
