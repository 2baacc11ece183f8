//! Terminal ioctls that nix exposes only as unsafe functions.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::pty::Winsize;

/// Makes the terminal on `fd` the controlling terminal of the calling session leader.
pub fn set_controlling_terminal(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an int argument (0 = do not steal); `fd` is a live borrowed fd.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    Errno::result(ret).map(drop)
}

/// Sets the window size of the terminal on `fd`.
pub fn set_window_size(fd: BorrowedFd<'_>, size: &Winsize) -> Result<(), Errno> {
    // SAFETY: TIOCSWINSZ reads a `struct winsize` through the pointer, which is valid for the
    // duration of the call; `fd` is a live borrowed fd.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, std::ptr::from_ref(size)) };
    Errno::result(ret).map(drop)
}

/// Reads the window size of the terminal on `fd`.
pub fn window_size(fd: BorrowedFd<'_>) -> Result<Winsize, Errno> {
    let mut size = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a `struct winsize` through the pointer, which points to a
    // properly aligned, writable local; `fd` is a live borrowed fd.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCGWINSZ,
            std::ptr::from_mut(&mut size),
        )
    };
    Errno::result(ret).map(|_| size)
}
