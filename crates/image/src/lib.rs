//! berth-image: the image store.
//!
//! Images are stacks of layers: each layer is unpacked once into a directory shared by every
//! image that has it, and a container runs on an overlayfs of its image's layers plus its own
//! writable layer. Content is addressed by sha256 (image ID = digest of the config JSON, as
//! Docker computes it, so an image moved between Docker and berth keeps its ID). See
//! `docs/image-store.md` and [`store`] for the layout and crash rules.
#![forbid(unsafe_code)]

pub mod archive;
mod changes;
pub mod config;
mod containers;
pub mod digest;
pub mod distribution;
pub mod error;
mod images;
mod layers;
pub mod reference;
mod store;
pub mod unpack;

pub use archive::load::LoadedImage;
pub use archive::safe::PathStat;
pub use changes::{Change, ChangeKind, CommitOptions};
pub use containers::Mount;
pub use digest::Digest;
pub use distribution::{PulledImage, PushImage, PushLayer, RemoteLayer};
pub use error::{ImageError, Result};
pub use images::{HistoryRow, ImageInfo, ImportOptions, InUse, Removed, ResolvedImage};
pub use layers::chain_id;
pub use reference::Reference;
pub use store::{BlobSource, ImageStore, ManifestRef};
