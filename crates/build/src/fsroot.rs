//! Writing files into a step's root filesystem without leaving it: every parent directory
//! is resolved inside the root (`openat2(RESOLVE_IN_ROOT)` through `berth_fsutil`), so a
//! symlink in the image (`/app -> /`) or in the context cannot redirect a COPY to the host;
//! entries are then created through the parent's fd, never by a path string.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, fchmod, fstatat, futimens, mkdirat, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, symlinkat, unlinkat};

use crate::error::{BuildError, Result};

/// Owner, mode and time an entry gets.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch.
    pub mtime: i64,
}

fn errno<'a>(what: &'static str, path: &'a str) -> impl FnOnce(Errno) -> BuildError + 'a {
    move |e| BuildError::Io {
        what,
        path: PathBuf::from(path),
        source: std::io::Error::from(e),
    }
}

/// A root filesystem open for writing.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    pub path: PathBuf,
}

fn split(path: &str) -> (String, String) {
    let clean = crate::ignore::clean(&format!("/{path}"));
    match clean.rsplit_once('/') {
        Some((p, n)) => (
            if p.is_empty() {
                "/".into()
            } else {
                p.to_owned()
            },
            n.to_owned(),
        ),
        None => ("/".into(), clean),
    }
}

fn times(mtime: i64) -> TimeSpec {
    TimeSpec::new(mtime, 0)
}

impl Root {
    pub fn open(path: &Path) -> Result<Self> {
        let f = std::fs::File::open(path).map_err(BuildError::io("opening", path))?;
        Ok(Self {
            fd: f.into(),
            path: path.to_owned(),
        })
    }

    /// What is at `path` (following symlinks inside the root): `Some(true)` for a directory.
    pub fn is_dir(&self, path: &str) -> Option<bool> {
        let fd =
            berth_fsutil::open_in_root(self.fd.as_fd(), Path::new(path), OFlag::O_PATH).ok()?;
        let st = nix::sys::stat::fstat(fd.as_fd()).ok()?;
        Some(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR)
    }

    /// Opens a file inside the root for reading (following symlinks inside it).
    pub fn read(&self, path: &str) -> Option<std::fs::File> {
        berth_fsutil::open_in_root(self.fd.as_fd(), Path::new(path), OFlag::O_RDONLY)
            .ok()
            .map(std::fs::File::from)
    }

    /// Makes directory `path` and its parents (new ones get `meta`); returns an O_PATH fd.
    pub fn mkdir_all(&self, path: &str, meta: Option<Meta>) -> Result<OwnedFd> {
        if let Ok(fd) = berth_fsutil::open_in_root(
            self.fd.as_fd(),
            Path::new(path),
            OFlag::O_PATH | OFlag::O_DIRECTORY,
        ) {
            return Ok(fd);
        }
        let (parent, name) = split(path);
        if name.is_empty() {
            return berth_fsutil::open_in_root(
                self.fd.as_fd(),
                Path::new("/"),
                OFlag::O_PATH | OFlag::O_DIRECTORY,
            )
            .map_err(errno("opening", path));
        }
        let pfd = self.mkdir_all(&parent, meta)?;
        match mkdirat(pfd.as_fd(), name.as_str(), Mode::from_bits_truncate(0o700)) {
            Ok(()) => {
                let fd = openat(
                    pfd.as_fd(),
                    name.as_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno("opening", path))?;
                self.apply(
                    &fd,
                    meta.unwrap_or(Meta {
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                        mtime: -1,
                    }),
                    path,
                )?;
            }
            // A dangling symlink: its target is made inside the root.
            Err(Errno::EEXIST) => {
                return berth_fsutil::mkdir_all_in_root(
                    self.fd.as_fd(),
                    Path::new(path),
                    Mode::from_bits_truncate(0o755),
                )
                .map_err(errno("creating", path));
            }
            Err(e) => return Err(errno("creating", path)(e)),
        }
        berth_fsutil::open_in_root(
            self.fd.as_fd(),
            Path::new(path),
            OFlag::O_PATH | OFlag::O_DIRECTORY,
        )
        .map_err(errno("opening", path))
    }

    fn dir_in(&self, pfd: &OwnedFd, name: &str, meta: Meta, path: &str) -> Result<()> {
        match mkdirat(pfd.as_fd(), name, Mode::from_bits_truncate(0o700)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(errno("creating", path)(e)),
        }
        let fd = openat(
            pfd.as_fd(),
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno("opening", path))?;
        self.apply(&fd, meta, path)
    }

    fn apply(&self, fd: &OwnedFd, meta: Meta, path: &str) -> Result<()> {
        fchown(
            fd.as_fd(),
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        )
        .map_err(errno("changing the owner of", path))?;
        fchmod(fd.as_fd(), Mode::from_bits_truncate(meta.mode & 0o7777))
            .map_err(errno("changing the mode of", path))?;
        if meta.mtime >= 0 {
            futimens(fd.as_fd(), &times(meta.mtime), &times(meta.mtime))
                .map_err(errno("setting the time of", path))?;
        }
        Ok(())
    }

    /// Creates (or sets the metadata of) directory `path`.
    pub fn dir(&self, path: &str, meta: Meta) -> Result<()> {
        let (parent, name) = split(path);
        if name.is_empty() {
            return Ok(());
        }
        let pfd = self.mkdir_all(&parent, None)?;
        self.dir_in(&pfd, &name, meta, path)
    }

    /// Removes whatever non-directory is at `name` (Docker replaces files and links).
    fn clear(pfd: &OwnedFd, name: &str, path: &str) -> Result<()> {
        match fstatat(pfd.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st)
                if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
                    == SFlag::S_IFDIR =>
            {
                Err(BuildError::invalid(format!(
                    "cannot copy to {path}: it is a directory"
                )))
            }
            Ok(_) => unlinkat(pfd.as_fd(), name, UnlinkatFlags::NoRemoveDir)
                .map_err(errno("replacing", path)),
            Err(_) => Ok(()),
        }
    }

    /// Writes a regular file.
    pub fn file(&self, path: &str, content: &mut dyn Read, meta: Meta) -> Result<()> {
        let (parent, name) = split(path);
        let pfd = self.mkdir_all(&parent, None)?;
        Self::clear(&pfd, &name, path)?;
        let fd = openat(
            pfd.as_fd(),
            name.as_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(errno("creating", path))?;
        let mut f = std::fs::File::from(fd);
        std::io::copy(content, &mut f).map_err(BuildError::io("writing", path))?;
        self.apply(&OwnedFd::from(f), meta, path)
    }

    /// Writes a symbolic link (its target is data; nothing follows it here).
    pub fn symlink(&self, path: &str, target: &str, meta: Meta) -> Result<()> {
        let (parent, name) = split(path);
        let pfd = self.mkdir_all(&parent, None)?;
        Self::clear(&pfd, &name, path)?;
        symlinkat(target, pfd.as_fd(), name.as_str()).map_err(errno("creating", path))?;
        fchownat(
            pfd.as_fd(),
            name.as_str(),
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(errno("changing the owner of", path))?;
        if meta.mtime >= 0 {
            utimensat(
                pfd.as_fd(),
                name.as_str(),
                &times(meta.mtime),
                &times(meta.mtime),
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(errno("setting the time of", path))?;
        }
        Ok(())
    }

    /// `user[:group]` → ids, names looked up in the root's /etc/passwd and /etc/group.
    pub fn lookup_owner(&self, spec: &str) -> Result<(u32, u32)> {
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let find = |file: &str, name: &str, col: usize| -> Option<u32> {
            let mut text = String::new();
            self.read(file)?.read_to_string(&mut text).ok()?;
            text.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.first() == Some(&name))
                    .then(|| f.get(col).and_then(|v| v.parse().ok()))
                    .flatten()
            })
        };
        let uid = match user.parse::<u32>() {
            Ok(n) => n,
            Err(_) => find("/etc/passwd", user, 2)
                .ok_or_else(|| BuildError::invalid(format!("unable to convert uid/gid chown string to host mapping: can't find uid for user {user}: no such user: {user}")))?,
        };
        let gid = match group {
            None => match user.parse::<u32>() {
                Ok(n) => n,
                Err(_) => find("/etc/passwd", user, 3).unwrap_or(uid),
            },
            Some(g) => match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => find("/etc/group", g, 2)
                    .ok_or_else(|| BuildError::invalid(format!("unable to convert uid/gid chown string to host mapping: can't find gid for group {g}: no such group: {g}")))?,
            },
        };
        Ok((uid, gid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
        let r = Root::open(dir.path()).unwrap();
        let me = Meta {
            mode: 0o640,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            mtime: 1000,
        };
        r.file("/escape/x/f", &mut &b"hi"[..], me).unwrap();
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        // `escape` resolves to the root itself (an absolute target is taken from the root).
        let landed = std::fs::read(
            dir.path()
                .join(outside.path().strip_prefix("/").unwrap())
                .join("x/f"),
        )
        .unwrap();
        assert_eq!(landed, b"hi");
        r.symlink("/l", "/etc/passwd", me).unwrap();
        r.file("/l", &mut &b"replaced"[..], me).unwrap();
        assert_eq!(std::fs::read(dir.path().join("l")).unwrap(), b"replaced");
        assert_eq!(r.is_dir("/escape"), Some(true));
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "app:x:1000:1001::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "staff:x:50:\n").unwrap();
        assert_eq!(r.lookup_owner("app").unwrap(), (1000, 1001));
        assert_eq!(r.lookup_owner("app:staff").unwrap(), (1000, 50));
        assert_eq!(r.lookup_owner("5:6").unwrap(), (5, 6));
        assert!(r.lookup_owner("nobody").is_err());
    }
}
