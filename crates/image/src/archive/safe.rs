//! `docker cp`, `export` and the archive API: tar a path out of a container's root, or
//! unpack a tar into it, without ever following a symlink out of the root.
//!
//! The starting path is resolved inside the root with `openat2(RESOLVE_IN_ROOT)`; from there
//! the walk goes from directory fd to directory fd with `O_NOFOLLOW`, so a container that
//! swaps a directory for a symlink mid-walk (CVE-2018-15664) only makes the walk fail, never
//! escape.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

use crate::error::{ImageError, Result};
use crate::unpack::{UnpackStats, unpack_into};

/// What `HEAD /containers/{id}/archive` reports about a path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits, as Docker reports them.
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

fn sys(what: &str, path: &Path) -> impl FnOnce(nix::errno::Errno) -> ImageError {
    let (what, path) = (what.to_owned(), path.to_path_buf());
    move |e| {
        if e == nix::errno::Errno::ENOENT {
            ImageError::NoSuchPath(path)
        } else {
            ImageError::Io {
                what,
                path,
                source: e.into(),
            }
        }
    }
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// Go's FileMode from a stat mode.
fn go_mode(st: &FileStat) -> u32 {
    let perm = st.st_mode & 0o777;
    let mut m = perm;
    match kind(st) {
        SFlag::S_IFDIR => m |= 1 << 31,
        SFlag::S_IFLNK => m |= 1 << 27,
        SFlag::S_IFBLK => m |= 1 << 26,
        SFlag::S_IFCHR => m |= (1 << 26) | (1 << 21),
        SFlag::S_IFIFO => m |= 1 << 25,
        SFlag::S_IFSOCK => m |= 1 << 24,
        _ => {}
    }
    if st.st_mode & 0o4000 != 0 {
        m |= 1 << 23;
    }
    if st.st_mode & 0o2000 != 0 {
        m |= 1 << 22;
    }
    if st.st_mode & 0o1000 != 0 {
        m |= 1 << 20;
    }
    m
}

fn split(path: &str) -> (PathBuf, OsString) {
    let p = Path::new(path);
    let name = p.file_name().map_or_else(|| ".".into(), OsString::from);
    (
        p.parent()
            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
        name,
    )
}

/// Stats `path` inside `root` (the last component is not followed, as Docker's `cp` does).
pub fn stat(root: &Path, path: &str) -> Result<PathStat> {
    let root_fd: OwnedFd = std::fs::File::open(root)
        .map_err(ImageError::io("opening", root))?
        .into();
    let (parent, name) = split(path);
    let dir =
        berth_fsutil::open_in_root(root_fd.as_fd(), &parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map_err(sys("resolving", Path::new(path)))?;
    let st = if name == "." {
        fstat(&dir)
    } else {
        fstatat(dir.as_fd(), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
    }
    .map_err(sys("stat", Path::new(path)))?;
    let link_target = if kind(&st) == SFlag::S_IFLNK {
        nix::fcntl::readlinkat(dir.as_fd(), name.as_os_str())
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let mtime = chrono::DateTime::from_timestamp(st.st_mtime, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let shown = if name == "." {
        Path::new(path)
            .file_name()
            .map_or_else(|| "/".into(), |n| n.to_string_lossy().into_owned())
    } else {
        name.to_string_lossy().into_owned()
    };
    Ok(PathStat {
        name: shown,
        size: st.st_size,
        mode: go_mode(&st),
        mtime,
        link_target,
    })
}

/// Writes `path` (file or directory tree) inside `root` to `w` as a tar whose top entry is
/// the path's own name (Docker's archive API).
pub fn pack<W: Write>(root: &Path, path: &str, w: W) -> Result<W> {
    let root_fd: OwnedFd = std::fs::File::open(root)
        .map_err(ImageError::io("opening", root))?
        .into();
    let (parent, name) = split(path);
    let dir = berth_fsutil::open_in_root(
        root_fd.as_fd(),
        &parent,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
    )
    .map_err(sys("resolving", Path::new(path)))?;
    let mut b = tar::Builder::new(w);
    let top = if name == "." {
        PathBuf::from(Path::new(path).file_name().unwrap_or_default())
    } else {
        PathBuf::from(&name)
    };
    if name == "." {
        add_dir_contents(&mut b, dir, &top)?;
        return b
            .into_inner()
            .map_err(ImageError::stream("writing the archive"));
    }
    add(&mut b, dir.as_fd(), name.as_os_str(), &top)?;
    b.into_inner()
        .map_err(ImageError::stream("writing the archive"))
}

/// Bytes of a tar header's link name; longer targets go in a GNU long-link entry.
const LINK_NAME_FIELD: usize = 100;

fn header_for(st: &FileStat, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(size);
    h
}

fn add<W: Write>(
    b: &mut tar::Builder<W>,
    dir: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    rel: &Path,
) -> Result<()> {
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(sys("stat", rel))?;
    let stream = ImageError::stream("writing the archive");
    match kind(&st) {
        SFlag::S_IFDIR => {
            let fd = openat(
                dir,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(sys("opening", rel))?;
            let mut h = header_for(&st, 0);
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, rel, std::io::empty())
                .map_err(stream)?;
            add_dir_contents(b, fd, rel)?;
        }
        SFlag::S_IFREG => {
            let fd = openat(
                dir,
                name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(sys("opening", rel))?;
            let st = fstat(&fd).map_err(sys("stat", rel))?;
            let mut h = header_for(&st, u64::try_from(st.st_size).unwrap_or(0));
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, rel, std::fs::File::from(fd))
                .map_err(stream)?;
        }
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(dir, name).map_err(sys("reading link", rel))?;
            let mut h = header_for(&st, 0);
            h.set_entry_type(tar::EntryType::Symlink);
            let bytes = target.as_bytes();
            if bytes.len() <= LINK_NAME_FIELD {
                // Verbatim: the tar crate's path clean-up writes a link to `/` as `//`.
                h.set_link_name_literal(bytes)
                    .map_err(ImageError::stream("writing the archive"))?;
                b.append_data(&mut h, rel, std::io::empty())
                    .map_err(stream)?;
            } else {
                b.append_link(&mut h, rel, Path::new(&target))
                    .map_err(stream)?;
            }
        }
        SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
            let mut h = header_for(&st, 0);
            h.set_entry_type(match kind(&st) {
                SFlag::S_IFCHR => tar::EntryType::Char,
                SFlag::S_IFBLK => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            });
            let _ =
                h.set_device_major(u32::try_from(nix::sys::stat::major(st.st_rdev)).unwrap_or(0));
            let _ =
                h.set_device_minor(u32::try_from(nix::sys::stat::minor(st.st_rdev)).unwrap_or(0));
            b.append_data(&mut h, rel, std::io::empty())
                .map_err(stream)?;
        }
        _ => {} // sockets are not archived
    }
    Ok(())
}

fn add_dir_contents<W: Write>(b: &mut tar::Builder<W>, fd: OwnedFd, rel: &Path) -> Result<()> {
    let dup = fd.try_clone().map_err(ImageError::io("duplicating", rel))?;
    let mut d = Dir::from_fd(dup).map_err(sys("reading directory", rel))?;
    let mut names: Vec<OsString> = d
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| std::ffi::OsStr::from_bytes(e.file_name().to_bytes()).to_owned())
        .filter(|n| n != "." && n != "..")
        .collect();
    names.sort();
    for n in names {
        add(b, fd.as_fd(), &n, &rel.join(&n))?;
    }
    Ok(())
}

/// Unpacks `r` into directory `dest` inside `root`; entries may not leave `dest`.
pub fn unpack<R: std::io::Read>(root: &Path, dest: &str, r: R) -> Result<UnpackStats> {
    let root_fd: OwnedFd = std::fs::File::open(root)
        .map_err(ImageError::io("opening", root))?
        .into();
    let dir = berth_fsutil::open_in_root(
        root_fd.as_fd(),
        Path::new(dest),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
    )
    .map_err(|e| {
        if e == nix::errno::Errno::ENOTDIR {
            ImageError::invalid(format!("extracting to {dest}"), "not a directory")
        } else {
            sys("resolving", Path::new(dest))(e)
        }
    })?;
    unpack_into(r, dir.as_fd(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_and_unpack_stay_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("data/sub")).unwrap();
        std::fs::write(root.join("data/sub/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("data/etc-link")).unwrap();
        std::os::unix::fs::symlink("/", root.join("escape")).unwrap();
        let tar = pack(&root, "/data", Vec::new()).unwrap();
        let mut names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["data", "data/etc-link", "data/sub", "data/sub/f"]);
        // `/escape/etc` resolves to root/etc: nothing of the host's /etc.
        assert!(pack(&root, "/escape/etc/passwd", Vec::new()).is_err());
        let st = stat(&root, "/data/etc-link").unwrap();
        assert_eq!(st.link_target, "/etc");
        assert_eq!(stat(&root, "/data").unwrap().mode & (1 << 31), 1 << 31);
        // A link to `/` is archived as `/`.
        let tar = pack(&root, "/escape", Vec::new()).unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.header().link_name_bytes().unwrap().as_ref(), b"/");
        let tar = pack(&root, "/data", Vec::new()).unwrap();
        // Unpacking through the symlink lands inside the root.
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.join("in")).unwrap();
        unpack(&root, "/escape/in", &tar[..]).unwrap();
        assert!(root.join("in/data/sub/f").exists());
        assert!(!out.path().join("data").exists());
    }
}
