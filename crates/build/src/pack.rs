//! The client side of a context: a directory walked in path order, `.dockerignore` applied
//! (so ignored files never reach the daemon), written as a tar with the headers the docker
//! CLI writes (names without `./`, type bits in the mode, owner 0:0), so cache keys match
//! whichever client sent the context.

use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::ignore::Ignore;

/// What was sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Packed {
    pub entries: u64,
    pub bytes: u64,
}

fn header(m: &std::fs::Metadata, typ: tar::EntryType, type_bits: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(typ);
    h.set_mode((m.mode() & 0o7777) | type_bits);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    h.set_mtime(u64::try_from(m.mtime()).unwrap_or(0));
    h
}

/// Writes `dir` as a context tar to `w`; `extra` files (a Dockerfile from elsewhere) are
/// added at the end under their names.
pub fn pack_dir<W: Write>(
    dir: &Path,
    ignore: &Ignore,
    extra: &[(String, Vec<u8>)],
    w: W,
) -> io::Result<(W, Packed)> {
    let mut b = tar::Builder::new(w);
    let mut stats = Packed::default();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    let mut entries_sorted = Vec::new();
    while let Some((d, rel)) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&d)?.flatten().collect();
        names.sort_by_key(std::fs::DirEntry::file_name);
        let mut subdirs = Vec::new();
        for e in names {
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let m = std::fs::symlink_metadata(e.path())?;
            let excluded = ignore.excludes(&r);
            if m.is_dir() {
                if excluded && !ignore.may_reinclude_under(&r) {
                    continue;
                }
                if !excluded {
                    entries_sorted.push((r.clone(), e.path(), m));
                }
                subdirs.push((e.path(), r));
            } else if !excluded {
                entries_sorted.push((r, e.path(), m));
            }
        }
        for s in subdirs.into_iter().rev() {
            stack.push(s);
        }
    }
    entries_sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (rel, path, m) in entries_sorted {
        let ft = m.file_type();
        if ft.is_dir() {
            let mut h = header(&m, tar::EntryType::Directory, 0o40000, 0);
            b.append_data(&mut h, format!("{rel}/"), io::empty())?;
        } else if ft.is_symlink() {
            let mut h = header(&m, tar::EntryType::Symlink, 0o120000, 0);
            let target = std::fs::read_link(&path)?;
            b.append_link(&mut h, &rel, target)?;
        } else if ft.is_file() {
            let mut h = header(&m, tar::EntryType::Regular, 0o100000, m.len());
            let f = std::fs::File::open(&path)?;
            b.append_data(&mut h, &rel, f)?;
            stats.bytes += m.len();
        } else {
            continue;
        }
        stats.entries += 1;
    }
    for (name, data) in extra {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o100600);
        h.set_size(data.len() as u64);
        h.set_mtime(u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0));
        b.append_data(&mut h, name, data.as_slice())?;
        stats.entries += 1;
        stats.bytes += data.len() as u64;
    }
    Ok((b.into_inner()?, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_files_are_not_packed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM x\n").unwrap();
        std::fs::write(d.path().join("secret.key"), "k").unwrap();
        std::fs::create_dir_all(d.path().join("node_modules/x")).unwrap();
        std::fs::write(d.path().join("node_modules/x/a"), "a").unwrap();
        std::fs::create_dir_all(d.path().join("src")).unwrap();
        std::fs::write(d.path().join("src/main.rs"), "fn main(){}").unwrap();
        let ig = Ignore::parse("*.key\nnode_modules\n").unwrap();
        let (tar_bytes, stats) = pack_dir(
            d.path(),
            &ig,
            &[(".dockerfile.x".into(), b"FROM y\n".to_vec())],
            Vec::new(),
        )
        .unwrap();
        let mut names = Vec::new();
        let mut a = tar::Archive::new(tar_bytes.as_slice());
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            names.push(String::from_utf8_lossy(&e.path_bytes()).into_owned());
            if e.header().entry_type() == tar::EntryType::Regular {
                assert_eq!(e.header().mode().unwrap() & 0o170000, 0o100000);
            }
        }
        assert_eq!(
            names,
            vec!["Dockerfile", "src/", "src/main.rs", ".dockerfile.x"]
        );
        assert_eq!(stats.entries, 4);
    }
}
