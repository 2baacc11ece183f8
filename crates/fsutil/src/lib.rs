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

/// Mode of the files berth keeps for itself: records, state.
pub const PRIVATE: u32 = 0o600;
/// Mode of files a container's processes read whatever their user (`/etc/hosts`,
/// `/etc/resolv.conf`, `/etc/hostname`), as Docker makes them.
pub const WORLD_READABLE: u32 = 0o644;

/// Writes `data` to `path` atomically: temp file in the same directory, fsync, rename, fsync
/// of the directory. A crash — of the process or of the machine — leaves either the old or
/// the new content, never a torn file. For state that must survive a reboot. Mode 0600.
pub fn atomic_write(path: &Path, data: &[u8]) -> io::Result<()> {
    write_via_temp(path, data, true, PRIVATE)
}

/// [`atomic_write`] with the file's mode.
pub fn atomic_write_mode(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    write_via_temp(path, data, true, mode)
}

/// Replaces `path` with `data` through a temp file and a rename, without fsync: a killed
/// process leaves the old or the new content, never a torn file; a power loss may lose the
/// write. For state that does not outlive a boot (`--exec-root`: runtime state, exit status)
/// or is rebuilt at every start (a container's /etc files). Each fsync pair costs ~0.4 ms here.
/// Mode 0600.
pub fn replace(path: &Path, data: &[u8]) -> io::Result<()> {
    write_via_temp(path, data, false, PRIVATE)
}

/// [`replace`] with the file's mode.
pub fn replace_mode(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    write_via_temp(path, data, false, mode)
}

/// A temp name no other writer uses: the pid tells processes apart, the counter threads and
/// successive writes of one process. `create_new` refuses a leftover of a dead process that
/// happened to have the same pid; it is removed and the name taken again.
fn temp_path(dir: &Path, name: &std::ffi::OsStr) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!(
        ".{}.tmp-{}-{seq}",
        name.to_string_lossy(),
        std::process::id()
    ))
}

fn create_temp(tmp: &Path, mode: u32) -> io::Result<fs::File> {
    let open = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(tmp)
    };
    let f = match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(tmp)?;
            open()?
        }
        other => other?,
    };
    // The umask may have taken bits away at creation; the mode is part of the contract.
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    Ok(f)
}

fn write_via_temp(path: &Path, data: &[u8], durable: bool, mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let tmp = temp_path(dir, name);
    let result = (|| {
        let mut f = create_temp(&tmp, mode)?;
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
    fn modes_are_exact_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = (dir.path().join("rec.json"), dir.path().join("hosts"));
        atomic_write(&private, b"x").unwrap();
        replace_mode(&public, b"127.0.0.1 localhost\n", WORLD_READABLE).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&private), 0o600);
        assert_eq!(mode(&public), 0o644);
    }

    #[test]
    fn concurrent_writers_of_one_file_never_share_a_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("record.json");
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let p = &p;
                s.spawn(move || {
                    for _ in 0..50 {
                        let body = vec![b'a' + t; 4096];
                        replace(p, &body).unwrap();
                    }
                });
            }
        });
        let data = fs::read(&p).unwrap();
        assert_eq!(data.len(), 4096);
        assert!(data.iter().all(|b| *b == data[0]), "a torn file");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp files left"
        );
    }

    #[test]
    fn a_stale_temp_of_a_dead_writer_is_replaced() {
        // Exercised on the temp itself: the name counter is shared with the tests running
        // beside this one, so predicting the next name through `replace` would race.
        let dir = tempfile::tempdir().unwrap();
        let stale = temp_path(dir.path(), std::ffi::OsStr::new("x"));
        fs::write(&stale, b"junk from a writer that died").unwrap();
        let mut f = create_temp(&stale, PRIVATE).unwrap();
        f.write_all(b"ok").unwrap();
        drop(f);
        assert_eq!(fs::read(&stale).unwrap(), b"ok");
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
