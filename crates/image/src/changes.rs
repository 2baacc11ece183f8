//! A container's changes: `docker diff` from its upper directory, and the layer tar `commit`
//! makes of them (overlayfs whiteouts back into `.wh.` entries).

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use bollard_stubs::models::ContainerConfig;

use crate::config::{self, History, ImageConfig};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::layers::Expect;
use crate::reference::Reference;
use crate::store::ImageStore;

/// `docker diff` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute path in the container.
    pub path: String,
    pub kind: ChangeKind,
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    let mut buf = [0u8; 4];
    rustix::fs::lgetxattr(p, "trusted.overlay.opaque", &mut buf)
        .is_ok_and(|n| n == 1 && buf[0] == b'y')
}

/// Every entry of `dir`, depth first, sorted by name (no symlinks followed).
fn walk(
    dir: &Path,
    rel: &Path,
    out: &mut Vec<(PathBuf, std::fs::Metadata)>,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let m = std::fs::symlink_metadata(e.path())?;
        let r = rel.join(e.file_name());
        let is_dir = m.is_dir();
        out.push((r.clone(), m));
        if is_dir {
            walk(&e.path(), &r, out)?;
        }
    }
    Ok(())
}

/// Options of `commit`.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub reference: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub changes: Vec<String>,
    /// The container's config, which becomes the image's.
    pub config: Option<ContainerConfig>,
    /// The command the container ran (for history's created_by).
    pub created_by: Option<String>,
}

impl ImageStore {
    pub(crate) fn in_lower(&self, id: &str, rel: &Path) -> bool {
        let index = self.lock();
        let Some(c) = index.containers.get(id) else {
            return false;
        };
        for chain in c.layers.iter().rev() {
            let Some(l) = index.layers.get(chain) else {
                continue;
            };
            let p = self.layer_dir(&l.chain_id).join("diff").join(rel);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if is_whiteout(&m) => return false,
                Ok(_) => return true,
                Err(_) => {}
            }
        }
        false
    }

    /// `docker diff`.
    pub fn diff(&self, id: &str) -> Result<Vec<Change>> {
        let upper = self.upper_dir(id);
        let mut entries = Vec::new();
        walk(&upper, Path::new(""), &mut entries).map_err(ImageError::io("reading", &upper))?;
        Ok(entries
            .into_iter()
            .map(|(rel, m)| {
                let kind = if is_whiteout(&m) {
                    ChangeKind::Deleted
                } else if self.in_lower(id, &rel) {
                    ChangeKind::Modified
                } else {
                    ChangeKind::Added
                };
                Change {
                    path: format!("/{}", rel.display()),
                    kind,
                }
            })
            .collect())
    }

    /// Writes container `id`'s changes as a layer tar.
    pub fn write_changes<W: Write>(&self, id: &str, w: W) -> Result<W> {
        let upper = self.upper_dir(id);
        let mut entries = Vec::new();
        walk(&upper, Path::new(""), &mut entries).map_err(ImageError::io("reading", &upper))?;
        let mut b = tar::Builder::new(w);
        b.follow_symlinks(false);
        let stream = |e: std::io::Error| ImageError::Stream {
            what: "writing the layer".into(),
            source: e,
        };
        for (rel, m) in entries {
            let full = upper.join(&rel);
            // The container's /.dockerenv marker is not a change (dockerd's init layer).
            if rel.as_os_str() == crate::containers::DOCKERENV
                && m.is_file()
                && m.len() == 0
                && !self.in_lower(id, &rel)
            {
                continue;
            }
            if is_whiteout(&m) {
                let name = format!(
                    ".wh.{}",
                    rel.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                );
                let path = rel.parent().unwrap_or(Path::new("")).join(name);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                h.set_mode(0o644);
                h.set_mtime(m.mtime().try_into().unwrap_or(0));
                b.append_data(&mut h, &path, std::io::empty())
                    .map_err(stream)?;
                continue;
            }
            if m.file_type().is_socket() {
                continue;
            }
            b.append_path_with_name(&full, &rel).map_err(stream)?;
            if m.is_dir() && is_opaque(&full) {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                h.set_mode(0o644);
                b.append_data(&mut h, rel.join(".wh..wh..opq"), std::io::empty())
                    .map_err(stream)?;
            }
        }
        b.into_inner().map_err(stream)
    }

    /// `docker commit`: the container's changes become a layer on top of its image.
    pub fn commit(&self, id: &str, opts: CommitOptions) -> Result<String> {
        let tag = opts
            .reference
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(Reference::parse)
            .transpose()?;
        let base: Digest = self.container_image(id).and_then(|s| Digest::parse(&s))?;
        let base_layers = self
            .lock()
            .images
            .get(&base)
            .map(|i| i.layers.clone())
            .ok_or_else(|| ImageError::NotFound(base.to_string()))?;
        let tmp = self.root.join("ingest").join(format!("commit-{id}.tar"));
        let f = std::fs::File::create(&tmp).map_err(ImageError::io("creating", &tmp))?;
        let f = self.write_changes(id, std::io::BufWriter::new(f))?;
        f.into_inner()
            .map_err(|e| ImageError::io("writing", &tmp)(e.into_error()))?
            .sync_all()
            .map_err(ImageError::io("syncing", &tmp))?;
        let reader = std::fs::File::open(&tmp).map_err(ImageError::io("opening", &tmp))?;
        let layer = self.add_layer(
            std::io::BufReader::new(reader),
            base_layers.last(),
            Expect::default(),
        );
        let _ = std::fs::remove_file(&tmp);
        let layer = layer?;
        let mut cfg: ImageConfig = self.config_of(&base)?;
        let mut cc = opts
            .config
            .clone()
            .or(cfg.config.clone())
            .unwrap_or_default();
        for c in &opts.changes {
            config::apply_change(&mut cc, c)?;
        }
        let created = config::now();
        cfg.config = Some(cc);
        cfg.container = Some(id.to_owned());
        cfg.created = Some(created.clone());
        cfg.author = opts.author.clone().filter(|a| !a.is_empty());
        cfg.comment = opts.comment.clone().filter(|c| !c.is_empty());
        cfg.history.push(History {
            created: Some(created),
            created_by: opts.created_by.clone(),
            author: cfg.author.clone(),
            comment: cfg.comment.clone(),
            empty_layer: false,
        });
        cfg.rootfs.diff_ids.push(layer.diff_id.clone());
        let mut layers = base_layers;
        layers.push(layer.chain_id);
        let tags: Vec<Reference> = tag.into_iter().collect();
        let new_id = self.add_image(&cfg.to_bytes()?, layers, Some(base), &tags, Vec::new())?;
        Ok(new_id.to_string())
    }
}
