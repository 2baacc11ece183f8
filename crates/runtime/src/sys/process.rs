//! Process creation: fork-like `clone`/`clone3` carrying namespace flags.
//!
//! berth creates a container's init with ONE clone whose flags hold every namespace the spec
//! asks for (crun's model), instead of a chain of re-executed helper processes. The clone is
//! fork-like (no new stack): the child continues from the call site with a copy-on-write copy
//! of the caller's memory, exactly as after `fork(2)`.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

/// Which side of a fork-like clone the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// In the parent, with the child's pid (as seen from the parent's pid namespace).
    Parent(Pid),
    /// In the child.
    Child,
}

/// `struct clone_args` from <linux/sched.h> (version 2, 88 bytes, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Fork-like clone with `flags` (namespace flags, `CLONE_PARENT`, ...). When `cgroup` is a
/// directory fd of a cgroup v2 (or hybrid unified) cgroup, the child is born in it
/// (`CLONE_INTO_CGROUP`), which saves a write and avoids migrating a running task.
///
/// Falls back to the classic `clone(2)` when `clone3` is unavailable.
///
/// The caller must be prepared for the child to continue from this call: in a multi-threaded
/// caller, the child may only use async-signal-safe operations and memory allocation (glibc's
/// allocator is fork-safe); berth's callers (the runtime CLI and the engine's monitor) are
/// single-threaded.
pub fn fork_with(flags: CloneFlags, cgroup: Option<BorrowedFd<'_>>) -> Result<Forked, Errno> {
    match clone3(flags, cgroup) {
        Err(Errno::ENOSYS) | Err(Errno::E2BIG) => {}
        other => return other,
    }
    let clone_flags = libc::c_ulong::from(flags.bits().cast_unsigned())
        | libc::c_ulong::from(libc::SIGCHLD.cast_unsigned());
    // SAFETY: a fork-like clone (NULL stack, no CLONE_VM) duplicates the address space like
    // fork(2); both sides return here. Flags come from nix's typed CloneFlags; SIGCHLD is the
    // exit signal so the parent can waitpid() the child as usual.
    let ret =
        unsafe { libc::syscall(libc::SYS_clone, clone_flags, 0usize, 0usize, 0usize, 0usize) };
    fork_result(ret)
}

fn clone3(flags: CloneFlags, cgroup: Option<BorrowedFd<'_>>) -> Result<Forked, Errno> {
    // With CLONE_PARENT the child inherits the exit signal of the caller's group leader;
    // clone3 insists on exit_signal 0 then.
    let exit_signal = if flags.contains(CloneFlags::CLONE_PARENT) {
        0
    } else {
        libc::SIGCHLD as u64
    };
    let mut args = CloneArgs {
        // The mask keeps CloneFlags' bits, which are all valid clone3 flags.
        flags: u64::from(flags.bits().cast_unsigned()),
        exit_signal,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = u64::try_from(fd.as_raw_fd()).map_err(|_| Errno::EBADF)?;
    }
    // SAFETY: `args` is a valid, fully initialised clone_args of the size we pass; a NULL stack
    // gives fork semantics (see fork_with). The borrowed cgroup fd outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::from_mut(&mut args),
            size_of::<CloneArgs>(),
        )
    };
    fork_result(ret)
}

fn fork_result(ret: libc::c_long) -> Result<Forked, Errno> {
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(
            i32::try_from(pid).map_err(|_| Errno::EOVERFLOW)?,
        ))),
    }
}

/// Plain fork, for helpers that need no namespace flags (hooks, intermediate processes).
pub fn fork() -> Result<Forked, Errno> {
    fork_with(CloneFlags::empty(), None)
}

/// Gives the calling process a clean signal state: nothing blocked, every signal at its
/// default action. A container's init inherits the mask and ignored dispositions of whoever
/// forked it (the engine's monitor blocks SIGCHLD; Rust programs ignore SIGPIPE), and both
/// survive exec, so init resets them before it execs the user's program.
pub fn reset_signals() -> Result<(), Errno> {
    use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, sigprocmask};
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing SIG_DFL runs no user code and touches no memory of ours; this
        // process is single-threaded at this point (a freshly cloned init or exec child).
        unsafe { nix::sys::signal::signal(sig, SigHandler::SigDfl) }?;
    }
    Ok(())
}
