//! The store: its directories, its in-memory index, and crash recovery.
//!
//! ```text
//! <root>/blobs/sha256/<hex>       content: image configs, layer tars (as received), manifests
//! <root>/ingest/                  blobs being written (removed at open)
//! <root>/layers/<chain-id hex>/   one unpacked layer: diff/ (the files), layer.json
//! <root>/l/<short>                symlink -> ../layers/<hex>/diff (short overlay paths)
//! <root>/images/<id hex>.json     image records
//! <root>/refs.json                tags and digests -> image id
//! <root>/containers/<id>/         a container's writable layer: upper/, work/, layer.json
//! ```
//!
//! Order of writes makes crashes harmless: a layer is unpacked into `layers/.tmp-*` and
//! renamed into place only when complete; an image record is written after its layers, and
//! refs after the record. `open` removes temporaries, and garbage-collects layers and blobs
//! nothing refers to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{ImageError, Result};

/// One unpacked layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LayerRecord {
    pub(crate) chain_id: Digest,
    pub(crate) diff_id: Digest,
    pub(crate) parent: Option<Digest>,
    /// The layer as received (compressed or not), for save/push.
    pub(crate) blob: Digest,
    pub(crate) media_type: String,
    /// Size of the layer's files.
    pub(crate) size: u64,
    /// Size of the uncompressed tar (the diff).
    #[serde(default)]
    pub(crate) diff_size: u64,
    /// Short link name under `l/`.
    pub(crate) link: String,
    /// Registry blobs known to hold this layer (Docker's "v2 metadata"): what a push HEADs
    /// or mounts instead of uploading, and why a pulled image pushed back keeps its digest.
    #[serde(default)]
    pub(crate) sources: Vec<BlobSource>,
}

/// A compressed blob of a layer in a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobSource {
    pub digest: Digest,
    pub media_type: String,
    /// `localhost:5000/team/app`.
    pub repository: String,
}

/// A manifest an image was pulled with (its bytes are a blob).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRef {
    pub digest: Digest,
    pub media_type: String,
    pub repository: String,
}

/// One image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    /// The config's digest.
    pub(crate) id: Digest,
    /// Chain ids, base first.
    pub(crate) layers: Vec<Digest>,
    /// Manifest digests (`repo@sha256:...`) known for it.
    #[serde(default)]
    pub(crate) repo_digests: Vec<String>,
    /// The image it was built or committed from.
    #[serde(default)]
    pub(crate) parent: Option<Digest>,
    pub(crate) loaded_at: chrono::DateTime<chrono::Utc>,
    /// Image manifests it was pulled or pushed with, for pushing it back unchanged.
    #[serde(default)]
    pub(crate) manifests: Vec<ManifestRef>,
}

/// A container's writable layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContainerLayer {
    pub(crate) id: String,
    pub(crate) image: Digest,
    /// The image's chain ids, base first.
    pub(crate) layers: Vec<Digest>,
}

#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) images: BTreeMap<Digest, ImageRecord>,
    /// Full reference (`docker.io/library/busybox:latest`) → image id.
    pub(crate) refs: BTreeMap<String, Digest>,
    pub(crate) layers: BTreeMap<Digest, LayerRecord>,
    pub(crate) containers: BTreeMap<String, ContainerLayer>,
    /// Layers and blobs pinned by pulls in progress (lease id → digests), which gc keeps.
    pub(crate) leases: BTreeMap<u64, Vec<Digest>>,
    pub(crate) next_lease: u64,
}

/// The image store.
#[derive(Debug)]
pub struct ImageStore {
    pub(crate) root: PathBuf,
    pub(crate) index: Mutex<Index>,
    /// One lock per layer being created (by chain id): different layers unpack
    /// concurrently, concurrent pulls of the same layer unpack it once.
    pub(crate) inflight: Mutex<BTreeMap<Digest, std::sync::Arc<Mutex<()>>>>,
}

#[derive(Serialize, Deserialize, Default)]
struct RefsFile {
    refs: BTreeMap<String, Digest>,
}

fn read_json<T: for<'de> Deserialize<'de>>(p: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(p).ok()?).ok()
}

pub(crate) fn write_json<T: Serialize>(p: &Path, v: &T) -> Result<()> {
    let data = serde_json::to_vec(v)
        .map_err(|e| ImageError::invalid(format!("encoding {}", p.display()), e.to_string()))?;
    berth_fsutil::atomic_write(p, &data).map_err(ImageError::io("writing", p))
}

impl ImageStore {
    /// Opens (creating) the store at `root`, cleaning up what a crash left half-made.
    pub fn open(root: PathBuf) -> Result<Self> {
        for d in [
            "blobs/sha256",
            "ingest",
            "layers",
            "l",
            "images",
            "containers",
        ] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(ImageError::io("creating", &p))?;
        }
        let _ = std::fs::remove_dir_all(root.join("ingest"));
        std::fs::create_dir_all(root.join("ingest"))
            .map_err(ImageError::io("creating", root.join("ingest")))?;
        let mut index = Index::default();
        for entry in std::fs::read_dir(root.join("layers"))
            .map_err(ImageError::io("reading", root.join("layers")))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            match read_json::<LayerRecord>(&entry.path().join("layer.json")) {
                Some(l) if !name.starts_with('.') => {
                    index.layers.insert(l.chain_id.clone(), l);
                }
                _ => {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        for entry in std::fs::read_dir(root.join("images"))
            .map_err(ImageError::io("reading", root.join("images")))?
            .flatten()
        {
            match read_json::<ImageRecord>(&entry.path()) {
                Some(img) if img.layers.iter().all(|l| index.layers.contains_key(l)) => {
                    index.images.insert(img.id.clone(), img);
                }
                _ => {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        index.refs = read_json::<RefsFile>(&root.join("refs.json"))
            .unwrap_or_default()
            .refs;
        index.refs.retain(|_, id| index.images.contains_key(id));
        for entry in std::fs::read_dir(root.join("containers"))
            .map_err(ImageError::io("reading", root.join("containers")))?
            .flatten()
        {
            match read_json::<ContainerLayer>(&entry.path().join("layer.json")) {
                Some(c) => {
                    index.containers.insert(c.id.clone(), c);
                }
                None => {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let store = Self {
            root,
            index: Mutex::new(index),
            inflight: Mutex::new(BTreeMap::new()),
        };
        store.gc();
        Ok(store)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Index> {
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub(crate) fn layer_dir(&self, chain: &Digest) -> PathBuf {
        self.root.join("layers").join(chain.hex())
    }

    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// Writes the refs file from the index (call with the index locked).
    pub(crate) fn save_refs(&self, index: &Index) -> Result<()> {
        write_json(
            &self.root.join("refs.json"),
            &RefsFile {
                refs: index.refs.clone(),
            },
        )
    }

    /// Removes layers and blobs that no image or container needs.
    pub(crate) fn gc(&self) {
        let mut index = self.lock();
        let mut live_layers: BTreeSet<Digest> = BTreeSet::new();
        let mut live_blobs: BTreeSet<Digest> = BTreeSet::new();
        for img in index.images.values() {
            live_layers.extend(img.layers.iter().cloned());
            live_blobs.insert(img.id.clone());
        }
        for img in index.images.values() {
            live_blobs.extend(img.manifests.iter().map(|m| m.digest.clone()));
        }
        for c in index.containers.values() {
            live_layers.extend(c.layers.iter().cloned());
            live_blobs.insert(c.image.clone());
        }
        for pinned in index.leases.values() {
            live_layers.extend(pinned.iter().cloned());
            live_blobs.extend(pinned.iter().cloned());
        }
        let dead: Vec<Digest> = index
            .layers
            .keys()
            .filter(|k| !live_layers.contains(*k))
            .cloned()
            .collect();
        for chain in dead {
            if let Some(l) = index.layers.remove(&chain) {
                let _ = std::fs::remove_file(self.root.join("l").join(&l.link));
                let _ = std::fs::remove_dir_all(self.layer_dir(&chain));
            }
        }
        for l in index.layers.values() {
            live_blobs.insert(l.blob.clone());
        }
        drop(index);
        if let Ok(entries) = std::fs::read_dir(self.root.join("blobs/sha256")) {
            for e in entries.flatten() {
                let keep = Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy()))
                    .is_ok_and(|d| live_blobs.contains(&d));
                if !keep {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}
