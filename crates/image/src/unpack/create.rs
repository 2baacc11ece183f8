//! Creating one entry in its parent directory's fd: the syscalls of an unpack.
//!
//! Each creator tries the create first (`O_EXCL`, `mkdirat`, `symlinkat`, `mknodat`) and
//! only when something is already there removes it and tries once more, as a later tar entry
//! replaces an earlier one. A fresh layer directory never has anything there, so the common
//! case costs no `fstatat`. Each returns whether it removed something, because a removal can
//! make the unpacker's cached directory fds stale.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, mkdirat, mknodat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchownat};

use crate::error::{ImageError, Result};

/// What a tar header says about an entry besides its name and kind.
#[derive(Debug, Clone)]
pub(super) struct Meta {
    pub(super) mode: Mode,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mtime: u64,
    pub(super) xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    fn owner(&self) -> (Option<Uid>, Option<Gid>) {
        (Some(Uid::from_raw(self.uid)), Some(Gid::from_raw(self.gid)))
    }

    fn times(&self) -> TimeSpec {
        TimeSpec::new(i64::try_from(self.mtime).unwrap_or(0), 0)
    }
}

pub(super) fn unsafe_entry(path: &[u8], why: &'static str) -> ImageError {
    ImageError::UnsafeEntry {
        entry: String::from_utf8_lossy(path).into_owned(),
        why,
    }
}

pub(super) fn errno(what: impl Into<String>, path: &Path) -> impl FnOnce(Errno) -> ImageError + '_ {
    let what = what.into();
    move |e| match e {
        // The archive's own entries contradict each other (a symlink loop, a file where a
        // directory must be): bad input, not a host failure.
        Errno::ELOOP | Errno::ENOTDIR => ImageError::invalid(
            format!("{what} {}", path.display()),
            io::Error::from(e).to_string(),
        ),
        _ => ImageError::Io {
            what,
            path: path.to_path_buf(),
            source: e.into(),
        },
    }
}

fn is_dir(st: &nix::sys::stat::FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR
}

/// Removes whatever is at `name` in `dir` (a file, a link, or a whole directory); returns
/// whether there was anything.
pub(super) fn clear(dir: BorrowedFd<'_>, name: &OsStr, keep_dir: bool) -> Result<bool> {
    match nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(ImageError::Io {
            what: "inspecting".into(),
            path: name.into(),
            source: e.into(),
        }),
        Ok(st) if is_dir(&st) => {
            if keep_dir {
                return Ok(false);
            }
            // std's remove_dir_all never follows symlinks inside the tree.
            let p = berth_fsutil::fd_path(dir).join(name);
            std::fs::remove_dir_all(&p).map_err(ImageError::io("removing", name))?;
            Ok(true)
        }
        Ok(_) => {
            nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir).map_err(
                |e| ImageError::Io {
                    what: "removing".into(),
                    path: name.into(),
                    source: e.into(),
                },
            )?;
            Ok(true)
        }
    }
}

/// Runs `make`; if the name is taken, clears it and runs `make` once more.
fn replacing<T>(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    what: &str,
    mut make: impl FnMut() -> nix::Result<T>,
) -> Result<(T, bool)> {
    match make() {
        Ok(v) => Ok((v, false)),
        Err(Errno::EEXIST) => {
            let removed = clear(dir, name, false)?;
            let v = make().map_err(errno(what, path))?;
            Ok((v, removed))
        }
        Err(e) => Err(errno(what, path)(e)),
    }
}

/// Writes a regular file; `fill` writes its content.
pub(super) fn file(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    meta: &Meta,
    fill: impl FnOnce(&mut File) -> io::Result<u64>,
) -> Result<(u64, bool)> {
    let flags =
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let (fd, removed) = replacing(dir, name, path, "creating", || {
        openat(dir, name, flags, Mode::from_bits_truncate(0o600))
    })?;
    let mut f = File::from(fd);
    let written =
        fill(&mut f).map_err(ImageError::stream(format!("writing {}", path.display())))?;
    let (uid, gid) = meta.owner();
    nix::unistd::fchown(&f, uid, gid).map_err(errno("chown of", path))?;
    // After the chown, which clears set-id bits.
    nix::sys::stat::fchmod(&f, meta.mode).map_err(errno("chmod of", path))?;
    set_xattrs(f.as_fd(), path, &meta.xattrs)?;
    let t = meta.times();
    let _ = nix::sys::stat::futimens(&f, &t, &t);
    Ok((written, removed))
}

/// Copies `r` into `w` in large writes (a layer's big files are hundreds of MiB).
pub(super) fn copy_large(r: &mut dyn Read, w: &mut File) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}

pub(super) fn symlink(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    meta: &Meta,
    target: &[u8],
) -> Result<bool> {
    let ((), removed) = replacing(dir, name, path, "creating symlink", || {
        nix::unistd::symlinkat(OsStr::from_bytes(target), dir, name)
    })?;
    finish_at(dir, name, path, meta)?;
    Ok(removed)
}

pub(super) fn device(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    meta: &Meta,
    kind: SFlag,
    dev: u64,
) -> Result<bool> {
    let ((), removed) = replacing(dir, name, path, "creating device node", || {
        mknodat(dir, name, kind, meta.mode, dev)
    })?;
    finish_at(dir, name, path, meta)?;
    Ok(removed)
}

/// Owner and time of a node that cannot be opened (symlinks, devices).
fn finish_at(dir: BorrowedFd<'_>, name: &OsStr, path: &Path, meta: &Meta) -> Result<()> {
    let (uid, gid) = meta.owner();
    fchownat(dir, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(errno("chown of", path))?;
    set_times_at(dir, name, meta.mtime);
    Ok(())
}

/// Creates (or keeps) a directory; its time is set once its content is in place.
pub(super) fn directory(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    meta: &Meta,
) -> Result<bool> {
    let removed = match mkdirat(dir, name, meta.mode) {
        Ok(()) => false,
        Err(Errno::EEXIST) => {
            let removed = clear(dir, name, true)?;
            if removed {
                mkdirat(dir, name, meta.mode).map_err(errno("creating directory", path))?;
            }
            removed
        }
        Err(e) => return Err(errno("creating directory", path)(e)),
    };
    let (uid, gid) = meta.owner();
    fchownat(dir, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(errno("chown of", path))?;
    nix::sys::stat::fchmodat(
        dir,
        name,
        meta.mode,
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(errno("chmod of", path))?;
    Ok(removed)
}

/// A hardlink to `target`, an earlier entry resolved inside `root`.
pub(super) fn hardlink(
    root: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    raw_target: &[u8],
    target: &Path,
) -> Result<bool> {
    let tfd = berth_fsutil::open_in_root(root, target, OFlag::O_PATH | OFlag::O_NOFOLLOW).map_err(
        |_| {
            unsafe_entry(
                raw_target,
                "is a hardlink target that does not exist inside the layer",
            )
        },
    )?;
    let st = nix::sys::stat::fstat(&tfd).map_err(errno("inspecting hardlink target", target))?;
    if is_dir(&st) {
        return Err(unsafe_entry(raw_target, "is a hardlink to a directory"));
    }
    let ((), removed) = replacing(dir, name, path, "creating hardlink", || {
        nix::unistd::linkat(tfd.as_fd(), "", dir, name, AtFlags::AT_EMPTY_PATH)
    })?;
    Ok(removed)
}

/// `.wh.<name>` deletes `<name>` from lower layers; `.wh..wh..opq` hides a directory's lower
/// content.
pub(super) fn whiteout(root: BorrowedFd<'_>, path: &Path, hidden: &[u8]) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new(""));
    let dir = berth_fsutil::mkdir_all_in_root(root, parent, Mode::from_bits_truncate(0o755))
        .map_err(errno("creating parent directory", parent))?;
    if hidden == b".wh..opq" {
        let d = berth_fsutil::open_in_root(root, parent, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map_err(errno("opening", parent))?;
        return rustix::fs::fsetxattr(
            &d,
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(|e| ImageError::Io {
            what: "marking opaque".into(),
            path: parent.to_path_buf(),
            source: e.into(),
        });
    }
    let name = OsStr::from_bytes(hidden);
    if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
        return Err(unsafe_entry(
            path.as_os_str().as_bytes(),
            "is an invalid whiteout",
        ));
    }
    clear(dir.as_fd(), name, false)?;
    mknodat(dir.as_fd(), name, SFlag::S_IFCHR, Mode::empty(), 0)
        .map_err(errno("creating whiteout", path))
}

fn set_xattrs(fd: BorrowedFd<'_>, path: &Path, xattrs: &[(String, Vec<u8>)]) -> Result<()> {
    for (k, v) in xattrs {
        // Security xattrs other than capabilities are not carried into layers.
        if k.starts_with("security.") && k != "security.capability" {
            continue;
        }
        rustix::fs::fsetxattr(fd, k.as_str(), v, rustix::fs::XattrFlags::empty()).map_err(|e| {
            ImageError::Io {
                what: format!("setting xattr {k} on"),
                path: path.to_path_buf(),
                source: e.into(),
            }
        })?;
    }
    Ok(())
}

pub(super) fn set_times_at(dir: BorrowedFd<'_>, name: &OsStr, mtime: u64) {
    let t = TimeSpec::new(i64::try_from(mtime).unwrap_or(0), 0);
    let _ = nix::sys::stat::utimensat(
        dir,
        name,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
}
