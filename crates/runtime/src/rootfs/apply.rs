//! Executes a [`MountPlan`] inside init's new mount namespace.
//!
//! Order (runc's `prepareRootfs`): make `/` a slave so nothing propagates to the host, bind the
//! rootfs onto itself (pivot_root needs a mount point), mount the spec's mounts with every
//! destination resolved inside the rootfs, create device nodes and /dev symlinks; then, after
//! hooks, pivot_root; then mask and make read-only the paths the spec names.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, makedev, mknodat};
use nix::unistd::{Gid, Uid, chdir, fchdir, fchownat, pivot_root, symlinkat};
use oci_spec::runtime::LinuxDeviceType;

use super::plan::{DeviceNode, MountPlan, PlannedMount, Source};
use crate::fsutil::{fd_path, mkdir_all_in_root, open_in_root, touch_in_root};
use crate::process::error::{InitError, Step};

const NONE: Option<&str> = None;

/// Everything up to pivot_root. Returns an `O_PATH` fd of the (now mounted) rootfs.
pub(crate) fn prepare(
    plan: &MountPlan,
    rootfs: &Path,
    in_userns: bool,
) -> Result<OwnedFd, InitError> {
    mount(NONE, "/", NONE, plan.root_propagation, NONE).step(|| "making / a slave mount".into())?;
    mount(
        Some(rootfs),
        rootfs,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .step(|| format!("bind-mounting rootfs {}", rootfs.display()))?;
    let root = open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .step(|| format!("opening rootfs {}", rootfs.display()))?;
    for m in &plan.mounts {
        mount_one(root.as_fd(), m, in_userns)?;
    }
    for dev in &plan.devices {
        create_device(root.as_fd(), dev, in_userns)?;
    }
    for (link, target) in &plan.dev_symlinks {
        let (dir, name) = split(link)?;
        let dirfd = mkdir_all_in_root(root.as_fd(), dir, Mode::from_bits_truncate(0o755))
            .step(|| format!("creating {}", dir.display()))?;
        match symlinkat(target, dirfd.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(InitError::sys(
                    format!("creating symlink {}", link.display()),
                    e,
                ));
            }
        }
    }
    Ok(root)
}

fn split(path: &Path) -> Result<(&Path, &Path), InitError> {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => Ok((dir, Path::new(name))),
        _ => Err(InitError::msg(
            format!("using path {}", path.display()),
            "not a file path",
        )),
    }
}

fn mount_one(
    root: std::os::fd::BorrowedFd<'_>,
    m: &PlannedMount,
    in_userns: bool,
) -> Result<(), InitError> {
    let dest = &m.dest;
    let target = if m.source_is_file() {
        touch_in_root(root, dest)
    } else {
        mkdir_all_in_root(root, dest, Mode::from_bits_truncate(0o755))
    }
    .step(|| format!("creating mount point {}", dest.display()))?;
    let flags = m.options.flags;
    let data = m.options.data_string();
    match &m.source {
        Source::Fs { fstype, source } if flags.contains(MsFlags::MS_REMOUNT) => {
            let _ = (fstype, source);
            mount(NONE, &fd_path(target.as_fd()), NONE, flags, data.as_deref())
                .step(|| format!("remounting {}", dest.display()))?;
        }
        Source::Fs { fstype, source } => {
            mount(
                Some(source.as_str()),
                &fd_path(target.as_fd()),
                Some(fstype.as_str()),
                flags,
                data.as_deref(),
            )
            .step(|| format!("mounting {fstype} on {}", dest.display()))?;
        }
        Source::Bind(src) => bind(root, src, &target, m, in_userns)?,
    }
    if m.options.propagation.is_empty() {
        return Ok(());
    }
    // Re-open: the old fd names the directory *under* the new mount.
    let mounted =
        open_in_root(root, dest, OFlag::O_PATH).step(|| format!("reopening {}", dest.display()))?;
    for p in &m.options.propagation {
        mount(NONE, &fd_path(mounted.as_fd()), NONE, *p, NONE)
            .step(|| format!("setting propagation of {}", dest.display()))?;
    }
    Ok(())
}

fn bind(
    root: std::os::fd::BorrowedFd<'_>,
    src: &Path,
    target: &OwnedFd,
    m: &PlannedMount,
    in_userns: bool,
) -> Result<(), InitError> {
    let dest = &m.dest;
    let source = open(src, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .step(|| format!("opening bind source {}", src.display()))?;
    let bind_flags = MsFlags::MS_BIND | (m.options.flags & MsFlags::MS_REC);
    mount(
        Some(&fd_path(source.as_fd())),
        &fd_path(target.as_fd()),
        NONE,
        bind_flags,
        NONE,
    )
    .step(|| format!("bind-mounting {} on {}", src.display(), dest.display()))?;
    let extra = m.options.flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
    if extra.is_empty() {
        return Ok(());
    }
    let mounted =
        open_in_root(root, dest, OFlag::O_PATH).step(|| format!("reopening {}", dest.display()))?;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra;
    if in_userns {
        // Flags locked by the kernel in a user namespace must be kept on remount.
        flags |= locked_flags(&mounted);
    }
    mount(NONE, &fd_path(mounted.as_fd()), NONE, flags, NONE)
        .step(|| format!("remounting bind mount {}", dest.display()))
}

fn locked_flags(fd: &OwnedFd) -> MsFlags {
    use nix::sys::statvfs::{FsFlags, fstatvfs};
    let Ok(st) = fstatvfs(fd) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

fn create_device(
    root: std::os::fd::BorrowedFd<'_>,
    dev: &DeviceNode,
    in_userns: bool,
) -> Result<(), InitError> {
    let (dir, name) = split(&dev.path)?;
    let dirfd = mkdir_all_in_root(root, dir, Mode::from_bits_truncate(0o755))
        .step(|| format!("creating {}", dir.display()))?;
    if in_userns {
        // mknod is not allowed in a user namespace: bind the host's node instead.
        let target =
            touch_in_root(root, &dev.path).step(|| format!("creating {}", dev.path.display()))?;
        let host = open(&dev.path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .step(|| format!("opening host device {}", dev.path.display()))?;
        return mount(
            Some(&fd_path(host.as_fd())),
            &fd_path(target.as_fd()),
            NONE,
            MsFlags::MS_BIND,
            NONE,
        )
        .step(|| format!("bind-mounting device {}", dev.path.display()));
    }
    let kind = match dev.kind {
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    let mode = Mode::from_bits_truncate(dev.mode & 0o7777);
    match mknodat(
        dirfd.as_fd(),
        name,
        kind,
        mode,
        makedev(dev.major, dev.minor),
    ) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => {
            return Err(InitError::sys(
                format!("creating device {}", dev.path.display()),
                e,
            ));
        }
    }
    fchmodat(dirfd.as_fd(), name, mode, FchmodatFlags::NoFollowSymlink)
        .or_else(|e| {
            if e == Errno::EOPNOTSUPP {
                Ok(())
            } else {
                Err(e)
            }
        })
        .step(|| format!("chmod of device {}", dev.path.display()))?;
    fchownat(
        dirfd.as_fd(),
        name,
        Some(Uid::from_raw(dev.uid)),
        Some(Gid::from_raw(dev.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .step(|| format!("chown of device {}", dev.path.display()))
}

/// Makes `rootfs` the root: pivot_root(".", ".") then detach the old root (runc's method,
/// which needs no temporary directory), or `MS_MOVE` + chroot with `--no-pivot`.
pub(crate) fn pivot(rootfs: &Path, no_pivot: bool) -> Result<(), InitError> {
    if no_pivot {
        chdir(rootfs).step(|| format!("chdir to {}", rootfs.display()))?;
        mount(Some("."), "/", NONE, MsFlags::MS_MOVE, NONE).step(|| "moving rootfs to /".into())?;
        nix::unistd::chroot(".").step(|| "chroot into rootfs".into())?;
        return chdir("/").step(|| "chdir to /".into());
    }
    let old = open(
        "/",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .step(|| "opening old root".into())?;
    let new = open(
        rootfs,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .step(|| format!("opening rootfs {}", rootfs.display()))?;
    fchdir(new.as_fd()).step(|| "entering rootfs".into())?;
    pivot_root(".", ".").step(|| format!("pivot_root to {}", rootfs.display()))?;
    fchdir(old.as_fd()).step(|| "entering old root".into())?;
    // The old root must not propagate its unmount to the host.
    mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)
        .step(|| "making old root a slave".into())?;
    umount2(".", MntFlags::MNT_DETACH).step(|| "detaching old root".into())?;
    chdir("/").step(|| "chdir to /".into())
}

/// After pivot_root: masked paths, read-only paths, read-only root.
pub(crate) fn finish(plan: &MountPlan) -> Result<(), InitError> {
    for path in &plan.masked {
        mask(path)?;
    }
    for path in &plan.readonly {
        readonly(path)?;
    }
    if plan.readonly_root {
        mount(
            NONE,
            "/",
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            NONE,
        )
        .step(|| "remounting / read-only".into())?;
    }
    Ok(())
}

fn mask(path: &Path) -> Result<(), InitError> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if meta.is_dir() {
        mount(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, NONE)
    } else {
        mount(Some("/dev/null"), path, NONE, MsFlags::MS_BIND, NONE)
    }
    .step(|| format!("masking {}", path.display()))
}

fn readonly(path: &Path) -> Result<(), InitError> {
    match mount(
        Some(path),
        path,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    ) {
        Err(Errno::ENOENT) => return Ok(()),
        other => other.step(|| format!("bind-mounting {} read-only", path.display()))?,
    }
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    mount(Some(path), path, NONE, flags, NONE)
        .step(|| format!("remounting {} read-only", path.display()))
}
