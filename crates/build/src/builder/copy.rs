//! COPY and ADD: sources from the context, another stage or image (`--from`), heredocs, and
//! for ADD local archives (extracted) and URLs (`--checksum`); their cache hash as Docker
//! computes it (`file:<tarsum>`, `dir:<sum of sums>`, `multi:`), then the copy into a root
//! over the parent image, with Docker's directory rules.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::stage::StageCtx;
use crate::backend::{Backend, Scratch};
use crate::context::{Context, Kind};
use crate::error::{BuildError, Result};
use crate::fsroot::{Meta, Root};
use crate::ignore::{Ignore, clean};
use crate::parser::CopyCmd;

/// `10m`, `1g`, `512k`, bytes.
pub(crate) fn parse_size(v: &str) -> Result<u64> {
    let t = v.trim().to_ascii_lowercase();
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t.as_str(), 1),
    };
    num.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|_| BuildError::invalid(format!("invalid size: {v}")))
}

/// Where one source's files come from.
#[derive(Debug)]
enum Src {
    /// A context path (resolved), as given.
    Context {
        path: String,
        given: String,
    },
    /// A real path under a read-only view of an image.
    View {
        path: PathBuf,
        given: String,
    },
    Heredoc {
        name: String,
        content: String,
    },
    /// A downloaded file.
    Url {
        file: PathBuf,
        name: String,
    },
}

fn has_wildcards(p: &str) -> bool {
    let mut escaped = false;
    for c in p.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

fn hash_list(prefix: &str, mut v: Vec<String>, sort: bool) -> String {
    if sort {
        v.sort();
    }
    format!(
        "{prefix}:{}",
        hex::encode(Sha256::digest(v.join(",").as_bytes()))
    )
}

/// Docker's hash of a context path: `file:<sum>` or `dir:<sum of every entry's sum>`.
fn context_hash(ctx: &Context, path: &str) -> String {
    match ctx.entry(path) {
        Some(e) if e.kind == Kind::Dir => {
            let mut sums = vec![ctx.hash(path)];
            sums.extend(ctx.under(path).map(|(p, _)| ctx.hash(p)));
            hash_list("dir", sums, true)
        }
        _ => format!("file:{}", ctx.hash(path)),
    }
}

/// tarsum-style sum of a file in an image (the lazy source Docker uses for `--from`).
fn fs_sum(path: &Path, name: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return name.to_owned();
    };
    let ft = m.file_type();
    let (typeflag, type_bits, link) = if ft.is_dir() {
        (b'5', 0o40000, String::new())
    } else if ft.is_symlink() {
        (
            b'2',
            0o120000,
            std::fs::read_link(path)
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
    } else {
        (b'0', 0o100000, String::new())
    };
    let mut h = Sha256::new();
    let hdr_name = if ft.is_dir() {
        format!("{name}/")
    } else {
        name.to_owned()
    };
    let size = if typeflag == b'0' { m.len() } else { 0 };
    h.update(
        format!(
            "name{hdr_name}mode{}uid{}gid{}size{size}typeflag",
            (m.mode() & 0o7777) | type_bits,
            m.uid(),
            m.gid()
        )
        .as_bytes(),
    );
    h.update([typeflag]);
    h.update(format!("linkname{link}unamegnamedevmajor0devminor0").as_bytes());
    if typeflag == b'0'
        && let Ok(mut f) = std::fs::File::open(path)
    {
        let _ = std::io::copy(&mut f, &mut h);
    }
    hex::encode(h.finalize())
}

fn view_hash(path: &Path) -> String {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        let mut sums = vec![fs_sum(path, ".")];
        let mut stack = vec![(path.to_path_buf(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<_> = rd.flatten().collect();
            names.sort_by_key(std::fs::DirEntry::file_name);
            for e in names {
                let r = if rel.is_empty() {
                    e.file_name().to_string_lossy().into_owned()
                } else {
                    format!("{rel}/{}", e.file_name().to_string_lossy())
                };
                sums.push(fs_sum(&e.path(), &r));
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push((e.path(), r));
                }
            }
        }
        hash_list("dir", sums, true)
    } else {
        format!(
            "file:{}",
            fs_sum(
                path,
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
                    .as_str()
            )
        )
    }
}

fn base_name(p: &str) -> String {
    let c = clean(&format!("/{p}"));
    c.rsplit('/').next().unwrap_or_default().to_owned()
}

/// Plain HTTP GET (ADD of a URL) into `dest`; follows redirects. Returns the file name.
fn http_get(url: &str, dest: &Path, hops: u32) -> Result<String> {
    use std::io::Write;
    let fail = |m: String| BuildError::invalid(format!("ADD {url}: {m}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| fail("only http:// URLs can be downloaded by this daemon".into()))?;
    let (hostport, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let addr = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:80")
    };
    let mut s = std::net::TcpStream::connect(&addr).map_err(|e| fail(e.to_string()))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .ok();
    // One write: a request split over segments is half-read by simple servers.
    let req = format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\nUser-Agent: berth\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).map_err(|e| fail(e.to_string()))?;
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut location = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).map_err(|e| fail(e.to_string()))? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("location")
        {
            location = Some(v.trim().to_owned());
        }
    }
    if (300..400).contains(&code)
        && hops < 5
        && let Some(l) = location
    {
        return http_get(&l, dest, hops + 1);
    }
    if code != 200 {
        return Err(fail(format!("unexpected status {}", status.trim())));
    }
    let mut f = std::fs::File::create(dest).map_err(BuildError::io("creating", dest))?;
    std::io::copy(&mut r, &mut f).map_err(|e| fail(e.to_string()))?;
    let name = path
        .split('?')
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_owned();
    Ok(name)
}

fn sha256_file(p: &Path) -> Result<String> {
    let mut f = std::fs::File::open(p).map_err(BuildError::io("opening", p))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(BuildError::io("reading", p))?;
    Ok(hex::encode(h.finalize()))
}

/// How files land: owner, mode override, time clamp.
struct Placement {
    owner: (u32, u32),
    chmod: Option<u32>,
    epoch: Option<i64>,
    excludes: Ignore,
}

impl Placement {
    fn meta(&self, mode: u32, mtime: i64) -> Meta {
        let mtime = match self.epoch {
            Some(e) if mtime > e || mtime < 0 => e,
            _ => mtime,
        };
        Meta {
            mode: self.chmod.unwrap_or(mode),
            uid: self.owner.0,
            gid: self.owner.1,
            mtime,
        }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Copies context entry `path` (file or directory) to `target`.
fn copy_context(
    ctx: &Context,
    path: &str,
    target: &str,
    into_dir: bool,
    root: &Root,
    p: &Placement,
) -> Result<()> {
    let e = ctx.entry(path).ok_or_else(|| BuildError::NotFound(format!("file not found in build context or excluded by .dockerignore: stat {path}: file does not exist")))?;
    let mt = |m: u64| i64::try_from(m).unwrap_or(0);
    match &e.kind {
        Kind::Dir => {
            root.mkdir_all(target, None)?;
            for (sub, se) in ctx.under(path) {
                let rel = if path == "." {
                    sub.as_str()
                } else {
                    &sub[path.len() + 1..]
                };
                if p.excludes.excludes(rel) {
                    continue;
                }
                let dst = format!("{target}/{rel}");
                let meta = p.meta(se.mode, mt(se.mtime));
                match &se.kind {
                    Kind::Dir => root.dir(
                        &dst,
                        if se.implicit {
                            p.meta(0o755, now())
                        } else {
                            meta
                        },
                    )?,
                    Kind::File | Kind::Hardlink(_) => root.file(&dst, &mut ctx.open(sub)?, meta)?,
                    Kind::Symlink(t) => root.symlink(&dst, t, meta)?,
                    Kind::Other(_) => {}
                }
            }
            Ok(())
        }
        Kind::File | Kind::Hardlink(_) => {
            let dst = if into_dir {
                format!("{target}/{}", base_name(path))
            } else {
                target.to_owned()
            };
            root.file(&dst, &mut ctx.open(path)?, p.meta(e.mode, mt(e.mtime)))
        }
        Kind::Symlink(_) | Kind::Other(_) => Err(BuildError::invalid(format!(
            "{path}: cannot copy this kind of file"
        ))),
    }
}

/// Copies a real file or directory (from an image view) to `target`.
fn copy_real(src: &Path, target: &str, into_dir: bool, root: &Root, p: &Placement) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(src).map_err(BuildError::io("reading", src))?;
    if m.is_dir() {
        root.mkdir_all(target, None)?;
        let mut stack = vec![(src.to_path_buf(), target.to_owned(), String::new())];
        while let Some((dir, dst_dir, rel)) = stack.pop() {
            let mut names: Vec<_> = std::fs::read_dir(&dir)
                .map_err(BuildError::io("reading", &dir))?
                .flatten()
                .collect();
            names.sort_by_key(std::fs::DirEntry::file_name);
            for e in names {
                let n = e.file_name().to_string_lossy().into_owned();
                let r = if rel.is_empty() {
                    n.clone()
                } else {
                    format!("{rel}/{n}")
                };
                if p.excludes.excludes(&r) {
                    continue;
                }
                let dst = format!("{dst_dir}/{n}");
                let em = std::fs::symlink_metadata(e.path())
                    .map_err(BuildError::io("reading", e.path()))?;
                let meta = p.meta(em.mode() & 0o7777, em.mtime());
                if em.is_dir() {
                    root.dir(&dst, meta)?;
                    stack.push((e.path(), dst, r));
                } else if em.file_type().is_symlink() {
                    let t = std::fs::read_link(e.path())
                        .map_err(BuildError::io("reading", e.path()))?;
                    root.symlink(&dst, &t.to_string_lossy(), meta)?;
                } else if em.is_file() {
                    let mut f = std::fs::File::open(e.path())
                        .map_err(BuildError::io("opening", e.path()))?;
                    root.file(&dst, &mut f, meta)?;
                }
            }
        }
        return Ok(());
    }
    let name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dst = if into_dir {
        format!("{target}/{name}")
    } else {
        target.to_owned()
    };
    let mut f = std::fs::File::open(src).map_err(BuildError::io("opening", src))?;
    root.file(&dst, &mut f, p.meta(m.mode() & 0o7777, m.mtime()))
}

/// A local archive ADD extracts: gzip or plain tar.
fn archive_reader<'a, R: Read + 'a>(r: R) -> Result<Option<Box<dyn Read + 'a>>> {
    let mut br = BufReader::with_capacity(64 * 1024, r);
    let head = br
        .fill_buf()
        .map_err(|e| BuildError::invalid(format!("reading an archive: {e}")))?
        .to_vec();
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Some(Box::new(flate2::bufread::MultiGzDecoder::new(br))));
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Ok(Some(Box::new(br)));
    }
    Ok(None)
}

fn extract(r: Box<dyn Read + '_>, target: &str, root: &Root, p: &Placement) -> Result<()> {
    let mut a = tar::Archive::new(r);
    let bad = |e: std::io::Error| BuildError::invalid(format!("extracting an archive: {e}"));
    root.mkdir_all(target, None)?;
    for entry in a.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if raw.starts_with('/') || raw.split('/').any(|c| c == "..") {
            return Err(BuildError::invalid(format!(
                "archive entry {raw:?} would escape the destination"
            )));
        }
        let rel = clean(&raw);
        if rel == "." {
            continue;
        }
        let h = entry.header().clone();
        let dst = format!("{target}/{rel}");
        let owner = (
            u32::try_from(h.uid().unwrap_or(0)).unwrap_or(0),
            u32::try_from(h.gid().unwrap_or(0)).unwrap_or(0),
        );
        let mut meta = p.meta(
            h.mode().unwrap_or(0o644) & 0o7777,
            i64::try_from(h.mtime().unwrap_or(0)).unwrap_or(0),
        );
        if p.owner == (0, 0) {
            (meta.uid, meta.gid) = owner;
        }
        match h.entry_type() {
            tar::EntryType::Directory => root.dir(&dst, meta)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                root.file(&dst, &mut entry, meta)?;
            }
            tar::EntryType::Symlink => {
                let t = entry
                    .link_name()
                    .map_err(bad)?
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default();
                root.symlink(&dst, &t, meta)?;
            }
            _ => {}
        }
    }
    Ok(())
}

impl<B: Backend> StageCtx<'_, B> {
    /// The image a `--from` names: an earlier stage's result, or an image.
    pub(crate) async fn source_image(&self, from: &str) -> Result<String> {
        let meta = self.b.meta();
        let from = crate::shell::process_word(from, &meta.meta_env(), self.b.escape)
            .map_err(|e| BuildError::invalid(e.0))?;
        if let Some(i) = crate::stages::find_named(self.names, &from, self.index) {
            return self
                .deps
                .get(&i)
                .map(|im| im.id.clone())
                .ok_or_else(|| BuildError::invalid(format!("stage {from} was not built")));
        }
        Ok(self.b.backend.resolve_image(&from, false).await?.id)
    }

    /// A context subtree as a real directory (for `RUN --mount=type=bind`).
    pub(crate) fn context_tree(&self, source: &str, n: usize) -> Result<PathBuf> {
        let dir = self
            .b
            .backend
            .work_dir()
            .join(format!("bind-{}-{n}", self.index));
        std::fs::create_dir_all(&dir).map_err(BuildError::io("creating", &dir))?;
        let root = Root::open(&dir)?;
        let path = self.b.ctx.resolve(&clean(source), true);
        let p = Placement {
            owner: (0, 0),
            chmod: None,
            epoch: None,
            excludes: Ignore::default(),
        };
        match self.b.ctx.entry(&path) {
            Some(e) if e.kind == Kind::Dir => {
                copy_context(&self.b.ctx, &path, "/", false, &root, &p)?;
            }
            Some(_) => {
                copy_context(&self.b.ctx, &path, "/file", false, &root, &p)?;
                return Ok(dir.join("file"));
            }
            None => {
                return Err(BuildError::NotFound(format!(
                    "{source}: not found in the build context"
                )));
            }
        }
        Ok(dir)
    }

    fn gather(
        &self,
        c: &CopyCmd,
        add: bool,
        sources: &[String],
        view: Option<&Scratch>,
        hashes: &mut Vec<String>,
    ) -> Result<Vec<Src>> {
        let mut out = Vec::new();
        let name = if add { "ADD" } else { "COPY" };
        for (i, h) in c.heredocs.iter().enumerate() {
            let content = if h.expand {
                crate::shell::expand_text(&h.content, &self.envs())
                    .map_err(|e| BuildError::invalid(e.0))?
            } else {
                h.content.clone()
            };
            hashes.push(format!(
                "file:{}",
                hex::encode(Sha256::digest(content.as_bytes()))
            ));
            let _ = i;
            out.push(Src::Heredoc {
                name: h.name.clone(),
                content,
            });
        }
        for s in sources {
            if add && (s.starts_with("http://") || s.starts_with("https://")) {
                let file = self.b.backend.work_dir().join(format!(
                    "download-{}-{}",
                    self.index,
                    out.len()
                ));
                let fname = http_get(s, &file, 0)?;
                let sum = sha256_file(&file)?;
                if let Some(want) = &c.checksum {
                    let want_hex = want.strip_prefix("sha256:").unwrap_or(want);
                    if want_hex != sum {
                        return Err(BuildError::invalid(format!(
                            "{name} {s}: digest mismatch: expected {want}, got sha256:{sum}"
                        )));
                    }
                }
                hashes.push(format!("file:{sum}"));
                out.push(Src::Url { file, name: fname });
                continue;
            }
            if let Some(v) = view {
                let rel = clean(&format!("/{s}"));
                let root_fd = std::os::fd::OwnedFd::from(
                    std::fs::File::open(&v.root).map_err(BuildError::io("opening", &v.root))?,
                );
                let fd = berth_fsutil::open_in_root(
                    std::os::fd::AsFd::as_fd(&root_fd),
                    Path::new(&rel),
                    nix::fcntl::OFlag::O_PATH,
                )
                .map_err(|_| {
                    BuildError::NotFound(format!("{name} failed: stat {rel}: file does not exist"))
                })?;
                let real = std::fs::read_link(berth_fsutil::fd_path(std::os::fd::AsFd::as_fd(&fd)))
                    .map_err(BuildError::io("resolving", &rel))?;
                hashes.push(view_hash(&real));
                out.push(Src::View {
                    path: real,
                    given: s.clone(),
                });
                continue;
            }
            let cleaned = clean(s);
            if cleaned == ".."
                || cleaned.starts_with("../")
                || cleaned.starts_with('/') && clean(&cleaned[1..]).starts_with("..")
            {
                return Err(BuildError::invalid(format!(
                    "{name} failed: forbidden path outside the build context: {s} ()"
                )));
            }
            let cleaned = clean(cleaned.trim_start_matches('/'));
            if has_wildcards(&cleaned) {
                let pat = Ignore::parse(&cleaned).map_err(BuildError::invalid)?;
                let matches: Vec<String> = self
                    .b
                    .ctx
                    .paths()
                    .filter(|p| {
                        p.as_str() != "."
                            && pat.excludes(p)
                            && !pat.excludes(p.rsplit_once('/').map_or("", |(d, _)| d))
                    })
                    .cloned()
                    .collect();
                let matches: Vec<String> = matches
                    .into_iter()
                    .filter(|m| glob_match(&cleaned, m))
                    .collect();
                if matches.is_empty() {
                    return Err(BuildError::NotFound(format!(
                        "{name} failed: no source files were specified"
                    )));
                }
                for m in matches {
                    hashes.push(context_hash(&self.b.ctx, &m));
                    out.push(Src::Context {
                        path: m.clone(),
                        given: m,
                    });
                }
                continue;
            }
            let resolved = self.b.ctx.resolve(&cleaned, true);
            if self.b.ctx.entry(&resolved).is_none() {
                return Err(BuildError::NotFound(format!(
                    "{name} failed: file not found in build context or excluded by .dockerignore: stat {s}: file does not exist"
                )));
            }
            hashes.push(context_hash(&self.b.ctx, &resolved));
            out.push(Src::Context {
                path: resolved,
                given: cleaned,
            });
        }
        Ok(out)
    }

    pub(crate) async fn copy_step(&mut self, c: &CopyCmd, add: bool) -> Result<()> {
        let name = if add { "ADD" } else { "COPY" };
        let dest_given = self.expand(&c.dest)?;
        let sources: Vec<String> = c
            .sources
            .iter()
            .map(|s| self.expand(s))
            .collect::<Result<_>>()?;
        let chown = c
            .chown
            .as_deref()
            .map(|s| self.expand(s))
            .transpose()?
            .filter(|s| !s.is_empty());
        let chmod = match c.chmod.as_deref().filter(|s| !s.is_empty()) {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .map_err(|_| BuildError::invalid(format!("invalid chmod parameter: {m}")))?,
            ),
            None => None,
        };
        let view = match &c.from {
            Some(from) => {
                let image = self.source_image(from).await?;
                Some(
                    self.b
                        .backend
                        .scratch(Some(&image).filter(|i| !i.is_empty()).map(String::as_str))
                        .await?,
                )
            }
            None => None,
        };
        let r = self
            .copy_with(
                c,
                add,
                name,
                &dest_given,
                &sources,
                chown,
                chmod,
                view.as_ref(),
            )
            .await;
        if let Some(v) = view {
            self.b.backend.discard(v).await;
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    async fn copy_with(
        &mut self,
        c: &CopyCmd,
        add: bool,
        name: &str,
        dest_given: &str,
        sources: &[String],
        chown: Option<String>,
        chmod: Option<u32>,
        view: Option<&Scratch>,
    ) -> Result<()> {
        let mut hashes = Vec::new();
        let srcs = self.gather(c, add, sources, view, &mut hashes)?;
        let multiple = srcs.len() > 1 || sources.iter().any(|s| has_wildcards(s));
        if multiple && !dest_given.ends_with('/') {
            return Err(BuildError::invalid(format!(
                "When using {name} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        let src_hash = if hashes.len() == 1 {
            hashes[0].clone()
        } else {
            hash_list("multi", hashes, false)
        };
        let chown_comment = chown
            .as_ref()
            .map(|c| format!("--chown={c}"))
            .unwrap_or_default();
        let comment = format!("{name} {chown_comment}{src_hash} in {dest_given} ");
        let mut probe = self.run.clone();
        let mut cmd = self.shell();
        cmd.push(format!("#(nop) {comment}"));
        probe.cmd = Some(cmd);
        let extra =
            json!({"chmod": chmod, "link": c.link, "parents": c.parents, "exclude": c.excludes});
        let key = self.cache_key(&probe, &extra);
        if self.probe(&key)? {
            self.run = self.image.config.config.clone().unwrap_or_default();
            return Ok(());
        }
        let workdir = self.run.working_dir.clone().unwrap_or_default();
        let mut dest = if dest_given.starts_with('/') {
            dest_given.to_owned()
        } else {
            clean(&format!("/{workdir}/{dest_given}"))
        };
        if dest_given.ends_with('/') && !dest.ends_with('/') {
            dest.push('/');
        }
        let parent = Some(self.image.id.clone()).filter(|i| !i.is_empty() && !c.link);
        let scratch = self.b.backend.scratch(parent.as_deref()).await?;
        let done = self.place(&scratch, &srcs, &dest, add, (chown.as_deref(), chmod), c);
        if let Err(e) = done {
            self.b.backend.discard(scratch).await;
            return Err(e);
        }
        let layer = self
            .b
            .backend
            .finish(scratch, self.b.opts.source_date_epoch)
            .await?;
        self.commit(&key, &probe, layer.as_ref(), None)
    }

    fn place(
        &self,
        scratch: &Scratch,
        srcs: &[Src],
        dest: &str,
        add: bool,
        (chown, chmod): (Option<&str>, Option<u32>),
        c: &CopyCmd,
    ) -> Result<()> {
        let root = Root::open(&scratch.root)?;
        let owner = match chown {
            Some(s) => root.lookup_owner(s)?,
            None => (0, 0),
        };
        let excludes = Ignore::parse(&c.excludes.join("\n")).map_err(BuildError::invalid)?;
        let p = Placement {
            owner,
            chmod,
            epoch: self.b.opts.source_date_epoch,
            excludes,
        };
        let dest_is_dir = dest.ends_with('/') || root.is_dir(dest) == Some(true);
        let target = dest.trim_end_matches('/');
        let target = if target.is_empty() { "/" } else { target };
        for s in srcs {
            match s {
                Src::Heredoc { name, content } => {
                    let dst = if dest_is_dir {
                        format!("{target}/{name}")
                    } else {
                        target.to_owned()
                    };
                    let mtime = self.b.opts.source_date_epoch.unwrap_or_else(now);
                    root.file(&dst, &mut content.as_bytes(), p.meta(0o644, mtime))?;
                }
                Src::Url { file, name } => {
                    let dst = if dest_is_dir {
                        format!("{target}/{name}")
                    } else {
                        target.to_owned()
                    };
                    let mut f =
                        std::fs::File::open(file).map_err(BuildError::io("opening", file))?;
                    root.file(
                        &dst,
                        &mut f,
                        p.meta(0o600, self.b.opts.source_date_epoch.unwrap_or_else(now)),
                    )?;
                }
                Src::View { path, given } => {
                    let t = if c.parents {
                        format!("{target}/{}", clean(given).trim_start_matches('/'))
                    } else {
                        target.to_owned()
                    };
                    copy_real(path, &t, dest_is_dir && !c.parents, &root, &p)?;
                }
                Src::Context { path, given } => {
                    let is_file = self.b.ctx.entry(path).is_some_and(|e| e.kind != Kind::Dir);
                    if add
                        && is_file
                        && let Some(r) = archive_reader(self.b.ctx.open(path)?)?
                    {
                        extract(r, target, &root, &p)?;
                        continue;
                    }
                    let t = if c.parents {
                        let parent = given.rsplit_once('/').map_or("", |(d, _)| d);
                        if is_file {
                            format!("{target}/{parent}")
                        } else {
                            format!("{target}/{given}")
                        }
                    } else {
                        target.to_owned()
                    };
                    let into_dir = if c.parents { is_file } else { dest_is_dir };
                    if is_file && into_dir {
                        let dst = format!("{}/{}", t.trim_end_matches('/'), base_name(given));
                        copy_context(&self.b.ctx, path, &dst, false, &root, &p)?;
                    } else {
                        copy_context(&self.b.ctx, path, &t, false, &root, &p)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `filepath.Match` (one path element per `*`).
fn glob_match(pattern: &str, name: &str) -> bool {
    let Ok(ig) = Ignore::parse(pattern) else {
        return false;
    };
    // A pattern without `**` matches whole paths only (not their parents' children).
    ig.excludes(name) && pattern.split('/').count() == name.split('/').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_globs() {
        assert_eq!(parse_size("10m").unwrap(), 10 << 20);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert!(parse_size("x").is_err());
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("d/*.txt", "d/a.txt"));
        assert!(has_wildcards("a*"));
        assert!(!has_wildcards("a\\*"));
    }
}
