//! The build context as the daemon receives it: one pass over the uploaded tar, which is
//! decompressed, checked (no absolute names, no `..`, hardlinks only to earlier entries,
//! capped long names and PAX records), hashed per entry as Docker's `tarsum` v1 does (so cache
//! keys and `COPY file:<sum>` history match dockerd's), and spooled to one private file.
//! Only the metadata stays in memory; file contents are read back from the spool by offset
//! when a COPY misses the cache.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::error::{BuildError, Result};
use crate::ignore::Ignore;

/// Longest GNU long name / link and largest PAX header accepted.
const MAX_LONG_NAME: u64 = 64 * 1024;
const MAX_PAX: u64 = 1024 * 1024;
/// Entries in one context (metadata is held in memory).
const MAX_ENTRIES: usize = 2_000_000;
/// Symlinks followed while resolving one path (Docker's limit).
const MAX_LINKS: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
    /// A hard link to another entry (its cleaned path).
    Hardlink(String),
    /// A device, fifo or other special file (kept for metadata only).
    Other(u8),
}

/// One entry of the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: u64,
    /// Where the content starts in the spool.
    pub offset: u64,
    /// tarsum v1 of the entry (header fields Docker counts, then content).
    pub sum: String,
    /// A directory no tar header named (its parent of some entry).
    pub implicit: bool,
}

/// A received context.
#[derive(Debug)]
pub struct Context {
    spool: PathBuf,
    file: File,
    entries: BTreeMap<String, Entry>,
    /// Bytes received (compressed as sent).
    pub size: u64,
}

impl Drop for Context {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.spool);
    }
}

fn bad(msg: impl Into<String>) -> BuildError {
    BuildError::Context(msg.into())
}

/// Counts what passes (the context size Docker reports).
struct Counting<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// Validates and normalises an entry name: relative, no `..`; `./a/` → `a`, `./` → `.`.
fn clean_name(raw: &[u8]) -> Result<String> {
    let s = String::from_utf8_lossy(raw);
    if s.starts_with('/') {
        return Err(bad(format!(
            "invalid context entry {s:?}: absolute paths are not allowed"
        )));
    }
    let mut parts = Vec::new();
    for p in s.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                return Err(bad(format!(
                    "invalid context entry {s:?}: a `..` component would escape the context"
                )));
            }
            p => parts.push(p),
        }
    }
    Ok(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

fn read_capped<R: Read>(r: &mut R, size: u64, cap: u64, what: &str) -> Result<Vec<u8>> {
    if size > cap {
        return Err(bad(format!(
            "{what} of {size} bytes exceeds the limit of {cap}"
        )));
    }
    let mut v = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    r.take(size)
        .read_to_end(&mut v)
        .map_err(|e| bad(format!("reading the build context: {e}")))?;
    Ok(v)
}

fn trim_nul(v: &[u8]) -> &[u8] {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    &v[..end]
}

/// What PAX and GNU headers say about the next entry.
#[derive(Default)]
struct Pending {
    name: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    xattrs: Vec<(String, String)>,
}

fn parse_pax(data: &[u8], p: &mut Pending) {
    let mut rest = data;
    while !rest.is_empty() {
        let Some(sp) = rest.iter().position(|b| *b == b' ') else {
            break;
        };
        let Ok(len) = std::str::from_utf8(&rest[..sp])
            .unwrap_or("")
            .parse::<usize>()
        else {
            break;
        };
        if len <= sp || len > rest.len() {
            break;
        }
        let record = &rest[sp + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|b| *b == b'=') {
            let (k, v) = (&record[..eq], &record[eq + 1..]);
            match k {
                b"path" => p.name = Some(v.to_vec()),
                b"linkpath" => p.link = Some(v.to_vec()),
                _ => {
                    if let Some(x) = k.strip_prefix(b"SCHILY.xattr.") {
                        p.xattrs.push((
                            String::from_utf8_lossy(x).into_owned(),
                            String::from_utf8_lossy(v).into_owned(),
                        ));
                    }
                }
            }
        }
        rest = &rest[len..];
    }
}

/// Copies a file entry's content to the spool, hashing it; returns its size.
fn spool_content(
    entry: &mut impl Read,
    h: &mut Sha256,
    out: &mut impl Write,
    spool: &Path,
) -> Result<u64> {
    let mut buf = [0u8; 64 * 1024];
    let mut size = 0;
    loop {
        let n = entry
            .read(&mut buf)
            .map_err(|e| bad(format!("reading the build context: {e}")))?;
        if n == 0 {
            return Ok(size);
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(BuildError::io("writing", spool))?;
        size += n as u64;
    }
}

/// tarsum v1's header part (uname and gname blanked, as Docker's `encodeHeader` does).
fn tarsum_header(
    h: &mut Sha256,
    name: &[u8],
    hdr: &tar::Header,
    typeflag: u8,
    link: &[u8],
    xattrs: &[(String, String)],
) {
    let num = |v: io::Result<u64>| v.unwrap_or(0).to_string();
    // Only the permission bits: the docker CLI and berth's packer differ in whether the mode
    // carries the file-type bits (which the type flag already says), and an unchanged
    // context must hit the cache whichever client sent it. Equal to dockerd's sums for tars
    // without type bits (GNU tar's, the sample below).
    let mode = hdr.mode().unwrap_or(0) & 0o7777;
    let dev = |v: io::Result<Option<u32>>| v.ok().flatten().unwrap_or(0).to_string();
    let size = if typeflag == b'0' {
        num(hdr.size())
    } else {
        hdr.size().unwrap_or(0).to_string()
    };
    h.update(b"name");
    h.update(name);
    h.update(
        format!(
            "mode{mode}uid{}gid{}size{size}typeflag",
            num(hdr.uid()),
            num(hdr.gid())
        )
        .as_bytes(),
    );
    h.update([typeflag]);
    h.update(b"linkname");
    h.update(link);
    h.update(
        format!(
            "unamegnamedevmajor{}devminor{}",
            dev(hdr.device_major()),
            dev(hdr.device_minor())
        )
        .as_bytes(),
    );
    let mut xs = xattrs.to_vec();
    xs.sort();
    for (k, v) in xs {
        h.update(k.as_bytes());
        h.update(v.as_bytes());
    }
}

impl Context {
    /// Reads a context tar (plain or gzip) into a spool file at `spool`.
    pub fn receive<R: Read>(input: R, spool: &Path) -> Result<Self> {
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(spool)
            .map_err(BuildError::io("creating the context spool", spool))?;
        let mut ctx = Self {
            spool: spool.to_owned(),
            file,
            entries: BTreeMap::new(),
            size: 0,
        };
        let mut counting = BufReader::with_capacity(256 * 1024, Counting { inner: input, n: 0 });
        let head = counting
            .fill_buf()
            .map_err(|e| bad(format!("reading the build context: {e}")))?;
        let gz = head.starts_with(&[0x1f, 0x8b]);
        let empty = head.is_empty();
        if !empty {
            let reader: Box<dyn Read + '_> = if gz {
                Box::new(flate2::bufread::MultiGzDecoder::new(&mut counting))
            } else {
                Box::new(&mut counting)
            };
            ctx.read_tar(reader)?;
        }
        // The root is there even when no header names it (the docker CLI sends no `./`).
        ctx.entries.entry(".".to_owned()).or_insert_with(|| Entry {
            kind: Kind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            offset: 0,
            sum: ".".to_owned(),
            implicit: true,
        });
        ctx.size = counting.get_ref().n;
        Ok(ctx)
    }

    fn read_tar(&mut self, reader: Box<dyn Read + '_>) -> Result<()> {
        let mut out = BufWriter::with_capacity(
            256 * 1024,
            self.file
                .try_clone()
                .map_err(BuildError::io("opening", &self.spool))?,
        );
        let mut offset = 0u64;
        let mut archive = tar::Archive::new(reader);
        let mut entries = archive
            .entries()
            .map_err(|e| bad(format!("reading the build context: {e}")))?;
        entries = entries.raw(true);
        let mut pending = Pending::default();
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(format!("reading the build context: {e}")))?;
            let hdr = entry.header().clone();
            let size = hdr.entry_size().unwrap_or(0);
            let t = hdr.entry_type().as_byte();
            match t {
                b'L' => {
                    pending.name = Some(
                        trim_nul(&read_capped(
                            &mut entry,
                            size,
                            MAX_LONG_NAME,
                            "a long name",
                        )?)
                        .to_vec(),
                    );
                    continue;
                }
                b'K' => {
                    pending.link = Some(
                        trim_nul(&read_capped(
                            &mut entry,
                            size,
                            MAX_LONG_NAME,
                            "a long link",
                        )?)
                        .to_vec(),
                    );
                    continue;
                }
                b'x' => {
                    let data = read_capped(&mut entry, size, MAX_PAX, "a PAX header")?;
                    parse_pax(&data, &mut pending);
                    continue;
                }
                b'g' => continue,
                _ => {}
            }
            let p = std::mem::take(&mut pending);
            let raw_name = p.name.unwrap_or_else(|| entry.path_bytes().into_owned());
            let raw_link = p.link.unwrap_or_else(|| {
                entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default()
            });
            let typeflag = if t == 0 {
                if raw_name.ends_with(b"/") { b'5' } else { b'0' }
            } else {
                t
            };
            let name = clean_name(&raw_name)?;
            let mut h = Sha256::new();
            tarsum_header(&mut h, &raw_name, &hdr, typeflag, &raw_link, &p.xattrs);
            let kind = self.kind_of(typeflag, &name, &raw_link)?;
            let start = offset;
            let mut data_size = 0;
            if kind == Kind::File {
                data_size = spool_content(&mut entry, &mut h, &mut out, &self.spool)?;
                offset += data_size;
            }
            if self.entries.len() >= MAX_ENTRIES {
                return Err(bad(format!(
                    "the build context has more than {MAX_ENTRIES} entries"
                )));
            }
            self.add_parents(&name);
            let e = Entry {
                kind,
                mode: hdr.mode().unwrap_or(0o644) & 0o7777,
                uid: hdr.uid().unwrap_or(0),
                gid: hdr.gid().unwrap_or(0),
                size: data_size,
                mtime: hdr.mtime().unwrap_or(0),
                offset: start,
                sum: hex::encode(h.finalize()),
                implicit: false,
            };
            self.entries.insert(name, e);
        }
        out.flush()
            .map_err(BuildError::io("writing", &self.spool))?;
        Ok(())
    }

    /// What an entry is, by its type flag; a hard link must name an earlier file.
    fn kind_of(&self, typeflag: u8, name: &str, raw_link: &[u8]) -> Result<Kind> {
        Ok(match typeflag {
            b'0' | b'7' => Kind::File,
            b'5' => Kind::Dir,
            b'2' => Kind::Symlink(String::from_utf8_lossy(raw_link).into_owned()),
            b'1' => {
                let target = clean_name(raw_link)?;
                if !self
                    .entries
                    .get(&target)
                    .is_some_and(|e| e.kind == Kind::File)
                {
                    return Err(bad(format!(
                        "invalid context entry {name:?}: hard link to {target:?}, which is not an earlier file"
                    )));
                }
                Kind::Hardlink(target)
            }
            other => Kind::Other(other),
        })
    }

    /// Parent directories no header named exist too (as an untar makes them).
    fn add_parents(&mut self, name: &str) {
        let mut p = name;
        while let Some((parent, _)) = p.rsplit_once('/') {
            if self.entries.contains_key(parent) {
                break;
            }
            self.entries.insert(
                parent.to_owned(),
                Entry {
                    kind: Kind::Dir,
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    size: 0,
                    mtime: 0,
                    offset: 0,
                    sum: parent.to_owned(),
                    implicit: true,
                },
            );
            p = parent;
        }
    }

    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops what `ignore` excludes, except `keep` (the Dockerfile and the ignore file,
    /// which Docker reads before it removes them).
    pub fn apply_ignore(&mut self, ignore: &Ignore, keep: &[&str]) {
        if ignore.is_empty() {
            return;
        }
        self.entries.retain(|name, _| {
            name == "." || keep.contains(&name.as_str()) || !ignore.excludes(name)
        });
    }

    /// Removes one entry (Docker drops the Dockerfile and `.dockerignore` when they are
    /// themselves ignored).
    pub fn remove(&mut self, path: &str) {
        self.entries.remove(path);
    }

    /// Resolves `path` inside the context, following symlinks (absolute ones from the
    /// context root; `..` stops at the root), as Docker's `FollowSymlinkInScope` does.
    /// `follow_last` = false leaves a final symlink unresolved.
    pub fn resolve(&self, path: &str, follow_last: bool) -> String {
        let mut todo: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
        let mut cur: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            cur.push(part);
            let joined = cur.join("/");
            let last = todo.iter().all(|p| p.is_empty() || p == ".");
            if let Some(Entry {
                kind: Kind::Symlink(target),
                ..
            }) = self.entries.get(&joined)
            {
                if last && !follow_last {
                    break;
                }
                links += 1;
                if links > MAX_LINKS {
                    break;
                }
                cur.pop();
                if target.starts_with('/') {
                    cur.clear();
                }
                todo.extend(target.split('/').rev().map(str::to_owned));
            }
        }
        if cur.is_empty() {
            ".".into()
        } else {
            cur.join("/")
        }
    }

    /// Docker's `Hash(path)`: the sum of the followed path, or the path itself when the
    /// context has no such entry.
    pub fn hash(&self, path: &str) -> String {
        let resolved = self.resolve(path, true);
        self.entries
            .get(&resolved)
            .map_or_else(|| path.to_owned(), |e| e.sum.clone())
    }

    /// Entries strictly under directory `dir` (`.` for all), in path order.
    pub fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a String, &'a Entry)> + 'a {
        let prefix = if dir == "." {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.entries
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| k.as_str() != ".")
    }

    /// Every path (for wildcard matching).
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }

    /// A reader of a file entry's content.
    pub fn open(&self, path: &str) -> Result<impl Read + '_> {
        let mut e = self.entries.get(path).ok_or_else(|| {
            BuildError::NotFound(format!("{path}: no such file in the build context"))
        })?;
        if let Kind::Hardlink(t) = &e.kind {
            e = self
                .entries
                .get(t)
                .ok_or_else(|| BuildError::NotFound(t.clone()))?;
        }
        let mut f = self
            .file
            .try_clone()
            .map_err(BuildError::io("opening", &self.spool))?;
        f.seek(SeekFrom::Start(e.offset))
            .map_err(BuildError::io("reading", &self.spool))?;
        Ok(BufReader::new(f).take(e.size))
    }

    /// A small file's content (the Dockerfile, an ignore file), at most `cap` bytes.
    pub fn read_small(&self, path: &str, cap: u64) -> Result<Option<Vec<u8>>> {
        let resolved = self.resolve(path, true);
        match self.entries.get(&resolved) {
            Some(e) if matches!(e.kind, Kind::File | Kind::Hardlink(_)) => {
                if e.size > cap {
                    return Err(bad(format!("{path} is larger than {cap} bytes")));
                }
                let mut v = Vec::new();
                self.open(&resolved)?
                    .read_to_end(&mut v)
                    .map_err(BuildError::io("reading", &self.spool))?;
                Ok(Some(v))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar entry with its name written as given (the tar crate would drop `./`).
    fn raw_entry(name: &str, data: &[u8], typ: tar::EntryType, mode: u32) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(typ);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }

    /// The tar GNU tar made of dockerd's test context: a.txt and sub/deep/f.
    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(raw_entry("./", b"", tar::EntryType::Directory, 0o755));
        v.extend(raw_entry("./sub/", b"", tar::EntryType::Directory, 0o755));
        v.extend(raw_entry(
            "./sub/deep/",
            b"",
            tar::EntryType::Directory,
            0o755,
        ));
        v.extend(raw_entry(
            "./sub/deep/f",
            b"x\n",
            tar::EntryType::Regular,
            0o644,
        ));
        v.extend(raw_entry(
            "./a.txt",
            b"hello\n",
            tar::EntryType::Regular,
            0o644,
        ));
        v.extend_from_slice(&[0; 1024]);
        v
    }

    fn receive(data: &[u8]) -> Result<Context> {
        let dir = tempfile::tempdir().unwrap();
        let c = Context::receive(data, &dir.path().join("spool"));
        std::mem::forget(dir);
        c
    }

    #[test]
    fn sums_match_dockerd() {
        let c = receive(&sample()).unwrap();
        // Both values were read from a dockerd 20.10 classic build of the same tar.
        assert_eq!(
            c.hash("a.txt"),
            "d63c9b2d6f48293e460f33e7b0cd78a2a6d5ce56c04e60556f38d2c61f0fc4cf"
        );
        let mut subs: Vec<String> = std::iter::once(c.hash("sub"))
            .chain(c.under("sub").map(|(p, _)| c.hash(p)))
            .collect();
        subs.sort();
        let dir = hex::encode(Sha256::digest(subs.join(",").as_bytes()));
        assert_eq!(
            dir,
            "f9c3ebe9ed54251fac120a2d42a01d13939254ed9799b19d52d1f6c4e747c89e"
        );
        let mut content = String::new();
        c.open("a.txt")
            .unwrap()
            .read_to_string(&mut content)
            .unwrap();
        assert_eq!(content, "hello\n");
        assert_eq!(c.read_small("sub/deep/f", 10).unwrap().unwrap(), b"x\n");
    }

    #[test]
    fn escaping_entries_are_refused() {
        for name in ["../evil", "/etc/passwd", "a/../../b"] {
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`; write the name bytes directly.
            let raw = h.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            let mut data = h.as_bytes().to_vec();
            data.extend_from_slice(&[b'x'; 512]);
            data.extend_from_slice(&[0; 1024]);
            let e = receive(&data).unwrap_err().to_string();
            assert!(
                e.contains("escape") || e.contains("absolute"),
                "{name}: {e}"
            );
        }
    }

    #[test]
    fn symlinks_resolve_inside_the_context() {
        let mut b = tar::Builder::new(Vec::new());
        let mut link = |name: &str, target: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, name, target).unwrap();
        };
        link("up", "../../../etc");
        link("abs", "/a/b");
        link("loop", "loop");
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        b.append_data(&mut h, "a/b", &b"hi"[..]).unwrap();
        let c = receive(&b.into_inner().unwrap()).unwrap();
        assert_eq!(c.resolve("up/passwd", true), "etc/passwd");
        assert!(c.entry("etc/passwd").is_none());
        assert_eq!(c.resolve("abs", true), "a/b");
        assert_eq!(c.resolve("abs", false), "abs");
        let _ = c.resolve("loop/x", true);
    }

    #[test]
    fn ignore_drops_entries_but_keeps_the_dockerfile() {
        let mut c = receive(&sample()).unwrap();
        c.apply_ignore(&Ignore::parse("sub\na.txt\n").unwrap(), &["a.txt"]);
        assert!(c.entry("a.txt").is_some());
        assert!(c.entry("sub/deep/f").is_none());
        assert_eq!(c.under(".").count(), 1);
    }
}
