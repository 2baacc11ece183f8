//! Container lifecycle operations, one file per verb group.

pub mod create;
pub mod exit;
mod refuse;
pub mod remove;
pub mod signal;
pub mod start;
pub(crate) mod validate;
