//! Mounting a container's root filesystem: the image store describes the overlay (it never
//! mounts anything itself); the engine mounts it at `<exec-root>/containers/<id>/rootfs`.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags, mount as sys_mount, umount2};
use nix::sys::stat::Mode;

use crate::container::record::{ContainerRecord, MountRecord};
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

/// Mount points at or under `dir`, deepest first (one entry per stacked mount).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
}

/// Detaches every mount under a container's run directory and then removes it. A directory
/// that still has a mount under it is left alone: removing it would descend into what is
/// mounted there (a volume's data).
pub(crate) fn remove_run_dir(dir: &Path) {
    for m in mounts_under(dir) {
        let _ = umount2(&m, MntFlags::MNT_DETACH);
    }
    let left = mounts_under(dir);
    if !left.is_empty() {
        tracing::error!(dir = %dir.display(), mounts = ?left, "not removing a run directory with mounts under it");
        return;
    }
    if let Err(e) = std::fs::remove_dir_all(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), error = %e, "removing a run directory");
    }
}

/// Mounts the directory `sub` of a volume's data (`VolumeOptions.Subpath`) at a staging
/// point under the run directory and returns it, for the runtime to bind into the
/// container. `sub` is resolved inside the volume (a symlink in it cannot lead out), and the
/// staging mount is made from the resolved fd, so what the runtime mounts is what was
/// checked even if the container swaps a directory for a symlink meanwhile.
pub(crate) fn stage_subpath(volume: &Path, sub: &str, staging: &Path) -> Result<PathBuf> {
    use nix::fcntl::OFlag;
    use std::os::fd::AsFd;
    let root = std::fs::File::open(volume)
        .map_err(|e| EngineError::internal(format!("opening {}", volume.display()), e))?;
    let fd = berth_fsutil::open_in_root(root.as_fd(), Path::new(sub), OFlag::O_PATH).map_err(
        |e| match e {
            nix::errno::Errno::ENOENT | nix::errno::Errno::ELOOP | nix::errno::Errno::ENOTDIR => {
                EngineError::Library {
                    kind: berth_errdefs::ErrorKind::NotFound,
                    message: format!(
                        "cannot access path {}: {}",
                        volume.join(sub).display(),
                        std::io::Error::from(e)
                    ),
                }
            }
            other => {
                EngineError::internal(format!("resolving {sub} in {}", volume.display()), other)
            }
        },
    )?;
    let src = berth_fsutil::fd_path(fd.as_fd());
    let is_dir = std::fs::metadata(&src).is_ok_and(|m| m.is_dir());
    let made = if is_dir {
        std::fs::create_dir_all(staging)
    } else {
        staging
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::File::create(staging).map(drop))
    };
    made.map_err(|e| EngineError::internal(format!("creating {}", staging.display()), e))?;
    sys_mount(
        Some(&src),
        staging,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        EngineError::internal(
            format!(
                "mounting {sub} of {} on {}",
                volume.display(),
                staging.display()
            ),
            e,
        )
    })?;
    Ok(staging.to_path_buf())
}

impl Engine {
    /// Runs `f` on the container's root filesystem (`docker cp`, `export`): the live mount
    /// while it runs, else a temporary mount for the duration of `f`.
    pub async fn with_rootfs<T: Send + 'static>(
        &self,
        key: &str,
        f: impl FnOnce(&Path) -> T + Send + 'static,
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
            // The run directory was made for this mount alone: nothing is left behind.
            remove_run_dir(&self.inner.cfg.run_dir(&rec.id));
        }
        out
    }

    /// Runs `f` on the container's filesystem as its processes see it, volumes and bind
    /// mounts included (`docker cp` both ways, and its stat): while it runs, its own root
    /// (`/proc/<pid>/root`, which shows its mounts); else the rootfs with the volumes and
    /// binds mounted in, in a private mount tree that goes away with `f`.
    pub async fn with_container_fs<T: Send + 'static>(
        &self,
        key: &str,
        f: impl FnOnce(&Path) -> T + Send + 'static,
    ) -> Result<T> {
        let ctr = self.lookup(key)?;
        let _guard = ctr.lifecycle.lock().await;
        let rec = ctr.snapshot();
        if rec.is_running() && rec.state.pid > 0 {
            let root = PathBuf::from(format!("/proc/{}/root", rec.state.pid));
            return tokio::task::spawn_blocking(move || f(&root))
                .await
                .map_err(|e| EngineError::internal(format!("reading container {}", rec.id), e));
        }
        let target = mount(self, &rec).await?;
        let t2 = target.clone();
        let mounts = rec.mounts.clone();
        let out = tokio::task::spawn_blocking(move || {
            mount_in(&t2, &mounts)?;
            Ok::<_, EngineError>(f(&t2))
        })
        .await
        .map_err(|e| EngineError::internal(format!("reading container {}", rec.id), e));
        // Detaching the rootfs detaches the mounts made beneath it too.
        unmount(self, &rec.id);
        out?
    }
}

/// Mounts a stopped container's volumes and binds inside its mounted rootfs `root`, shallow
/// destinations first, each resolved inside the root (a symlink in the image cannot send a
/// mount elsewhere). The rootfs mount is made private first, so nothing propagates out.
fn mount_in(root: &Path, mounts: &[MountRecord]) -> Result<()> {
    let fail = |what: String| move |e: nix::Error| EngineError::internal(what, e);
    sys_mount(
        None::<&str>,
        root,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(fail(format!("making {} private", root.display())))?;
    let root_fd: OwnedFd = std::fs::File::open(root)
        .map_err(|e| EngineError::internal(format!("opening {}", root.display()), e))?
        .into();
    let mut binds: Vec<&MountRecord> = mounts
        .iter()
        .filter(|m| matches!(m.kind.as_str(), "bind" | "volume"))
        .collect();
    binds.sort_by_key(|m| m.destination.matches('/').count());
    for m in binds {
        let dest = Path::new(&m.destination);
        let what = || format!("mounting {} on {}", m.source.display(), m.destination);
        let at = if m.source.is_dir() {
            berth_fsutil::mkdir_all_in_root(root_fd.as_fd(), dest, Mode::from_bits_truncate(0o755))
        } else {
            berth_fsutil::touch_in_root(root_fd.as_fd(), dest)
        }
        .map_err(fail(what()))?;
        sys_mount(
            Some(m.source.as_path()),
            &berth_fsutil::fd_path(at.as_fd()),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(fail(what()))?;
        if !m.rw {
            // The fd above names the directory under the new mount: resolve again for its root.
            let top = berth_fsutil::open_in_root(root_fd.as_fd(), dest, OFlag::O_PATH)
                .map_err(fail(what()))?;
            sys_mount(
                None::<&str>,
                &berth_fsutil::fd_path(top.as_fd()),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(fail(what()))?;
        }
    }
    Ok(())
}
