//! berth-engine: containers, their state machine and records, volumes, events, and the
//! per-container monitor that keeps a container's stdio, logs and exit status while the
//! daemon comes and goes.
//!
//! [`Engine`] is the facade the API calls. Each operation lives in its own module; the process
//! side (zygote, monitor) in [`monitor`].
#![forbid(unsafe_code)]

mod attach;
pub mod config;
pub mod container;
pub mod distribution;
mod engine;
pub mod error;
pub mod events;
pub mod exec;
pub mod filters;
mod health;
pub mod lifecycle;
mod links;
mod live;
pub mod logs;
pub mod monitor;
mod mounts;
mod netconfig;
mod netconnect;
mod netsetup;
pub mod ocispec;
pub mod ops;
mod ports;
mod recovery;
mod rootfs;
mod store;
pub mod units;
pub mod volumes;

pub use attach::{AttachOptions, AttachStreams};
pub use berth_registry::{Credentials as RegistryAuth, RegistryConfig, SearchResult};
pub use config::{EngineConfig, NetworkDefaults};
pub use distribution::{Progress, Pulled};
pub use engine::{Engine, Snapshot};
pub use error::{EngineError, Result};
pub use exec::{ExecConfig, ExecInstance, ExecState, ExecStreams};
pub use lifecycle::create::CreateOptions;
pub use lifecycle::remove::RemoveOptions;
pub use lifecycle::signal::{WaitCondition, parse_signal};
pub use live::Output;
