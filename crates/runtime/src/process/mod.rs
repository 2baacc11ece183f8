//! The processes the runtime creates: init, and processes exec'd into a running container.

pub(crate) mod channel;
pub(crate) mod console;
pub(crate) mod environment;
pub mod error;
pub(crate) mod identity;
pub(crate) mod init;
pub(crate) mod limits;
pub(crate) mod lookpath;
