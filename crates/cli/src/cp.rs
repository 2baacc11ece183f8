//! `cp`: files between a container and the local filesystem, via the archive endpoints.
//!
//! Destination rules follow docker's: into an existing directory the source keeps its name;
//! otherwise the copy takes the destination's name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine;
use clap::Args;
use http::Method;
use http_body_util::BodyExt;
use serde_json::Value;

use crate::client::{Client, empty, encode, full, query};

#[derive(Debug, Args)]
pub(crate) struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short, long)]
    quiet: bool,
    src: String,
    dest: String,
}

/// `container:path` → (container, path). A local path with a `:` must start with `/` or `.`.
fn split_remote(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':').filter(|(c, _)| !c.is_empty())
}

pub(crate) async fn cp(cl: &Client, a: CpArgs) -> Result<()> {
    match (split_remote(&a.src), split_remote(&a.dest)) {
        (Some((c, p)), None) => from_container(cl, c, p, &a).await,
        (None, Some((c, p))) => to_container(cl, c, p, &a).await,
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }
}

/// The container path's stat (`X-Docker-Container-Path-Stat`), if it exists.
async fn stat(cl: &Client, container: &str, path: &str) -> Result<Option<Value>> {
    let p = query(
        &format!("/containers/{}/archive", encode(container)),
        &[("path", path.into())],
    );
    match cl.send(Method::HEAD, &p, empty(), None).await {
        Ok(resp) => {
            let h = resp
                .headers()
                .get("X-Docker-Container-Path-Stat")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let raw = base64::engine::general_purpose::STANDARD
                .decode(h)
                .unwrap_or_default();
            Ok(Some(serde_json::from_slice(&raw).unwrap_or(Value::Null)))
        }
        Err(e) if crate::client::status_of(&e) == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_dir(stat: &Value) -> bool {
    // Go's os.ModeDir is the top bit of a uint32 mode.
    stat.get("mode")
        .and_then(Value::as_u64)
        .is_some_and(|m| m & (1 << 31) != 0)
}

fn done(quiet: bool, bytes: usize, dest: &str) {
    use std::io::IsTerminal;
    // Progress is for people: docker prints it only to a terminal.
    if !quiet && std::io::stderr().is_terminal() {
        #[allow(clippy::cast_precision_loss)] // display only
        let size = crate::table::human_size4(bytes as f64);
        eprintln!("Successfully copied {size} to {dest}");
    }
}

async fn from_container(cl: &Client, container: &str, src: &str, a: &CpArgs) -> Result<()> {
    let p = query(
        &format!("/containers/{}/archive", encode(container)),
        &[("path", src.into())],
    );
    let resp = cl.send(Method::GET, &p, empty(), None).await?;
    let tar = resp.into_body().collect().await?.to_bytes();
    if a.dest == "-" {
        crate::util::out_bytes(&tar);
        return Ok(());
    }
    let dest = PathBuf::from(&a.dest);
    let src_name = Path::new(src.trim_end_matches('/'))
        .file_name()
        .map_or_else(|| "/".into(), |n| n.to_string_lossy().into_owned());
    // Into an existing directory: keep the name. Otherwise: rename to the destination.
    let (dir, rename) = if dest.is_dir() {
        (dest.clone(), None)
    } else {
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            bail!("destination directory {} does not exist", parent.display());
        }
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (parent.to_path_buf(), Some(name))
    };
    let archive = a.archive;
    let len = tar.len();
    tokio::task::spawn_blocking(move || unpack(&tar, &dir, &src_name, rename.as_deref(), archive))
        .await??;
    done(a.quiet, len, &a.dest);
    Ok(())
}

fn unpack(
    tar: &[u8],
    dir: &Path,
    src_name: &str,
    rename: Option<&str>,
    archive: bool,
) -> Result<()> {
    let mut ar = tar::Archive::new(tar);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(archive);
    ar.set_overwrite(true);
    for entry in ar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let mut comps = path.components();
        let first = comps
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let rest: PathBuf = comps.collect();
        let root = match rename {
            Some(n) if first == src_name || first == "." => n.to_string(),
            _ => first,
        };
        let mut target = dir.join(root);
        if !rest.as_os_str().is_empty() {
            target.push(rest);
        }
        if !target.starts_with(dir) {
            bail!("archive entry escapes the destination: {}", path.display());
        }
        entry
            .unpack(&target)
            .with_context(|| format!("extracting {}", target.display()))?;
    }
    Ok(())
}

async fn to_container(cl: &Client, container: &str, dest: &str, a: &CpArgs) -> Result<()> {
    let target = stat(cl, container, dest).await?;
    let (upload_dir, name) = match &target {
        Some(st) if is_dir(st) => (dest.to_string(), None),
        _ => {
            let d = Path::new(dest);
            let parent = d
                .parent()
                .map_or("/".into(), |p| p.to_string_lossy().into_owned());
            let parent = if parent.is_empty() {
                "/".to_string()
            } else {
                parent
            };
            (
                parent,
                d.file_name().map(|n| n.to_string_lossy().into_owned()),
            )
        }
    };
    let body = if a.src == "-" {
        // A tar stream on stdin goes in as is.
        let mut buf = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut buf).await?;
        buf
    } else {
        let src = PathBuf::from(&a.src);
        if !src.exists() {
            bail!("lstat {}: no such file or directory", src.display());
        }
        let name = name.unwrap_or_else(|| {
            src.file_name()
                .map_or_else(|| ".".into(), |n| n.to_string_lossy().into_owned())
        });
        let follow = a.follow_link;
        tokio::task::spawn_blocking(move || pack(&src, &name, follow)).await??
    };
    let len = body.len();
    let p = query(
        &format!("/containers/{}/archive", encode(container)),
        &[
            ("path", upload_dir),
            ("noOverwriteDirNonDir", "true".into()),
        ],
    );
    cl.send(Method::PUT, &p, full(body), Some("application/x-tar"))
        .await?;
    done(a.quiet, len, &a.dest);
    Ok(())
}

fn pack(src: &Path, name: &str, follow: bool) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(follow);
    if src.is_dir() {
        b.append_dir_all(name, src)?;
    } else {
        b.append_path_with_name(src, name)?;
    }
    Ok(b.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths() {
        assert_eq!(split_remote("c1:/etc/hosts"), Some(("c1", "/etc/hosts")));
        assert_eq!(split_remote("/tmp/a:b"), None);
        assert_eq!(split_remote("./x"), None);
        assert_eq!(split_remote("file"), None);
    }

    #[test]
    fn pack_and_unpack_rename() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let src = tmp.path().join("a.txt");
        std::fs::write(&src, "hi").unwrap_or_else(|e| panic!("{e}"));
        let tar = pack(&src, "a.txt", false).unwrap_or_else(|e| panic!("{e}"));
        unpack(&tar, tmp.path(), "a.txt", Some("b.txt"), false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("b.txt")).unwrap_or_default(),
            "hi"
        );
    }
}
