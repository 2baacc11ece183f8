//! Filesystem primitives berth trusts: atomic writes, and path resolution that never leaves a
//! root. Shared by the runtime (mount targets), the image store (layer unpacking, `docker cp`)
//! and the engine (volumes, /etc files).
//!
//! Every path inside a container's rootfs is resolved with `openat2(RESOLVE_IN_ROOT)`, so a
//! symlink planted in an image (`/proc -> /`, `../../etc`) is resolved as if the rootfs were
//! `/`, and the kernel — not a userspace walk racing with the container — does it. Mounts then
//! target the resulting fd through `/proc/self/fd/N`.
#![forbid(unsafe_code)]

use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, mkdirat};

/// Writes `data` to `path` atomically: temp file in the same directory, fsync, rename, fsync
/// of the directory. A crash — of the process or of the machine — leaves either the old or
/// the new content, never a torn file. For state that must survive a reboot.
pub fn atomic_write(path: &Path, data: &[u8]) -> io::Result<()> {
    write_via_temp(path, data, true)
}

/// Replaces `path` with `data` through a temp file and a rename, without fsync: a killed
/// process leaves the old or the new content, never a torn file; a power loss may lose the
/// write. For state that does not outlive a boot (`--exec-root`: runtime state, exit status)
/// or is rebuilt at every start (a container's /etc files). Each fsync pair costs ~0.4 ms here.
pub fn replace(path: &Path, data: &[u8]) -> io::Result<()> {
    write_via_temp(path, data, false)
}

fn write_via_temp(path: &Path, data: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `/proc/self/fd/<fd>`: a path the kernel resolves to exactly the object behind `fd`.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn in_root() -> ResolveFlag {
    ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS
}

/// Opens `path` (taken relative to `root` even if absolute) without leaving `root`.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(in_root());
    openat2(root, relative(path).as_path(), how)
}

/// Turns `/a/./b/` into `a/b`; `..` is kept (RESOLVE_IN_ROOT clamps it at the root).
fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| {
            !matches!(
                c,
                Component::RootDir | Component::CurDir | Component::Prefix(_)
            )
        })
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// Makes sure directory `path` exists inside `root` (creating missing components with
/// `mode`) and returns an `O_PATH` fd to it.
pub fn mkdir_all_in_root(root: BorrowedFd<'_>, path: &Path, mode: Mode) -> Result<OwnedFd, Errno> {
    mkdir_all_depth(root, path, mode, 0)
}

/// Symlinks followed while creating a path (Linux's own limit is 40).
const MAX_LINKS: u32 = 40;

fn mkdir_all_depth(
    root: BorrowedFd<'_>,
    path: &Path,
    mode: Mode,
    links: u32,
) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    match open_in_root(root, path, flags) {
        Err(Errno::ENOENT) => {}
        other => return other,
    }
    let rel = relative(path);
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Err(Errno::ENOENT);
    };
    let parent_fd = mkdir_all_depth(root, parent, mode, links)?;
    match mkdirat(parent_fd.as_fd(), name, mode) {
        Ok(()) => return open_in_root(root, &rel, flags),
        Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    match open_in_root(root, &rel, flags) {
        // A dangling symlink: create its target, resolved inside the root, as runc does.
        Err(Errno::ENOENT) if links < MAX_LINKS => {
            let target = nix::fcntl::readlinkat(parent_fd.as_fd(), name)?;
            let target = Path::new(&target);
            let inside = if target.is_absolute() {
                target.to_path_buf()
            } else {
                parent.join(target)
            };
            mkdir_all_depth(root, &inside, mode, links + 1)?;
            open_in_root(root, &rel, flags)
        }
        Err(Errno::ENOENT) => Err(Errno::ELOOP),
        other => other,
    }
}

/// Makes sure a regular file exists at `path` inside `root` (an empty mount point for a file
/// bind mount) and returns an `O_PATH` fd to whatever is there.
pub fn touch_in_root(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    match open_in_root(root, path, OFlag::O_PATH) {
        Err(Errno::ENOENT) => {}
        other => return other,
    }
    let rel = relative(path);
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Err(Errno::ENOENT);
    };
    let parent_fd = mkdir_all_depth(root, parent, Mode::from_bits_truncate(0o755), 0)?;
    // Opened through the parent fd with O_NOFOLLOW|O_EXCL: never creates through a symlink.
    let reopen = OpenHow::new()
        .flags(
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        )
        .mode(Mode::from_bits_truncate(0o644))
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    match openat2(parent_fd.as_fd(), name, reopen) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    open_in_root(root, &rel, OFlag::O_PATH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root_fd(dir: &Path) -> OwnedFd {
        fs::File::open(dir).unwrap().into()
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/", root.join("escape")).unwrap();
        symlink("../../../../etc", root.join("dotdot")).unwrap();
        let fd = root_fd(&root);
        // `/escape/etc` must land on rootfs/etc, not the host's /etc.
        let got = open_in_root(fd.as_fd(), Path::new("/escape/etc"), OFlag::O_PATH).unwrap();
        let target = fs::read_link(fd_path(got.as_fd())).unwrap();
        assert_eq!(target, root.join("etc"));
        let got = open_in_root(fd.as_fd(), Path::new("dotdot"), OFlag::O_PATH).unwrap();
        assert_eq!(
            fs::read_link(fd_path(got.as_fd())).unwrap(),
            root.join("etc")
        );
    }

    #[test]
    fn mkdir_all_creates_through_inner_symlinks_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        fs::create_dir_all(&root).unwrap();
        symlink("/", root.join("up")).unwrap();
        let fd = root_fd(&root);
        mkdir_all_in_root(
            fd.as_fd(),
            Path::new("/up/a/b"),
            Mode::from_bits_truncate(0o755),
        )
        .unwrap();
        assert!(root.join("a/b").is_dir(), "created inside the root");
        assert!(!Path::new("/a/b").exists(), "never on the host");
    }

    #[test]
    fn dangling_symlinks_get_their_target_made_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        let host = dir.path().join("host-target");
        fs::create_dir_all(&root).unwrap();
        symlink(&host, root.join("evil")).unwrap();
        let fd = root_fd(&root);
        mkdir_all_in_root(
            fd.as_fd(),
            Path::new("/evil"),
            Mode::from_bits_truncate(0o755),
        )
        .unwrap();
        assert!(!host.exists(), "the host path is untouched");
        assert!(
            root.join(host.strip_prefix("/").unwrap()).is_dir(),
            "made inside the root"
        );
        symlink("loop", root.join("loop")).unwrap();
        assert!(
            mkdir_all_in_root(
                fd.as_fd(),
                Path::new("/loop/x"),
                Mode::from_bits_truncate(0o755)
            )
            .is_err()
        );
    }

    #[test]
    fn touch_makes_a_mount_point_file() {
        let dir = tempfile::tempdir().unwrap();
        let fd = root_fd(dir.path());
        touch_in_root(fd.as_fd(), Path::new("/etc/hosts")).unwrap();
        assert!(dir.path().join("etc/hosts").is_file());
        // Idempotent.
        touch_in_root(fd.as_fd(), Path::new("/etc/hosts")).unwrap();
    }
}
