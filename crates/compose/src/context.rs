//! A build context as the tar `POST /build` takes: the context directory without what
//! `.dockerignore` excludes (moby's pattern rules: `*`, `?`, `[...]`, `**`, `!` exceptions, a
//! pattern matching a parent excludes its children), the Dockerfile and `.dockerignore` always
//! kept. Symlinks are stored as links, never followed.

use std::path::{Path, PathBuf};

/// Why a context could not be packed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ContextError {
    #[error("reading build context {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("packing {path} into the build context")]
    Pack {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    dirs: usize,
    cleaned: String,
}

impl Pattern {
    fn new(raw: &str) -> Option<Self> {
        let (exclusion, p) = match raw.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, raw),
        };
        // `.` and `..` are folded as Go's filepath.Clean does; slashes at the ends do not matter.
        let mut parts: Vec<&str> = Vec::new();
        for part in p.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        if parts.is_empty() {
            return None;
        }
        Some(Self {
            exclusion,
            dirs: parts.len(),
            cleaned: parts.join("/"),
        })
    }
}

/// `.dockerignore`'s patterns.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    pub(crate) fn parse(text: &str, dockerfile: &str) -> Self {
        let mut patterns: Vec<Pattern> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(Pattern::new)
            .collect();
        patterns.extend(Pattern::new(&format!("!{dockerfile}")));
        patterns.extend(Pattern::new("!.dockerignore"));
        Self { patterns }
    }

    /// Whether `path` (relative, `/`-separated) is excluded.
    pub(crate) fn excluded(&self, path: &str) -> bool {
        let parent: Vec<&str> = match path.rsplit_once('/') {
            Some((p, _)) => p.split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for p in &self.patterns {
            let mut m = glob(p.cleaned.as_bytes(), path.as_bytes());
            if !m && !parent.is_empty() && p.dirs <= parent.len() {
                m = glob(p.cleaned.as_bytes(), parent[..p.dirs].join("/").as_bytes());
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// An excluded directory is still walked when an exception may re-include something in it.
    fn may_reinclude(&self, dir: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| p.exclusion && (p.cleaned.starts_with(dir) || p.cleaned.contains("**")))
    }
}

/// moby's glob: `*` and `?` stop at `/`, `**` crosses it, `[...]` classes, `\` escapes.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let mut rest = &p[2..];
            if rest.first() == Some(&b'/') {
                // `**/x` also matches `x` at the top.
                if glob(&rest[1..], s) {
                    return true;
                }
                rest = &p[2..];
            }
            (0..=s.len()).any(|i| glob(rest, &s[i..]))
        }
        Some(b'*') => {
            let rest = &p[1..];
            for i in 0..=s.len() {
                if glob(rest, &s[i..]) {
                    return true;
                }
                if s.get(i) == Some(&b'/') {
                    break;
                }
            }
            false
        }
        Some(b'?') => s.first().is_some_and(|c| *c != b'/') && glob(&p[1..], &s[1..]),
        Some(b'[') => match (class(&p[1..], s.first().copied()), s.first()) {
            (Some((true, used)), Some(_)) => glob(&p[1 + used..], &s[1..]),
            _ => false,
        },
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
    }
}

/// Matches one character against a class body (after `[`); returns (matched, bytes used
/// including the closing `]`).
fn class(p: &[u8], c: Option<u8>) -> Option<(bool, usize)> {
    let c = c.filter(|c| *c != b'/')?;
    let (negate, mut i) = match p.first() {
        Some(b'^' | b'!') => (true, 1),
        _ => (false, 0),
    };
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        let lo = p[i];
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            hit |= (lo..=p[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
    None
}

/// Packs `dir` into a tar, leaving out what `.dockerignore` excludes.
pub(crate) fn pack(dir: &Path, dockerfile: &str) -> Result<Vec<u8>, ContextError> {
    let ignore = match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(t) => Ignore::parse(&t, dockerfile),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::parse("", dockerfile),
        Err(source) => {
            return Err(ContextError::Read {
                path: dir.join(".dockerignore"),
                source,
            });
        }
    };
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    walk(dir, "", &ignore, &mut tar)?;
    tar.into_inner().map_err(|source| ContextError::Pack {
        path: dir.to_path_buf(),
        source,
    })
}

fn walk(
    root: &Path,
    rel: &str,
    ignore: &Ignore,
    tar: &mut tar::Builder<Vec<u8>>,
) -> Result<(), ContextError> {
    let dir = root.join(rel);
    let read = |source| ContextError::Read {
        path: dir.clone(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(read)?
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = e.file_type().map_err(read)?;
        let excluded = ignore.excluded(&path);
        if !excluded {
            tar.append_path_with_name(e.path(), &path)
                .map_err(|source| ContextError::Pack {
                    path: e.path(),
                    source,
                })?;
        }
        if ft.is_dir() && (!excluded || ignore.may_reinclude(&path)) {
            walk(root, &path, ignore, tar)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_rules() {
        let i = Ignore::parse(
            "# c\n*.log\n!keep.log\nnode_modules\n**/*.tmp\ndocs/[a-c]*\n",
            "Dockerfile",
        );
        assert!(i.excluded("a.log"));
        assert!(!i.excluded("keep.log"));
        assert!(!i.excluded("sub/a.log"), "* does not cross /");
        assert!(i.excluded("node_modules"));
        assert!(
            i.excluded("node_modules/x/y.js"),
            "a matched parent excludes its children"
        );
        assert!(i.excluded("x.tmp") && i.excluded("a/b/x.tmp"));
        assert!(i.excluded("docs/apple") && !i.excluded("docs/zebra"));
        assert!(!i.excluded("Dockerfile") && !i.excluded(".dockerignore"));
        let all = Ignore::parse("*\n", "Dockerfile");
        assert!(all.excluded("src") && !all.excluded("Dockerfile"));
    }

    #[test]
    fn packs_without_the_excluded() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let w = |p: &str, s: &str| {
            let path = d.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap_or(d.path()))
                .unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(path, s).unwrap_or_else(|e| panic!("{e}"));
        };
        w("Dockerfile", "FROM busybox\n");
        w(".dockerignore", "secret\n*.log\n");
        w("secret/key", "k");
        w("app/run.sh", "x");
        w("debug.log", "l");
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("link"))
            .unwrap_or_else(|e| panic!("{e}"));
        let tar = pack(d.path(), "Dockerfile").unwrap_or_else(|e| panic!("{e}"));
        let mut a = tar::Archive::new(&tar[..]);
        let mut names = Vec::new();
        for e in a.entries().unwrap_or_else(|e| panic!("{e}")) {
            let e = e.unwrap_or_else(|e| panic!("{e}"));
            let kind = e.header().entry_type();
            names.push(format!(
                "{}{}",
                e.path().unwrap_or_default().display(),
                if kind.is_symlink() { "@" } else { "" }
            ));
        }
        assert_eq!(
            names,
            [".dockerignore", "Dockerfile", "app", "app/run.sh", "link@"]
        );
    }
}
