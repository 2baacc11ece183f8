//! Containers: their lifecycle state machine, names, and records.

pub mod health;
pub mod names;
pub mod record;
pub mod restart;
pub mod state;
