//! Mounting a container's root filesystem: the image store describes the overlay (it never
//! mounts anything itself); the engine mounts it at `<exec-root>/containers/<id>/rootfs`.

use std::path::PathBuf;

use nix::mount::{MntFlags, MsFlags, mount as sys_mount, umount2};

use crate::container::record::ContainerRecord;
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// Mounts the container's rootfs and returns the mount point.
pub(crate) async fn mount(engine: &Engine, rec: &ContainerRecord) -> Result<PathBuf> {
    let target = engine.inner.cfg.run_dir(&rec.id).join("rootfs");
    std::fs::create_dir_all(&target)
        .map_err(|e| EngineError::internal(format!("creating {}", target.display()), e))?;
    let mounts = engine
        .inner
        .images
        .mounts(&rec.id)
        .map_err(|e| EngineError::from_lib(&e))?;
    for m in mounts {
        let data = m.options.join(",");
        sys_mount(
            Some(m.source.as_str()),
            &target,
            Some(m.typ.as_str()),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|e| {
            EngineError::internal(
                format!(
                    "mounting the rootfs of container {} on {}",
                    rec.id,
                    target.display()
                ),
                e,
            )
        })?;
    }
    Ok(target)
}

/// Unmounts the rootfs (lazily: a process still holding it keeps it alive, unseen).
pub(crate) fn unmount(engine: &Engine, id: &str) {
    let target = engine.inner.cfg.run_dir(id).join("rootfs");
    while umount2(&target, MntFlags::MNT_DETACH).is_ok() {}
}

impl Engine {
    /// Runs `f` on the container's root filesystem (`docker cp`, `export`): the live mount
    /// while it runs, else a temporary mount for the duration of `f`.
    pub async fn with_rootfs<T: Send + 'static>(
        &self,
        key: &str,
        f: impl FnOnce(&std::path::Path) -> T + Send + 'static,
    ) -> Result<T> {
        let ctr = self.lookup(key)?;
        let _guard = ctr.lifecycle.lock().await;
        let rec = ctr.snapshot();
        let target = self.inner.cfg.run_dir(&rec.id).join("rootfs");
        let mounted_here = !rec.is_running();
        if mounted_here {
            mount(self, &rec).await?;
        }
        let t2 = target.clone();
        let out = tokio::task::spawn_blocking(move || f(&t2))
            .await
            .map_err(|e| EngineError::internal(format!("reading the rootfs of {}", rec.id), e));
        if mounted_here {
            unmount(self, &rec.id);
        }
        out
    }
}
