//! berth-build: Dockerfile to image.
//!
//! The language ([`parser`], [`shell`]), the build context ([`context`], [`ignore`]), the
//! evaluation of instructions into image configs and history as Docker's classic builder
//! writes them, and the layer cache keys. The world (images, containers, layers) is reached
//! only through the [`backend::Backend`] trait, which the engine implements.
#![forbid(unsafe_code)]

pub mod args;
pub mod backend;
pub mod builder;
pub mod context;
pub mod error;
pub mod fsroot;
pub mod gofmt;
pub mod ignore;
pub mod pack;
pub mod parser;
pub mod shell;
pub mod stages;

pub use error::{BuildError, ParseError, Result};
