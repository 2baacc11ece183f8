//! File-descriptor hygiene (CVE-2024-21626: no host fd may leak into a container).

use nix::errno::Errno;

const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Marks every fd from `first` upwards close-on-exec. Used by init right before it execs the
/// container's program: fds the runtime still needs until then keep working, and none of them
/// survives the exec. Falls back to walking /proc/self/fd on kernels without close_range.
pub fn cloexec_from(first: i32) -> Result<(), Errno> {
    let first = libc::c_uint::try_from(first).map_err(|_| Errno::EINVAL)?;
    // SAFETY: close_range only changes fd flags of this process; it takes plain integers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    cloexec_from_procfs(first)
}

fn cloexec_from_procfs(first: libc::c_uint) -> Result<(), Errno> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    use std::os::fd::BorrowedFd;
    let dir = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd: &i32| libc::c_uint::try_from(fd).is_ok_and(|f| f >= first))
        .collect();
    for fd in fds {
        // SAFETY: the fd was listed in /proc/self/fd a moment ago; if it has been closed since
        // (e.g. it was the read_dir handle), fcntl fails with EBADF, which we ignore.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        match fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)) {
            Ok(_) | Err(Errno::EBADF) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Closes every fd from `first` upwards except those in `keep`. A process forked from a
/// long-lived parent (the exec helper, a fork of the container's monitor) calls it before it
/// joins the container's namespaces, so nothing of the parent's — its log file, its sockets
/// to the daemon — is reachable from inside the container even for the instant before exec.
pub fn close_all_except(first: i32, keep: &[std::os::fd::RawFd]) -> Result<(), Errno> {
    let mut keep: Vec<i32> = keep.iter().copied().filter(|&fd| fd >= first).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut lo = first;
    for fd in keep {
        if fd > lo {
            close_range(lo, fd - 1)?;
        }
        lo = fd + 1;
    }
    close_range(lo, i32::MAX)
}

fn close_range(lo: i32, hi: i32) -> Result<(), Errno> {
    let (Ok(lo), Ok(hi)) = (libc::c_uint::try_from(lo), libc::c_uint::try_from(hi)) else {
        return Err(Errno::EINVAL);
    };
    // SAFETY: close_range closes fds of this process only. The caller is a freshly forked,
    // single-threaded child that never drops the Rust owners of the fds it closes (it leaves
    // through execve or exit), so no owner can later close a reused number.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0 as libc::c_uint) };
    if ret == 0 { Ok(()) } else { Err(Errno::last()) }
}

/// Receives one fd passed with SCM_RIGHTS on `socket` (a pty master from init, for example),
/// along with the message payload.
pub fn recv_fd(
    socket: std::os::fd::BorrowedFd<'_>,
) -> Result<(std::os::fd::OwnedFd, Vec<u8>), Errno> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut payload = vec![0u8; 64 * 1024];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let (fds, len) = {
        let mut iov = [std::io::IoSliceMut::new(&mut payload)];
        let msg = recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let fds: Vec<i32> = msg
            .cmsgs()?
            .filter_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => Some(fds),
                _ => None,
            })
            .flatten()
            .collect();
        (fds, msg.bytes)
    };
    let mut owned: Vec<OwnedFd> = fds
        .into_iter()
        // SAFETY: the kernel just installed these fds in our table for this message; nothing
        // else owns them, so each becomes exactly one OwnedFd.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    payload.truncate(len);
    match owned.len() {
        1 => Ok((owned.remove(0), payload)),
        _ => Err(Errno::EBADMSG),
    }
}

/// Sends `fd` with `payload` as one SCM_RIGHTS message on `socket`.
pub fn send_fd(
    socket: std::os::fd::BorrowedFd<'_>,
    fd: std::os::fd::BorrowedFd<'_>,
    payload: &[u8],
) -> Result<(), Errno> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    use std::os::fd::AsRawFd;
    let fds = [fd.as_raw_fd()];
    let iov = [std::io::IoSlice::new(payload)];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &iov,
        &cmsg,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(drop)
}
