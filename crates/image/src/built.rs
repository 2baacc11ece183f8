//! What builds need from the store: a writable layer over nothing (`FROM scratch`), a
//! container's upper directory turned into a layer without a second copy (it is tarred once
//! for the blob and the diff id, then moved into place), and images committed from a config.

use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::config::ImageConfig;
use crate::digest::{Digest, HashingWriter};
use crate::error::{ImageError, Result};
use crate::layers::{TAR, chain_id};
use crate::store::{ContainerLayer, ImageStore, LayerRecord, write_json};

/// A layer a build step made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    pub diff_id: String,
    pub chain_id: String,
}

fn walk(
    dir: &Path,
    rel: &Path,
    out: &mut Vec<(std::path::PathBuf, std::fs::Metadata)>,
) -> io::Result<()> {
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

fn is_opaque(p: &Path) -> bool {
    let mut buf = [0u8; 4];
    rustix::fs::lgetxattr(p, "trusted.overlay.opaque", &mut buf)
        .is_ok_and(|n| n == 1 && buf[0] == b'y')
}

/// Writes `upper` as a layer tar in path order, mtimes clamped to `epoch`; returns the
/// bytes of file content.
fn write_tar<W: Write>(upper: &Path, w: W, epoch: Option<i64>) -> Result<(W, u64)> {
    let mut entries = Vec::new();
    walk(upper, Path::new(""), &mut entries).map_err(ImageError::io("reading", upper))?;
    let mut b = tar::Builder::new(w);
    let stream = |e: io::Error| ImageError::Stream {
        what: "writing a layer".into(),
        source: e,
    };
    let clamp = |t: i64| -> u64 {
        let t = match epoch {
            Some(e) if t > e => e,
            _ => t,
        };
        u64::try_from(t).unwrap_or(0)
    };
    let mut bytes = 0;
    for (rel, m) in entries {
        let full = upper.join(&rel);
        let ft = m.file_type();
        let mut h = tar::Header::new_gnu();
        h.set_mode(m.mode() & 0o7777);
        h.set_uid(u64::from(m.uid()));
        h.set_gid(u64::from(m.gid()));
        h.set_mtime(clamp(m.mtime()));
        if ft.is_char_device() && m.rdev() == 0 {
            let name = format!(
                ".wh.{}",
                rel.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            let path = rel.parent().unwrap_or(Path::new("")).join(name);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o644);
            b.append_data(&mut h, &path, io::empty()).map_err(stream)?;
            continue;
        }
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, &rel, io::empty()).map_err(stream)?;
            if is_opaque(&full) {
                let mut o = tar::Header::new_gnu();
                o.set_entry_type(tar::EntryType::Regular);
                o.set_size(0);
                o.set_mode(0o644);
                o.set_mtime(clamp(m.mtime()));
                b.append_data(&mut o, rel.join(".wh..wh..opq"), io::empty())
                    .map_err(stream)?;
            }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&full).map_err(ImageError::io("reading", &full))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, &rel, &target).map_err(stream)?;
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(m.len());
            let f = std::fs::File::open(&full).map_err(ImageError::io("opening", &full))?;
            b.append_data(&mut h, &rel, f).map_err(stream)?;
            bytes += m.len();
        } else if ft.is_fifo() {
            h.set_entry_type(tar::EntryType::Fifo);
            h.set_size(0);
            b.append_data(&mut h, &rel, io::empty()).map_err(stream)?;
        }
    }
    Ok((b.into_inner().map_err(stream)?, bytes))
}

impl ImageStore {
    fn pin(&self, chain: &Digest) {
        self.pinned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(chain.clone());
    }

    /// An image's config.
    pub fn image_config(&self, reference: &str) -> Result<ImageConfig> {
        let id = self.lookup(reference)?;
        self.config_of(&id)
    }

    /// A writable layer over no image (for `FROM scratch` steps and `--link` copies).
    pub fn prepare_empty(&self, id: &str) -> Result<Vec<crate::Mount>> {
        let dir = self.container_dir(id);
        let tmp = self.root.join("containers").join(format!(".tmp-{id}"));
        for sub in ["upper", "work"] {
            std::fs::create_dir_all(tmp.join(sub))
                .map_err(ImageError::io("creating", tmp.join(sub)))?;
        }
        let rec = ContainerLayer {
            id: id.to_owned(),
            image: Digest::of(b""),
            layers: Vec::new(),
        };
        write_json(&tmp.join("layer.json"), &rec)?;
        std::fs::rename(&tmp, &dir).map_err(ImageError::io("creating", &dir))?;
        self.lock().containers.insert(id.to_owned(), rec);
        self.mounts(id)
    }

    /// Whether `rel` exists in the layers under container `id`'s writable layer.
    pub fn in_lower_layers(&self, id: &str, rel: &Path) -> bool {
        self.in_lower(id, rel)
    }

    /// Turns container `id`'s changes (its upper directory, no longer mounted) into a layer:
    /// `None` when it changed nothing. With `keep`, the upper directory stays (the container
    /// is kept) and the layer is unpacked from the tar instead of moved.
    pub fn layer_from_upper(
        &self,
        id: &str,
        epoch: Option<i64>,
        keep: bool,
    ) -> Result<Option<BuiltLayer>> {
        let upper = self.upper_dir(id);
        if std::fs::read_dir(&upper)
            .map_err(ImageError::io("reading", &upper))?
            .next()
            .is_none()
        {
            return Ok(None);
        }
        let parent = self
            .lock()
            .containers
            .get(id)
            .ok_or_else(|| ImageError::NotFound(format!("writable layer of container {id}")))?
            .layers
            .last()
            .cloned();
        if keep {
            let tmp = self.root.join("ingest").join(format!("keep-{id}.tar"));
            let f = std::fs::File::create(&tmp).map_err(ImageError::io("creating", &tmp))?;
            let (w, _) = write_tar(&upper, io::BufWriter::new(f), epoch)?;
            drop(w);
            let r = std::fs::File::open(&tmp).map_err(ImageError::io("opening", &tmp))?;
            let rec = self.add_layer(
                io::BufReader::new(r),
                parent.as_ref(),
                crate::layers::Expect::default(),
            );
            let _ = std::fs::remove_file(&tmp);
            let rec = rec?;
            self.pin(&rec.chain_id);
            return Ok(Some(BuiltLayer {
                diff_id: rec.diff_id.to_string(),
                chain_id: rec.chain_id.to_string(),
            }));
        }
        let name = format!("build-{id}");
        let ingest = self.root.join("ingest").join(&name);
        let f = std::fs::File::create(&ingest).map_err(ImageError::io("creating", &ingest))?;
        let (w, bytes) = write_tar(&upper, HashingWriter::new(io::BufWriter::new(f)), epoch)?;
        let (diff_id, diff_size, buf) = w.finish();
        buf.into_inner()
            .map_err(|e| ImageError::io("writing", &ingest)(e.into_error()))?
            .sync_all()
            .map_err(ImageError::io("syncing", &ingest))?;
        let chain = chain_id(parent.as_ref(), &diff_id);
        self.pin(&chain);
        // Two steps that produce the same layer commit it once.
        let slot = self.layer_slot(&chain);
        let _held = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.lock().layers.contains_key(&chain) {
            let _ = std::fs::remove_file(&ingest);
            return Ok(Some(BuiltLayer {
                diff_id: diff_id.to_string(),
                chain_id: chain.to_string(),
            }));
        }
        let tmp_layer = self.root.join("layers").join(format!(".tmp-{name}"));
        std::fs::create_dir_all(&tmp_layer).map_err(ImageError::io("creating", &tmp_layer))?;
        let diff = tmp_layer.join("diff");
        let moved = std::fs::rename(&upper, &diff).map_err(ImageError::io("moving", &upper));
        if let Err(e) = moved {
            let _ = std::fs::remove_dir_all(&tmp_layer);
            let _ = std::fs::remove_file(&ingest);
            return Err(e);
        }
        let record = LayerRecord {
            chain_id: chain.clone(),
            diff_id: diff_id.clone(),
            parent,
            blob: diff_id.clone(),
            media_type: TAR.into(),
            size: bytes,
            diff_size,
            link: chain.hex()[..12].to_owned(),
            sources: Vec::new(),
        };
        if let Err(e) = self.commit_layer(&tmp_layer, &ingest, &record) {
            let _ = std::fs::remove_dir_all(&tmp_layer);
            let _ = std::fs::remove_file(&ingest);
            return Err(e);
        }
        // The container's directory lost its upper; recreate it so removal finds its shape.
        let _ = std::fs::create_dir_all(&upper);
        Ok(Some(BuiltLayer {
            diff_id: diff_id.to_string(),
            chain_id: chain.to_string(),
        }))
    }

    /// Records a built image: `parent`'s layers plus `layer` (a chain id), with `config`.
    pub fn add_built(
        &self,
        config: &ImageConfig,
        parent: Option<&str>,
        layer: Option<&str>,
    ) -> Result<String> {
        let (mut layers, parent_id) = match parent {
            Some(p) => {
                let id = self.lookup(p)?;
                let layers = self
                    .lock()
                    .images
                    .get(&id)
                    .map(|i| i.layers.clone())
                    .unwrap_or_default();
                (layers, Some(id))
            }
            None => (Vec::new(), None),
        };
        let chain = layer.map(Digest::parse).transpose()?;
        if let Some(l) = &chain {
            layers.push(l.clone());
        }
        let bytes = config.to_bytes()?;
        let id = self.add_image(&bytes, layers, parent_id, &[], Vec::new());
        if let Some(l) = &chain {
            self.pinned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(l);
        }
        let id = id?;
        Ok(id.to_string())
    }

    /// Images a build made that nothing else needs (untagged, no child image): what
    /// `builder prune` may remove once their cache entries are gone.
    pub fn dangling_children_free(&self) -> Vec<String> {
        let index = self.lock();
        index
            .images
            .keys()
            .filter(|id| !index.refs.values().any(|r| r == *id))
            .filter(|id| {
                !index
                    .images
                    .values()
                    .any(|i| i.parent.as_ref() == Some(*id))
            })
            .map(ToString::to_string)
            .collect()
    }

    /// Removes an untagged image with no children (a build's intermediate image); returns
    /// the bytes its layers held that no other image or container needs.
    pub fn remove_built(&self, id: &str) -> Result<u64> {
        let id = Digest::parse(id)?;
        let before: u64 = self.layers_size();
        self.remove_image(&id)?;
        Ok(before.saturating_sub(self.layers_size()))
    }
}

impl ImageStore {
    /// Ids of every writable layer (to find those a crashed build left).
    pub fn writable_layers(&self) -> Vec<String> {
        self.lock().containers.keys().cloned().collect()
    }
}
