//! The container's root filesystem: a plan computed from the spec, and its executor.

pub(crate) mod apply;
pub(crate) mod flags;
pub(crate) mod plan;

pub use plan::CgroupMountLayout;
