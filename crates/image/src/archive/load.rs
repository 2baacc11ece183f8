//! `docker load`: Docker archives (the legacy layout of `docker save` ≤ 24, and the OCI
//! layout plus `manifest.json` of ≥ 25) and plain OCI image layout archives.
//!
//! The archive is first extracted — regular files and directories only, names checked — into
//! a private directory, because `manifest.json` usually comes last. Each layer is then added
//! with its expected diff id from the config: a wrong digest aborts the load and leaves
//! nothing visible.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::layers::Expect;
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
    annotations: std::collections::HashMap<String, String>,
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

/// Extracts regular files and directories of the archive under `dir`.
fn extract<R: Read>(reader: R, dir: &Path) -> Result<()> {
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
            if let Some(p) = dest.parent() {
                std::fs::create_dir_all(p).map_err(ImageError::io("creating", p))?;
            }
            let mut f = std::fs::File::create(&dest).map_err(ImageError::io("creating", &dest))?;
            std::io::copy(&mut entry, &mut f)
                .map_err(ImageError::stream("reading the archive (truncated?)"))?;
        } else if et.is_symlink() {
            // Legacy archives link identical layers to each other: resolve within the archive.
            if let Some(target) = entry.link_name().ok().flatten() {
                let t = rel.parent().unwrap_or(Path::new("")).join(target);
                let t = clean_name(t.as_os_str().as_encoded_bytes())?;
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
        let result = extract(reader, &dir).and_then(|()| self.load_dir(&dir));
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn load_dir(&self, dir: &Path) -> Result<Vec<LoadedImage>> {
        if dir.join("manifest.json").exists() {
            let entries: Vec<ManifestEntry> = serde_json::from_slice(&read(dir, "manifest.json")?)
                .map_err(|e| ImageError::invalid("manifest.json", e.to_string()))?;
            return entries
                .iter()
                .map(|e| {
                    self.load_one(
                        dir,
                        &e.config,
                        &e.layers,
                        e.repo_tags.clone().unwrap_or_default(),
                        Vec::new(),
                    )
                })
                .collect();
        }
        if dir.join("index.json").exists() {
            return self.load_oci(dir);
        }
        Err(ImageError::invalid(
            "archive",
            "neither manifest.json nor index.json found: not a Docker or OCI image archive",
        ))
    }

    fn load_oci(&self, dir: &Path) -> Result<Vec<LoadedImage>> {
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
            let layers: Vec<String> = manifest.layers.iter().map(|l| blob(&l.digest)).collect();
            let mut loaded = self.load_one(
                dir,
                &blob(&manifest.config.digest),
                &layers,
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
            let p: PathBuf = dir.join(clean_name(path.as_bytes())?);
            let f = std::fs::File::open(&p)
                .map_err(|_| ImageError::invalid("archive", format!("layer {path} is missing")))?;
            let layer = self.add_layer(
                std::io::BufReader::new(f),
                chains.last(),
                Expect {
                    diff_id: Some(diff),
                    blob: None,
                    media_type: None,
                },
            )?;
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
