//! Builds (`POST /build`): the context is received and spooled under the data root, the
//! build runs through `berth_build` with [`backend::EngineBackend`], and the cache index
//! (`<data-root>/build/cache/<key>` → image id) makes an unchanged rebuild a lookup per step.
//!
//! ```text
//! <data-root>/build/cache/<key>        one cache entry: the image a step made (atomic write)
//! <data-root>/build/contexts/<id>.tar  a context being built (removed after; stale ones at start)
//! <data-root>/build/cache-mounts/<h>   RUN --mount=type=cache directories, by id
//! <exec-root>/build/<id>/mnt/<handle>  scratch roots (overlay mounts) of running steps
//! <exec-root>/build/<id>/work          a tmpfs: heredoc scripts, secrets, bind sources
//! ```

mod backend;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use berth_build::builder::{Options, Progress};
use berth_build::context::Context;
use berth_build::error::{BuildError, Result};
use nix::mount::{MntFlags, MsFlags};

use backend::EngineBackend;

use crate::engine::Engine;

pub(crate) fn has_opaque(p: &Path) -> bool {
    let mut buf = [0u8; 4];
    rustix::fs::lgetxattr(p, "trusted.overlay.opaque", &mut buf)
        .is_ok_and(|n| n == 1 && buf[0] == b'y')
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unmount_under(root: &Path) {
    let Ok(m) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = root.to_string_lossy().into_owned();
    let mut points: Vec<&str> = m
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(prefix.as_str()))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p, MntFlags::MNT_DETACH);
    }
}

/// What a crashed daemon's builds left: spooled contexts, mounts, scratch layers.
pub(crate) fn clean_stale(cfg: &crate::config::EngineConfig, images: &berth_image::ImageStore) {
    let _ = std::fs::remove_dir_all(cfg.data_root.join("build").join("contexts"));
    let run = cfg.exec_root.join("build");
    unmount_under(&run);
    let _ = std::fs::remove_dir_all(&run);
    for id in images.writable_layers() {
        if id.starts_with("build-") {
            let _ = images.remove(&id);
        }
    }
}

/// One cache entry, for `system df` and `builder prune`.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub key: String,
    pub image: String,
    pub size: u64,
    pub created: Option<chrono::DateTime<chrono::Utc>>,
}

impl Engine {
    /// Runs a build from a context tar; returns the image id. `auths` are the registry
    /// credentials by host (`X-Registry-Config`) for base images that must be pulled.
    pub async fn build<R: Read + Send + 'static>(
        &self,
        context: R,
        opts: Options,
        auths: BTreeMap<String, crate::RegistryAuth>,
        progress: Arc<dyn Progress>,
    ) -> Result<String> {
        let id = random_hex(8);
        let data_dir = self.inner.cfg.data_root.join("build");
        let run_dir = self.inner.cfg.exec_root.join("build").join(&id);
        for d in [
            data_dir.join("cache"),
            data_dir.join("contexts"),
            data_dir.join("cache-mounts"),
            run_dir.join("mnt"),
            run_dir.join("work"),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| BuildError::Io {
                what: "creating",
                path: d.clone(),
                source: e,
            })?;
        }
        // Secrets and scripts stay in memory: the work directory is a private tmpfs.
        let work = run_dir.join("work");
        if let Err(e) = nix::mount::mount(
            Some("tmpfs"),
            &work,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0700,size=256m"),
        ) {
            tracing::warn!(
                "build {id}: no tmpfs for the work directory ({e}); secrets go to {}",
                work.display()
            );
        }
        let spool = data_dir.join("contexts").join(format!("{id}.tar"));
        let received = tokio::task::spawn_blocking(move || Context::receive(context, &spool))
            .await
            .map_err(|e| BuildError::invalid(e.to_string()))?;
        let result = match received {
            Ok(ctx) => {
                let backend = Arc::new(EngineBackend {
                    engine: self.clone(),
                    run_dir: run_dir.clone(),
                    data_dir,
                    auths,
                    platform: opts.platform.clone(),
                });
                berth_build::builder::build(backend, ctx, opts, progress).await
            }
            Err(e) => Err(e),
        };
        unmount_under(&run_dir);
        let _ = std::fs::remove_dir_all(&run_dir);
        if let Ok(image) = &result {
            self.events()
                .publish("image", "build", image, std::collections::HashMap::new());
        }
        result
    }

    /// The cache entries and the bytes of the images only they keep.
    pub fn build_cache(&self) -> Vec<CacheEntry> {
        let dir = self.inner.cfg.data_root.join("build").join("cache");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let tagged: std::collections::HashSet<String> = self
            .images()
            .list()
            .into_iter()
            .filter(|i| !i.repo_tags.is_empty())
            .flat_map(|i| i.layers)
            .collect();
        let sizes = self.images().layer_sizes();
        let mut out = Vec::new();
        for e in rd.flatten() {
            let Ok(image) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            let image = image.trim().to_owned();
            let Ok(info) = self.images().inspect(&image) else {
                continue;
            };
            let own = info
                .layers
                .last()
                .filter(|l| !tagged.contains(*l))
                .and_then(|l| sizes.get(l))
                .copied()
                .unwrap_or(0);
            let created = e
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .map(chrono::DateTime::<chrono::Utc>::from);
            out.push(CacheEntry {
                key: e.file_name().to_string_lossy().into_owned(),
                image,
                size: own,
                created,
            });
        }
        out
    }

    /// `builder prune`: every cache entry, every cache mount, and the intermediate images
    /// nothing else needs. Returns the removed entries' keys and the bytes reclaimed.
    pub fn build_prune(&self) -> (Vec<String>, u64) {
        let root = self.inner.cfg.data_root.join("build");
        let entries = self.build_cache();
        let cached: std::collections::HashSet<String> =
            entries.iter().map(|e| e.image.clone()).collect();
        let mut deleted = Vec::new();
        for e in &entries {
            let _ = std::fs::remove_file(root.join("cache").join(&e.key));
            deleted.push(e.key.clone());
        }
        let mut reclaimed = dir_size(&root.join("cache-mounts"));
        let _ = std::fs::remove_dir_all(root.join("cache-mounts"));
        let used: std::collections::HashSet<String> =
            self.containers().into_iter().map(|c| c.image_id).collect();
        loop {
            let free: Vec<String> = self
                .images()
                .dangling_children_free()
                .into_iter()
                .filter(|i| cached.contains(i) && !used.contains(i))
                .collect();
            if free.is_empty() {
                break;
            }
            for i in free {
                reclaimed += self.images().remove_built(&i).unwrap_or(0);
            }
        }
        (deleted, reclaimed)
    }
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
