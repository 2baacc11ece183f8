//! Unpacking a layer tar into a directory, safely and in one pass.
//!
//! * Every entry is created through the fd of its parent directory, which is resolved inside
//!   the layer root with `openat2(RESOLVE_IN_ROOT)`: a symlink in the layer (`a -> /`) cannot
//!   make a later entry (`a/etc/passwd`) land outside, and nothing is ever opened by a path
//!   string the archive could race.
//! * Names with `..` components and absolute names are refused; hardlink targets must resolve
//!   inside the root; GNU long names and PAX records are read with caps, so a hostile header
//!   cannot make berth allocate gigabytes.
//! * Whiteouts (`.wh.<name>`, `.wh..wh..opq`) become overlayfs whiteouts (a 0:0 character
//!   device, the `trusted.overlay.opaque` xattr).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, mkdirat, mknodat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchownat};

use crate::error::{ImageError, Result};

/// Longest GNU long name/link we accept.
const MAX_LONG_NAME: u64 = 64 * 1024;
/// Largest PAX extended header we accept.
const MAX_PAX: u64 = 1024 * 1024;

/// What an unpack produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub entries: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
}

fn unsafe_entry(path: &[u8], why: &'static str) -> ImageError {
    ImageError::UnsafeEntry {
        entry: String::from_utf8_lossy(path).into_owned(),
        why,
    }
}

/// Validates and normalises an entry name: relative, no `..`, `./` prefixes dropped.
pub(crate) fn clean_name(raw: &[u8]) -> Result<PathBuf> {
    let p = Path::new(OsStr::from_bytes(raw));
    if p.is_absolute() {
        return Err(unsafe_entry(raw, "is an absolute path"));
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_entry(raw, "has a `..` component")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_entry(raw, "is an absolute path"));
            }
        }
    }
    Ok(out)
}

fn read_capped<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    cap: u64,
    what: &'static str,
) -> Result<Vec<u8>> {
    let size = entry.header().entry_size().unwrap_or(u64::MAX);
    if size > cap {
        return Err(ImageError::invalid(
            "layer",
            format!("{what} of {size} bytes exceeds the limit of {cap}"),
        ));
    }
    let mut v = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry
        .take(cap)
        .read_to_end(&mut v)
        .map_err(ImageError::stream("reading a tar header extension"))?;
    while v.last() == Some(&0) {
        v.pop();
    }
    Ok(v)
}

/// PAX records (`<len> <key>=<value>\n`).
fn parse_pax(data: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| ImageError::invalid("layer", "malformed PAX record"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|l| *l > sp && *l <= rest.len())
            .ok_or_else(|| ImageError::invalid("layer", "malformed PAX record length"))?;
        let record = &rest[sp + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.insert(
                String::from_utf8_lossy(&record[..eq]).into_owned(),
                record[eq + 1..].to_vec(),
            );
        }
        rest = &rest[len..];
    }
    Ok(out)
}

/// An entry as the unpacker sees it, extensions applied.
struct Item {
    path: PathBuf,
    link: Option<Vec<u8>>,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Unpacks the (uncompressed) tar `reader` into the layer directory `root`.
pub fn unpack<R: Read>(reader: R, root: &Path) -> Result<UnpackStats> {
    let root_fd: OwnedFd = std::fs::File::open(root)
        .map_err(ImageError::io("opening", root))?
        .into();
    unpack_into(reader, root_fd.as_fd(), true)
}

/// Unpacks into the directory `root_fd`; with `whiteouts`, `.wh.` entries are overlay
/// whiteouts (layers), otherwise ordinary files (`docker cp`).
pub fn unpack_into<R: Read>(
    reader: R,
    root_fd: BorrowedFd<'_>,
    whiteouts: bool,
) -> Result<UnpackStats> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(ImageError::stream("reading the layer"))?
        .raw(true);
    let mut stats = UnpackStats::default();
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut pax: Option<BTreeMap<String, Vec<u8>>> = None;
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(ImageError::stream("reading a layer entry"))?;
        let et = entry.header().entry_type();
        if et.is_gnu_longname() {
            long_name = Some(read_capped(&mut entry, MAX_LONG_NAME, "a GNU long name")?);
            continue;
        }
        if et.is_gnu_longlink() {
            long_link = Some(read_capped(&mut entry, MAX_LONG_NAME, "a GNU long link")?);
            continue;
        }
        if et.is_pax_local_extensions() {
            pax = Some(parse_pax(&read_capped(
                &mut entry,
                MAX_PAX,
                "a PAX header",
            )?)?);
            continue;
        }
        if et.is_pax_global_extensions() {
            read_capped(&mut entry, MAX_PAX, "a PAX global header")?;
            continue;
        }
        let ext = pax.take().unwrap_or_default();
        let raw_path = ext
            .get("path")
            .cloned()
            .or_else(|| long_name.take())
            .unwrap_or_else(|| entry.header().path_bytes().into_owned());
        long_name = None;
        let link = ext
            .get("linkpath")
            .cloned()
            .or_else(|| long_link.take())
            .or_else(|| entry.header().link_name_bytes().map(|l| l.into_owned()));
        long_link = None;
        let xattrs = ext
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("SCHILY.xattr.")
                    .map(|n| (n.to_owned(), v.clone()))
            })
            .collect();
        let path = clean_name(&raw_path)?;
        if path.as_os_str().is_empty() {
            continue; // the root itself ("./")
        }
        let item = Item { path, link, xattrs };
        let mtime = entry.header().mtime().unwrap_or(0);
        let is_dir = et.is_dir();
        stats.bytes += apply(root_fd, &item, &mut entry, whiteouts)?;
        stats.entries += 1;
        if is_dir {
            dir_times.push((item.path.clone(), mtime));
        }
    }
    // Directory times last: creating their content changed them.
    for (path, mtime) in dir_times.into_iter().rev() {
        set_times(root_fd, &path, mtime);
    }
    Ok(stats)
}

fn errno(what: impl Into<String>, path: &Path) -> impl FnOnce(Errno) -> ImageError + '_ {
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

/// The fd of `path`'s parent inside `root` (created as needed) and `path`'s last component.
fn parent_of<'p>(root: BorrowedFd<'_>, path: &'p Path) -> Result<(OwnedFd, &'p OsStr)> {
    let name = path
        .file_name()
        .ok_or_else(|| unsafe_entry(path.as_os_str().as_bytes(), "has no name"))?;
    let parent = path.parent().unwrap_or(Path::new(""));
    let fd = berth_fsutil::mkdir_all_in_root(root, parent, Mode::from_bits_truncate(0o755))
        .map_err(errno("creating parent directory", parent))?;
    Ok((fd, name))
}

/// Removes whatever is at `name` in `dir` (a file, a link, or a whole directory).
fn clear(dir: BorrowedFd<'_>, name: &OsStr, keep_dir: bool) -> Result<()> {
    match nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(ImageError::Io {
            what: "inspecting".into(),
            path: name.into(),
            source: e.into(),
        }),
        Ok(st)
            if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR =>
        {
            if keep_dir {
                return Ok(());
            }
            // std's remove_dir_all never follows symlinks inside the tree.
            let p = berth_fsutil::fd_path(dir).join(name);
            std::fs::remove_dir_all(&p).map_err(ImageError::io("removing", name))
        }
        Ok(_) => {
            nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir).map_err(|e| {
                ImageError::Io {
                    what: "removing".into(),
                    path: name.into(),
                    source: e.into(),
                }
            })
        }
    }
}

fn apply<R: Read>(
    root: BorrowedFd<'_>,
    item: &Item,
    entry: &mut tar::Entry<'_, R>,
    whiteouts: bool,
) -> Result<u64> {
    let name_str = item
        .path
        .file_name()
        .map(|n| n.as_bytes())
        .unwrap_or_default();
    if let Some(hidden) = name_str.strip_prefix(b".wh.").filter(|_| whiteouts) {
        return whiteout(root, &item.path, hidden).map(|()| 0);
    }
    let h = entry.header().clone();
    let (dir, name) = parent_of(root, &item.path)?;
    let et = h.entry_type();
    let mode = Mode::from_bits_truncate(h.mode().unwrap_or(0o644) & 0o7777);
    let (uid, gid) = (h.uid().unwrap_or(0), h.gid().unwrap_or(0));
    let owner = |follow: AtFlags| {
        fchownat(
            dir.as_fd(),
            name,
            Some(Uid::from_raw(u32::try_from(uid).unwrap_or(0))),
            Some(Gid::from_raw(u32::try_from(gid).unwrap_or(0))),
            follow,
        )
        .map_err(errno("chown of", &item.path))
    };
    let mut written = 0;
    if et.is_dir() {
        clear(dir.as_fd(), name, true)?;
        match mkdirat(dir.as_fd(), name, mode) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(errno("creating directory", &item.path)(e)),
        }
        owner(AtFlags::AT_SYMLINK_NOFOLLOW)?;
        nix::sys::stat::fchmodat(
            dir.as_fd(),
            name,
            mode,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(errno("chmod of", &item.path))?;
    } else if et.is_file() || et == tar::EntryType::Continuous {
        clear(dir.as_fd(), name, false)?;
        let fd = openat(
            dir.as_fd(),
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(errno("creating", &item.path))?;
        let mut f = std::fs::File::from(fd);
        written = io::copy(entry, &mut f).map_err(ImageError::stream(format!(
            "writing {}",
            item.path.display()
        )))?;
        nix::unistd::fchown(
            &f,
            Some(Uid::from_raw(u32::try_from(uid).unwrap_or(0))),
            Some(Gid::from_raw(u32::try_from(gid).unwrap_or(0))),
        )
        .map_err(errno("chown of", &item.path))?;
        nix::sys::stat::fchmod(&f, mode).map_err(errno("chmod of", &item.path))?;
        set_xattrs(f.as_fd(), item)?;
    } else if et.is_symlink() {
        clear(dir.as_fd(), name, false)?;
        let target = item.link.clone().ok_or_else(|| {
            unsafe_entry(
                item.path.as_os_str().as_bytes(),
                "is a symlink without a target",
            )
        })?;
        nix::unistd::symlinkat(OsStr::from_bytes(&target), dir.as_fd(), name)
            .map_err(errno("creating symlink", &item.path))?;
        owner(AtFlags::AT_SYMLINK_NOFOLLOW)?;
    } else if et.is_hard_link() {
        hardlink(root, dir.as_fd(), name, item)?;
    } else if et.is_character_special() || et.is_block_special() || et.is_fifo() {
        clear(dir.as_fd(), name, false)?;
        let kind = if et.is_fifo() {
            SFlag::S_IFIFO
        } else if et.is_block_special() {
            SFlag::S_IFBLK
        } else {
            SFlag::S_IFCHR
        };
        let dev = nix::sys::stat::makedev(
            u64::from(h.device_major().ok().flatten().unwrap_or(0)),
            u64::from(h.device_minor().ok().flatten().unwrap_or(0)),
        );
        mknodat(dir.as_fd(), name, kind, mode, dev)
            .map_err(errno("creating device node", &item.path))?;
        owner(AtFlags::AT_SYMLINK_NOFOLLOW)?;
    } else {
        return Err(unsafe_entry(
            item.path.as_os_str().as_bytes(),
            "has an unsupported entry type",
        ));
    }
    if !et.is_dir() {
        set_times_at(dir.as_fd(), name, h.mtime().unwrap_or(0));
    }
    Ok(written)
}

fn hardlink(root: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &OsStr, item: &Item) -> Result<()> {
    let raw = item.link.clone().ok_or_else(|| {
        unsafe_entry(
            item.path.as_os_str().as_bytes(),
            "is a hardlink without a target",
        )
    })?;
    let target = clean_name(&raw)?;
    let tfd = berth_fsutil::open_in_root(root, &target, OFlag::O_PATH | OFlag::O_NOFOLLOW)
        .map_err(|_| {
            unsafe_entry(
                &raw,
                "is a hardlink target that does not exist inside the layer",
            )
        })?;
    let st = nix::sys::stat::fstat(&tfd).map_err(errno("inspecting hardlink target", &target))?;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR {
        return Err(unsafe_entry(&raw, "is a hardlink to a directory"));
    }
    clear(dir, name, false)?;
    nix::unistd::linkat(tfd.as_fd(), "", dir, name, AtFlags::AT_EMPTY_PATH)
        .map_err(errno("creating hardlink", &item.path))
}

/// `.wh.<name>` deletes `<name>` from lower layers; `.wh..wh..opq` hides a directory's lower
/// content.
fn whiteout(root: BorrowedFd<'_>, path: &Path, hidden: &[u8]) -> Result<()> {
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

fn set_xattrs(fd: BorrowedFd<'_>, item: &Item) -> Result<()> {
    for (k, v) in &item.xattrs {
        // Security xattrs other than capabilities are not carried into layers.
        if k.starts_with("security.") && k != "security.capability" {
            continue;
        }
        rustix::fs::fsetxattr(fd, k.as_str(), v, rustix::fs::XattrFlags::empty()).map_err(|e| {
            ImageError::Io {
                what: format!("setting xattr {k} on"),
                path: item.path.clone(),
                source: e.into(),
            }
        })?;
    }
    Ok(())
}

fn timespec(mtime: u64) -> TimeSpec {
    TimeSpec::new(i64::try_from(mtime).unwrap_or(0), 0)
}

fn set_times_at(dir: BorrowedFd<'_>, name: &OsStr, mtime: u64) {
    let t = timespec(mtime);
    let _ = nix::sys::stat::utimensat(
        dir,
        name,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
}

fn set_times(root: BorrowedFd<'_>, path: &Path, mtime: u64) {
    if let (Some(parent), Some(name)) = (path.parent(), path.file_name())
        && let Ok(dir) =
            berth_fsutil::open_in_root(root, parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
    {
        set_times_at(dir.as_fd(), name, mtime);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_path(path)
            .unwrap_or_else(|_| h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes()));
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o755);
        h.set_cksum();
        h
    }

    /// Writes a header with a raw name (the tar crate refuses `..` in set_path).
    fn raw_header(name: &[u8], kind: tar::EntryType, link: Option<&[u8]>) -> tar::Header {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        if let Some(l) = link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
        }
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    #[test]
    fn unpacks_files_dirs_links_and_whiteouts() {
        let data = tar_of(|b| {
            b.append(&header("etc/", tar::EntryType::Directory, 0), &b""[..])
                .unwrap();
            b.append(
                &header("etc/hosts", tar::EntryType::Regular, 5),
                &b"hello"[..],
            )
            .unwrap();
            b.append(
                &raw_header(b"etc/link", tar::EntryType::Symlink, Some(b"/etc/hosts")),
                &b""[..],
            )
            .unwrap();
            b.append(
                &raw_header(b"etc/hard", tar::EntryType::Link, Some(b"etc/hosts")),
                &b""[..],
            )
            .unwrap();
            b.append(
                &header("etc/.wh.gone", tar::EntryType::Regular, 0),
                &b""[..],
            )
            .unwrap();
            b.append(
                &header("var/.wh..wh..opq", tar::EntryType::Regular, 0),
                &b""[..],
            )
            .unwrap();
        });
        let d = tempfile::tempdir().unwrap();
        let s = unpack(&data[..], d.path()).unwrap();
        assert_eq!(s.bytes, 5);
        assert_eq!(
            std::fs::read_to_string(d.path().join("etc/hosts")).unwrap(),
            "hello"
        );
        assert_eq!(
            std::fs::read_link(d.path().join("etc/link")).unwrap(),
            Path::new("/etc/hosts")
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("etc/hard")).unwrap(),
            "hello"
        );
        let wh = std::fs::symlink_metadata(d.path().join("etc/gone")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(
            &wh.file_type()
        ));
        let opaque = rustix::fs::getxattr(
            d.path().join("var"),
            "trusted.overlay.opaque",
            &mut [0u8; 8],
        )
        .unwrap();
        assert_eq!(opaque, 1);
    }

    #[test]
    fn refuses_escapes() {
        let outside = tempfile::tempdir().unwrap();
        let cases: Vec<Vec<u8>> = vec![
            tar_of(|b| {
                b.append(
                    &raw_header(b"../evil", tar::EntryType::Regular, None),
                    &b""[..],
                )
                .unwrap();
            }),
            tar_of(|b| {
                b.append(
                    &raw_header(b"/abs", tar::EntryType::Regular, None),
                    &b""[..],
                )
                .unwrap();
            }),
            tar_of(|b| {
                b.append(
                    &raw_header(b"h", tar::EntryType::Link, Some(b"../../etc/passwd")),
                    &b""[..],
                )
                .unwrap();
            }),
            tar_of(|b| {
                b.append(
                    &raw_header(b"h", tar::EntryType::Link, Some(b"nope")),
                    &b""[..],
                )
                .unwrap();
            }),
        ];
        for (i, data) in cases.iter().enumerate() {
            let d = tempfile::tempdir().unwrap();
            assert!(unpack(&data[..], d.path()).is_err(), "case {i}");
        }
        // A symlink to the outside, then a file through it: lands inside the root.
        let target = outside.path().to_str().unwrap().as_bytes().to_vec();
        let data = tar_of(|b| {
            b.append(
                &raw_header(b"esc", tar::EntryType::Symlink, Some(&target)),
                &b""[..],
            )
            .unwrap();
            b.append(&header("esc/pwned", tar::EntryType::Regular, 1), &b"x"[..])
                .unwrap();
        });
        let d = tempfile::tempdir().unwrap();
        unpack(&data[..], d.path()).unwrap();
        assert!(
            !outside.path().join("pwned").exists(),
            "nothing written outside"
        );
        assert!(
            d.path()
                .join(outside.path().strip_prefix("/").unwrap())
                .join("pwned")
                .exists()
        );
    }

    #[test]
    fn caps_long_names_and_rejects_garbage() {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(10 << 20);
        h.set_cksum();
        let mut data = h.as_bytes().to_vec();
        data.extend(std::iter::repeat_n(b'a', 4096));
        let d = tempfile::tempdir().unwrap();
        assert!(unpack(&data[..], d.path()).is_err());
        assert!(
            unpack(&b"this is not a tar archive at all........"[..], d.path()).is_err()
                || std::fs::read_dir(d.path()).unwrap().count() == 0
        );
        assert_eq!(clean_name(b"./a/./b").unwrap(), PathBuf::from("a/b"));
    }
}
