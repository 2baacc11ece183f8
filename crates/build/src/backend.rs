//! What a build needs from the world, as narrow traits the engine implements: base images,
//! a writable root over an image's layers (for COPY, ADD, WORKDIR), a RUN step in a real
//! container, committing an image, and the cache index. Tests implement them with plain
//! directories.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use berth_image::config::ImageConfig;
use bollard_stubs::models::ContainerConfig;

use crate::error::Result;

/// A base image (`FROM`) or an image a step made.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:<hex>`, empty for `scratch`.
    pub id: String,
    pub config: ImageConfig,
}

/// A layer a step made, ready to be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub diff_id: String,
    /// The engine's handle (the layer's chain id).
    pub chain_id: String,
}

/// A writable root filesystem over an image's layers.
#[derive(Debug)]
pub struct Scratch {
    /// Where the merged filesystem is mounted.
    pub root: PathBuf,
    /// The engine's handle.
    pub handle: String,
}

/// A mount for one RUN step (`RUN --mount=...`), resolved to what the engine mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMount {
    /// A host directory or file the build prepared (a context or image subtree, a secret).
    Bind {
        source: PathBuf,
        target: String,
        readonly: bool,
    },
    /// A persistent cache directory, by id.
    Cache {
        id: String,
        target: String,
        readonly: bool,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
    },
}

/// Everything about one RUN step's container.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The image the container runs (its rootfs is the step's parent).
    pub image: String,
    /// Cmd, Env (with build args), User, WorkingDir; Entrypoint empty.
    pub config: ContainerConfig,
    /// `default` (bridge), `none`, `host` or a network name.
    pub network: String,
    pub extra_hosts: Vec<String>,
    pub shm_size: Option<i64>,
    pub mounts: Vec<RunMount>,
    pub memory: Option<i64>,
    pub cpu_shares: Option<i64>,
    /// Keep the container after a failure (Docker does, unless `--force-rm`).
    pub keep_failed: bool,
    /// Keep it in any case (`--rm=false`); its layer is then copied, not moved.
    pub keep: bool,
}

/// Receives a RUN step's output as it comes.
pub trait Output: Send + Sync {
    /// The step's container exists (`---> Running in <id>`).
    fn started(&self, container: &str);
    fn stdout(&self, data: &[u8]);
    fn stderr(&self, data: &[u8]);
}

/// What a RUN step left.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub exit_code: i32,
    pub layer: Option<Layer>,
    /// The container's id (the image's `container`).
    pub container: String,
}

/// The engine, as a build sees it.
pub trait Backend: Send + Sync + 'static {
    /// The image `reference` names; with `pull` a registry is asked first.
    fn resolve_image(
        &self,
        reference: &str,
        pull: bool,
    ) -> impl Future<Output = Result<Image>> + Send;

    /// An image's config by id (after a cache hit).
    fn image_config(&self, id: &str) -> Result<ImageConfig>;

    /// A writable root over `image` (`None`: empty).
    fn scratch(&self, image: Option<&str>) -> impl Future<Output = Result<Scratch>> + Send;

    /// Unmounts the scratch root and turns its changes into a layer (`None` when nothing
    /// changed).
    fn finish(
        &self,
        scratch: Scratch,
        source_date_epoch: Option<i64>,
    ) -> impl Future<Output = Result<Option<Layer>>> + Send;

    /// Unmounts and forgets a scratch root (a read-only view, or after a failure).
    fn discard(&self, scratch: Scratch) -> impl Future<Output = ()> + Send;

    /// Runs a RUN step in a container and turns its changes into a layer.
    fn run(
        &self,
        spec: RunSpec,
        output: Arc<dyn Output>,
        source_date_epoch: Option<i64>,
    ) -> impl Future<Output = Result<RunResult>> + Send;

    /// Records an image made of `parent`'s layers plus `layer`, with `config` (whose rootfs
    /// and history already include the step); returns its id.
    fn commit(
        &self,
        parent: Option<&str>,
        layer: Option<&Layer>,
        config: &ImageConfig,
    ) -> Result<String>;

    /// The image a step with cache key `key` made before, if it is still there.
    fn cache_get(&self, key: &str) -> Option<String>;

    fn cache_put(&self, key: &str, image: &str) -> Result<()>;

    /// Tags the final image.
    fn tag(&self, image: &str, reference: &str) -> Result<()>;

    /// A private directory for the build's own files (heredocs, secrets, downloads), removed
    /// by the caller.
    fn work_dir(&self) -> PathBuf;
}
