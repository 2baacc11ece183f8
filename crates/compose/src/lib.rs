//! berth-compose: `berth compose`, multi-container applications from Compose files.
//!
//! `model` is the Compose Specification in normalized form; `load` finds, parses, interpolates,
//! merges and validates files into a `Project` (no daemon involved); `graph` orders services by
//! their dependencies; `convert` turns a service into the Engine API's create body; `engine`
//! wraps the API calls; `cmd` holds one module per command. Like the CLI, it speaks HTTP to a
//! daemon through `berth-client` and never reaches into the engine.
#![forbid(unsafe_code)]

pub mod graph;
pub mod labels;
pub mod load;
pub mod model;

mod convert;
