//! The syscall layer: the only place in berth where `unsafe` is allowed.
//!
//! Each function wraps one kernel interface that `nix` does not cover safely, takes and returns
//! owned/borrowed fds rather than raw ones, and documents its invariants in `// SAFETY:` notes.

pub mod fd;
pub mod process;
pub mod seccomp;
pub mod tty;
pub mod uts;
