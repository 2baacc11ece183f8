//! berth-runtime: turns an OCI bundle (runtime-spec 1.x) into an isolated, limited process.
//!
//! It is a library first — the engine's per-container monitor calls it in-process — and
//! `berth runtime ...` is its runc-compatible command-line front ([`cli`]).
//!
//! `unsafe` is denied everywhere but [`sys`], the one module that talks to the kernel
//! directly; each block there carries a `// SAFETY:` note.
#![deny(unsafe_code)]

pub use oci_spec;

pub mod cgroups;
pub mod cli;
pub mod container;
pub mod error;
pub mod exe_guard;
mod features;
pub use berth_fsutil as fsutil;
mod hooks;
mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
#[allow(unsafe_code)]
pub mod sys;
mod validate;

pub use container::{Container, CreateRequest, ExecRequest, Runtime, StartMode, Status};
pub use error::{Result, RuntimeError, SpecError};
