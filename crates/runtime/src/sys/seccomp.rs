//! Loading a compiled seccomp filter into the calling thread.

use nix::errno::Errno;

use crate::seccomp::BpfProgram;

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

/// Installs `prog` for the calling process. The caller must have set no_new_privs or hold
/// CAP_SYS_ADMIN. Called by init as one of its last steps, after which the filter constrains
/// it and everything it execs.
pub fn load(prog: &BpfProgram) -> Result<(), Errno> {
    // The exported program is a byte image of `struct sock_filter[]` in native byte order;
    // rebuilding it as typed values also guarantees the alignment the kernel reads it with.
    let filter: Vec<libc::sock_filter> = prog
        .instructions
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let len = u16::try_from(filter.len()).map_err(|_| Errno::E2BIG)?;
    let fprog = libc::sock_fprog {
        len,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `filter`, a live, properly aligned array of `len` instructions
    // that outlives the call; seccomp(2) copies the program and keeps no pointer to it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(prog.flags),
            std::ptr::from_ref(&fprog),
        )
    };
    Errno::result(ret).map(drop)
}
