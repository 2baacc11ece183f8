//! berth-engine: containers, their state machine and records, volumes, events, and the
//! per-container monitor that keeps a container's stdio, logs and exit status while the
//! daemon comes and goes.
#![forbid(unsafe_code)]

pub mod monitor;
