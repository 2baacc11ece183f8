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
//! * A fresh layer is unpacked by a reader thread and a pool of workers ([`pool`]): the
//!   reader parses the stream and keeps directories, hardlinks and whiteouts in order; the
//!   workers create files, symlinks and devices, whose inode creates are what an unpack
//!   waits on.

mod create;
mod pool;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};

use create::{Meta, errno, unsafe_entry};
use pool::{Node, Pool, Task};

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

/// Unpacks the (uncompressed) tar `reader` into the fresh layer directory `root`, creating
/// leaf entries on a pool of workers.
pub fn unpack<R: Read>(reader: R, root: &Path) -> Result<UnpackStats> {
    let root_fd: OwnedFd = std::fs::File::open(root)
        .map_err(ImageError::io("opening", root))?
        .into();
    run(reader, root_fd.as_fd(), true, pool::WORKERS)
}

/// Unpacks into the directory `root_fd`, which may already hold a tree, on this thread; with
/// `whiteouts`, `.wh.` entries are overlay whiteouts (layers), otherwise ordinary files
/// (`docker cp`).
pub fn unpack_into<R: Read>(
    reader: R,
    root_fd: BorrowedFd<'_>,
    whiteouts: bool,
) -> Result<UnpackStats> {
    run(reader, root_fd, whiteouts, 0)
}

fn run<R: Read>(
    reader: R,
    root: BorrowedFd<'_>,
    whiteouts: bool,
    workers: usize,
) -> Result<UnpackStats> {
    std::thread::scope(|scope| {
        let mut u = Unpacker {
            root,
            whiteouts,
            pool: Pool::start(scope, workers),
            dirs: HashMap::new(),
            stats: UnpackStats::default(),
            dir_times: Vec::new(),
        };
        let read = u.read_all(reader);
        // Every task ends before the result is known, even after an error.
        let synced = u.sync();
        read?;
        synced?;
        // Directory times last: creating their content changed them.
        for (path, mtime) in std::mem::take(&mut u.dir_times).into_iter().rev() {
            set_times(root, &path, mtime);
        }
        Ok(u.stats)
    })
}

/// Parent directories kept open, so consecutive entries of one directory resolve it once.
const DIR_CACHE_MAX: usize = 128;

struct Unpacker<'r> {
    root: BorrowedFd<'r>,
    whiteouts: bool,
    pool: Pool,
    /// Directory fds by their path in the layer; emptied whenever anything is removed, since
    /// a removal can leave a cached fd pointing at a directory no longer at its path.
    dirs: HashMap<PathBuf, Arc<OwnedFd>>,
    stats: UnpackStats,
    dir_times: Vec<(PathBuf, u64)>,
}

impl Unpacker<'_> {
    fn read_all<R: Read>(&mut self, reader: R) -> Result<()> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(ImageError::stream("reading the layer"))?
            .raw(true);
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Option<BTreeMap<String, Vec<u8>>> = None;
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
            self.apply(Item { path, link, xattrs }, &mut entry)?;
            self.stats.entries += 1;
        }
        Ok(())
    }

    /// Waits for the workers, forgetting cached directories if they removed anything.
    fn sync(&mut self) -> Result<()> {
        if self.pool.sync()? {
            self.dirs.clear();
        }
        Ok(())
    }

    fn removed(&mut self, removed: bool) {
        if removed {
            self.dirs.clear();
        }
    }

    /// The fd of `path`'s parent inside the root (created as needed).
    fn parent(&mut self, path: &Path) -> Result<Arc<OwnedFd>> {
        let parent = path.parent().unwrap_or(Path::new(""));
        if let Some(fd) = self.dirs.get(parent) {
            return Ok(Arc::clone(fd));
        }
        let fd =
            berth_fsutil::mkdir_all_in_root(self.root, parent, Mode::from_bits_truncate(0o755))
                .map_err(errno("creating parent directory", parent))?;
        if self.dirs.len() >= DIR_CACHE_MAX {
            self.dirs.clear();
        }
        let fd = Arc::new(fd);
        self.dirs.insert(parent.to_path_buf(), Arc::clone(&fd));
        Ok(fd)
    }

    fn apply<R: Read>(&mut self, item: Item, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        if self.pool.is_pending(&item.path) {
            self.sync()?;
        }
        let Some(name) = item.path.file_name().map(OsStr::to_os_string) else {
            return Err(unsafe_entry(
                item.path.as_os_str().as_bytes(),
                "has no name",
            ));
        };
        if let Some(hidden) = name
            .as_bytes()
            .strip_prefix(b".wh.")
            .filter(|_| self.whiteouts)
        {
            // A whiteout removes what earlier entries may still be creating.
            self.sync()?;
            create::whiteout(self.root, &item.path, hidden)?;
            self.dirs.clear();
            return Ok(());
        }
        let h = entry.header();
        let et = h.entry_type();
        let meta = Meta {
            mode: Mode::from_bits_truncate(h.mode().unwrap_or(0o644) & 0o7777),
            uid: h
                .uid()
                .ok()
                .and_then(|u| u32::try_from(u).ok())
                .unwrap_or(0),
            gid: h
                .gid()
                .ok()
                .and_then(|g| u32::try_from(g).ok())
                .unwrap_or(0),
            mtime: h.mtime().unwrap_or(0),
            xattrs: item.xattrs,
        };
        let dev = nix::sys::stat::makedev(
            u64::from(h.device_major().ok().flatten().unwrap_or(0)),
            u64::from(h.device_minor().ok().flatten().unwrap_or(0)),
        );
        let path = item.path;
        let dir = self.parent(&path)?;
        let node = if et.is_dir() {
            let removed = create::directory(dir.as_fd(), &name, &path, &meta)?;
            self.removed(removed);
            self.dir_times.push((path, meta.mtime));
            return Ok(());
        } else if et.is_hard_link() {
            let raw = item.link.ok_or_else(|| {
                unsafe_entry(
                    path.as_os_str().as_bytes(),
                    "is a hardlink without a target",
                )
            })?;
            let target = clean_name(&raw)?;
            if self.pool.is_pending(&target) {
                self.sync()?;
            }
            let removed = create::hardlink(self.root, dir.as_fd(), &name, &path, &raw, &target)?;
            self.removed(removed);
            return Ok(());
        } else if et.is_file() || et == tar::EntryType::Continuous {
            let size = entry.size();
            if !self.pool.parallel() || size > pool::INLINE_ABOVE {
                let (written, removed) = create::file(dir.as_fd(), &name, &path, &meta, |f| {
                    create::copy_large(entry, f)
                })?;
                self.stats.bytes += written;
                self.removed(removed);
                return Ok(());
            }
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            entry
                .read_to_end(&mut data)
                .map_err(ImageError::stream(format!("reading {}", path.display())))?;
            self.stats.bytes += data.len() as u64;
            Node::File(data)
        } else if et.is_symlink() {
            Node::Symlink(item.link.ok_or_else(|| {
                unsafe_entry(path.as_os_str().as_bytes(), "is a symlink without a target")
            })?)
        } else if et.is_character_special() || et.is_block_special() || et.is_fifo() {
            let kind = if et.is_fifo() {
                SFlag::S_IFIFO
            } else if et.is_block_special() {
                SFlag::S_IFBLK
            } else {
                SFlag::S_IFCHR
            };
            Node::Device { kind, dev }
        } else {
            return Err(unsafe_entry(
                path.as_os_str().as_bytes(),
                "has an unsupported entry type",
            ));
        };
        let removed = self.pool.submit(Task {
            dir,
            name,
            path,
            meta,
            node,
        })?;
        self.removed(removed);
        Ok(())
    }
}

fn set_times(root: BorrowedFd<'_>, path: &Path, mtime: u64) {
    if let (Some(parent), Some(name)) = (path.parent(), path.file_name())
        && let Ok(dir) =
            berth_fsutil::open_in_root(root, parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
    {
        create::set_times_at(dir.as_fd(), name, mtime);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

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

    /// A sorted listing of a tree: path, kind, mode, owner, mtime, content or target.
    fn snapshot(root: &Path) -> Vec<String> {
        use std::os::unix::fs::MetadataExt;
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                let m = std::fs::symlink_metadata(&p).unwrap();
                let what = if m.is_dir() {
                    stack.push(p.clone());
                    "dir".to_owned()
                } else if m.file_type().is_symlink() {
                    format!("-> {}", std::fs::read_link(&p).unwrap().display())
                } else {
                    format!(
                        "{} bytes {:?}",
                        m.len(),
                        Digest::of(&std::fs::read(&p).unwrap())
                    )
                };
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                let mtime = if m.file_type().is_symlink() {
                    0
                } else {
                    m.mtime()
                };
                out.push(format!(
                    "{rel} {what} {:o} {}:{} {mtime} links={}",
                    m.mode(),
                    m.uid(),
                    m.gid(),
                    if m.is_dir() { 0 } else { m.nlink() }
                ));
            }
        }
        out.sort();
        out
    }

    /// Workers make exactly the tree one thread makes, whatever order constraints the
    /// archive holds: duplicate names, files through a symlink just made, hardlinks to files
    /// still being written, a file replaced by a directory and the reverse, big files.
    #[test]
    fn workers_build_what_one_thread_builds() {
        let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, body: &[u8], mtime: u64| {
            let mut h = header(path, tar::EntryType::Regular, body.len() as u64);
            h.set_mtime(mtime);
            h.set_mode(0o640);
            h.set_cksum();
            b.append(&h, body).unwrap();
        };
        let data = tar_of(|b| {
            for d in 0..5 {
                let mut h = header(&format!("d{d}/"), tar::EntryType::Directory, 0);
                h.set_mtime(1000 + d);
                h.set_cksum();
                b.append(&h, &b""[..]).unwrap();
            }
            for i in 0..400u64 {
                file(
                    b,
                    &format!("d{}/f{i}", i % 5),
                    format!("file {i}").as_bytes(),
                    i,
                );
            }
            file(b, "d0/f0", b"the second d0/f0 wins", 7);
            b.append(
                &raw_header(b"s", tar::EntryType::Symlink, Some(b"d1")),
                &b""[..],
            )
            .unwrap();
            file(b, "s/through", b"via the link", 8);
            b.append(
                &raw_header(b"d2/h", tar::EntryType::Link, Some(b"d2/f2")),
                &b""[..],
            )
            .unwrap();
            file(b, "d3/f3x", b"soon a directory", 9);
            b.append(&header("d3/f3x/", tar::EntryType::Directory, 0), &b""[..])
                .unwrap();
            file(b, "d3/f3x/inner", b"inside", 10);
            b.append(
                &raw_header(b"d4/f4", tar::EntryType::Symlink, Some(b"f9")),
                &b""[..],
            )
            .unwrap();
            b.append(
                &raw_header(b"s", tar::EntryType::Symlink, Some(b"d2")),
                &b""[..],
            )
            .unwrap();
            file(b, "s/again", b"now via d2", 11);
            let big = vec![7u8; usize::try_from(pool::INLINE_ABOVE).unwrap() * 3];
            file(b, "d0/big", &big, 12);
            file(b, "d0/f5", b"after the big one", 13);
        });
        let one = tempfile::tempdir().unwrap();
        let many = tempfile::tempdir().unwrap();
        let open = |p: &Path| -> OwnedFd { std::fs::File::open(p).unwrap().into() };
        let s1 = run(&data[..], open(one.path()).as_fd(), true, 0).unwrap();
        let s2 = run(&data[..], open(many.path()).as_fd(), true, pool::WORKERS).unwrap();
        assert_eq!(s1, s2);
        let (a, b) = (snapshot(one.path()), snapshot(many.path()));
        assert!(a.len() > 400, "{}", a.len());
        assert_eq!(a, b);
        assert_eq!(
            std::fs::read_to_string(many.path().join("d0/f0")).unwrap(),
            "the second d0/f0 wins"
        );
        assert_eq!(
            std::fs::read_to_string(many.path().join("d2/again")).unwrap(),
            "now via d2"
        );
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
