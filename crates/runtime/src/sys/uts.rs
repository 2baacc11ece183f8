//! UTS namespace names that nix does not wrap.

use nix::errno::Errno;

/// Sets the NIS domain name of the calling process's UTS namespace.
pub fn set_domainname(name: &str) -> Result<(), Errno> {
    // SAFETY: the pointer and length describe `name`'s bytes, valid for the call; the kernel
    // copies them and does not require NUL termination.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(ret).map(drop)
}
