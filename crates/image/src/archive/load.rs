//! `docker load`: Docker archives (the legacy layout of `docker save` ≤ 24, and the OCI
//! layout plus `manifest.json` of ≥ 25) and plain OCI image layout archives.
//!
//! `manifest.json` usually comes last, so the archive is read in one pass without it: small
//! files (configs, manifests) are extracted — regular files and directories only, names
//! checked — into a private directory, and every large entry that looks like a layer is
//! unpacked as it streams past into a staged layer ([`crate::layers::Staged`]), which needs no
//! parent to be made. Once the manifests are read, each layer is committed on its parent
//! after its diff id is checked against the config: a wrong digest aborts the load and leaves
//! nothing visible. A layer is thus read once and written twice (its blob, its files), never
//! first copied out of the archive.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::layers::{Expect, Staged};
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::unpack::clean_name;

/// A loaded image: its id and the tags it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: String,
    pub tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    digest: Digest,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

#[derive(Deserialize)]
struct OciIndex {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct OciManifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// Where the symlink `rel -> target` points inside the archive: `docker save` links a layer
/// it already wrote as `../<id>/layer.tar`, so `..` is resolved lexically; a target that is
/// absolute or climbs out of the archive is refused.
fn within_archive(rel: &Path, target: &Path) -> Result<PathBuf> {
    let refused = || ImageError::UnsafeEntry {
        entry: format!("{} -> {}", rel.display(), target.display()),
        why: "links outside the archive",
    };
    let mut out = rel.parent().map(Path::to_path_buf).unwrap_or_default();
    for c in target.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    return Err(refused());
                }
            }
            std::path::Component::RootDir | std::path::Component::Prefix(_) => {
                return Err(refused());
            }
        }
    }
    Ok(out)
}

/// Entries at least this big that start like a tar, gzip or zstd stream are staged as layers
/// while they stream; smaller ones are cheap to extract and add later.
const STAGE_AT: u64 = 64 * 1024;

/// Where each layer of the archive is, by its name in the archive.
#[derive(Debug, Default)]
struct Layers {
    /// Archive name → index in `staged` (a legacy archive's symlinked copies share one).
    names: HashMap<PathBuf, usize>,
    staged: Vec<Slot>,
}

#[derive(Debug)]
struct Slot {
    staged: Option<Staged>,
    /// Once committed (by an earlier image of the archive), its blob in the store.
    blob: Option<Digest>,
    /// Why it could not be staged: the load's error if a manifest names it, as dockerd
    /// ignores what no manifest names.
    failed: Option<ImageError>,
}

/// Whether the first bytes of an entry are a layer's: compressed, or a tar header.
fn looks_like_layer(head: &[u8]) -> bool {
    matches!(head, [0x1f, 0x8b, ..] | [0x28, 0xb5, 0x2f, 0xfd, ..])
        || head.get(257..262) == Some(&b"ustar"[..])
}

impl ImageStore {
    /// Reads the archive once: small regular files and directories go under `dir`, layers
    /// into `layers`.
    fn extract<R: Read>(&self, reader: R, dir: &Path, layers: &mut Layers) -> Result<()> {
        let mut archive = tar::Archive::new(reader);
        for entry in archive
            .entries()
            .map_err(ImageError::stream("reading the archive"))?
        {
            let mut entry = entry.map_err(ImageError::stream("reading the archive"))?;
            let et = entry.header().entry_type();
            let raw = entry.path_bytes().into_owned();
            let rel = clean_name(&raw)?;
            if rel.as_os_str().is_empty() {
                continue;
            }
            let dest = dir.join(&rel);
            if et.is_dir() {
                std::fs::create_dir_all(&dest).map_err(ImageError::io("creating", &dest))?;
            } else if et.is_file() {
                let mut head = Vec::with_capacity(512);
                if entry.size() >= STAGE_AT {
                    (&mut entry)
                        .take(512)
                        .read_to_end(&mut head)
                        .map_err(ImageError::stream("reading the archive (truncated?)"))?;
                }
                let mut content = std::io::Cursor::new(&head[..]).chain(&mut entry);
                if looks_like_layer(&head) {
                    // What is left of a failed entry is skipped by the next `entries` step.
                    let (staged, failed) = match self.stage_layer(&mut content) {
                        Ok(s) => (Some(s), None),
                        Err(e) => (None, Some(e)),
                    };
                    layers.names.insert(rel, layers.staged.len());
                    layers.staged.push(Slot {
                        staged,
                        blob: None,
                        failed,
                    });
                    continue;
                }
                if let Some(p) = dest.parent() {
                    std::fs::create_dir_all(p).map_err(ImageError::io("creating", p))?;
                }
                let mut f =
                    std::fs::File::create(&dest).map_err(ImageError::io("creating", &dest))?;
                std::io::copy(&mut content, &mut f)
                    .map_err(ImageError::stream("reading the archive (truncated?)"))?;
            } else if et.is_symlink() {
                // Legacy archives link identical layers to each other: resolve within the
                // archive.
                if let Some(target) = entry.link_name().ok().flatten() {
                    let t = within_archive(&rel, &target)?;
                    if let Some(&i) = layers.names.get(&t) {
                        layers.names.insert(rel, i);
                        continue;
                    }
                    if let Some(p) = dest.parent() {
                        std::fs::create_dir_all(p).map_err(ImageError::io("creating", p))?;
                    }
                    let src = dir.join(t);
                    if src.is_file() {
                        std::fs::copy(&src, &dest).map_err(ImageError::io("copying", &dest))?;
                    }
                }
            }
            // Anything else (devices, hardlinks, sockets) has no place in an image archive.
        }
        Ok(())
    }

    /// The layer named `path` in the archive, on top of `parent`: a staged one committed, or
    /// one extracted (or already committed) added from its file.
    fn archive_layer(
        &self,
        dir: &Path,
        layers: &mut Layers,
        path: &str,
        parent: Option<&Digest>,
        diff: &Digest,
    ) -> Result<crate::store::LayerRecord> {
        let rel = clean_name(path.as_bytes())?;
        let expect = Expect {
            diff_id: Some(diff),
            blob: None,
            media_type: None,
        };
        let file = match layers.names.get(&rel) {
            Some(&i) => {
                let slot = &mut layers.staged[i];
                if let Some(e) = slot.failed.take() {
                    return Err(e);
                }
                if let Some(staged) = slot.staged.take() {
                    let record = self.commit_staged(staged, parent, expect)?;
                    // A second use (another image of the archive) reads the stored blob.
                    slot.blob = Some(record.blob.clone());
                    return Ok(record);
                }
                match &slot.blob {
                    Some(blob) => self.blob_path(blob),
                    None => dir.join(&rel),
                }
            }
            None => dir.join(&rel),
        };
        let f = std::fs::File::open(&file)
            .map_err(|_| ImageError::invalid("archive", format!("layer {path} is missing")))?;
        self.add_layer(std::io::BufReader::new(f), parent, expect)
    }
}

fn read(dir: &Path, rel: &str) -> Result<Vec<u8>> {
    let p = dir.join(clean_name(rel.as_bytes())?);
    std::fs::read(&p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ImageError::invalid("archive", format!("{rel} is missing")),
        _ => ImageError::io("reading", &p)(e),
    })
}

impl ImageStore {
    /// Loads every image of an archive.
    pub fn load<R: Read>(&self, reader: R) -> Result<Vec<LoadedImage>> {
        let dir = self.root.join("ingest").join(format!(
            "load-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).map_err(ImageError::io("creating", &dir))?;
        let mut layers = Layers::default();
        let result = self
            .extract(reader, &dir, &mut layers)
            .and_then(|()| self.load_dir(&dir, &mut layers));
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn load_dir(&self, dir: &Path, layers: &mut Layers) -> Result<Vec<LoadedImage>> {
        if dir.join("manifest.json").exists() {
            let entries: Vec<ManifestEntry> = serde_json::from_slice(&read(dir, "manifest.json")?)
                .map_err(|e| ImageError::invalid("manifest.json", e.to_string()))?;
            return entries
                .iter()
                .map(|e| {
                    self.load_one(
                        dir,
                        layers,
                        &e.config,
                        &e.layers,
                        e.repo_tags.clone().unwrap_or_default(),
                        Vec::new(),
                    )
                })
                .collect();
        }
        if dir.join("index.json").exists() {
            return self.load_oci(dir, layers);
        }
        Err(ImageError::invalid(
            "archive",
            "neither manifest.json nor index.json found: not a Docker or OCI image archive",
        ))
    }

    fn load_oci(&self, dir: &Path, layers: &mut Layers) -> Result<Vec<LoadedImage>> {
        let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
        let index: OciIndex = serde_json::from_slice(&read(dir, "index.json")?)
            .map_err(|e| ImageError::invalid("index.json", e.to_string()))?;
        let mut out = Vec::new();
        for m in index.manifests {
            let data = read(dir, &blob(&m.digest))?;
            if Digest::of(&data) != m.digest {
                return Err(ImageError::DigestMismatch {
                    what: "manifest".into(),
                    expected: m.digest.to_string(),
                    actual: Digest::of(&data).to_string(),
                });
            }
            let manifest: OciManifest = serde_json::from_slice(&data)
                .map_err(|e| ImageError::invalid("OCI manifest", e.to_string()))?;
            let name = m
                .annotations
                .get("io.containerd.image.name")
                .cloned()
                .or_else(|| {
                    m.annotations
                        .get("org.opencontainers.image.ref.name")
                        .filter(|n| n.contains(['/', ':']))
                        .cloned()
                });
            let paths: Vec<String> = manifest.layers.iter().map(|l| blob(&l.digest)).collect();
            let mut loaded = self.load_one(
                dir,
                layers,
                &blob(&manifest.config.digest),
                &paths,
                name.into_iter().collect(),
                vec![m.digest.to_string()],
            )?;
            loaded.tags.dedup();
            out.push(loaded);
        }
        Ok(out)
    }

    fn load_one(
        &self,
        dir: &Path,
        layers: &mut Layers,
        config_path: &str,
        layer_paths: &[String],
        tags: Vec<String>,
        manifest_digests: Vec<String>,
    ) -> Result<LoadedImage> {
        let config_bytes = read(dir, config_path)?;
        let cfg = ImageConfig::parse(&config_bytes)?;
        if cfg.rootfs.diff_ids.len() != layer_paths.len() {
            return Err(ImageError::invalid(
                "archive",
                format!(
                    "config {config_path} lists {} layers, the manifest {}",
                    cfg.rootfs.diff_ids.len(),
                    layer_paths.len()
                ),
            ));
        }
        let refs: Vec<Reference> = tags
            .iter()
            .map(|t| Reference::parse(t))
            .collect::<Result<_>>()?;
        let mut chains: Vec<Digest> = Vec::new();
        for (path, diff) in layer_paths.iter().zip(&cfg.rootfs.diff_ids) {
            let layer = self.archive_layer(dir, layers, path, chains.last(), diff)?;
            chains.push(layer.chain_id);
        }
        let repo_digests: Vec<String> = match refs.first() {
            Some(r) => manifest_digests
                .iter()
                .map(|d| format!("{}@{d}", r.repository()))
                .collect(),
            None => Vec::new(),
        };
        let id = self.add_image(&config_bytes, chains, None, &refs, repo_digests)?;
        Ok(LoadedImage {
            id: id.to_string(),
            tags: refs.iter().map(Reference::familiar).collect(),
        })
    }
}
