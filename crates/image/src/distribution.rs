//! The store's side of pull and push: layers ingested as they stream from a registry (blob
//! digest and diff id checked before anything becomes visible), leases that keep a pull's
//! layers from gc until its image record is written, the manifests and blob sources a push
//! needs to keep digests, and readers of what a push uploads.

use std::io::Read;

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::layers::Expect;
use crate::reference::Reference;
use crate::store::{BlobSource, ImageStore, ManifestRef, write_json};

/// A layer as a manifest describes it.
#[derive(Debug, Clone)]
pub struct RemoteLayer {
    /// The chain id of the layer below (None for the base).
    pub parent: Option<Digest>,
    /// From the image config's `rootfs.diff_ids`.
    pub diff_id: Digest,
    /// The compressed blob's digest and media type, from the manifest.
    pub blob: Digest,
    pub media_type: String,
    /// Where it came from (`localhost:5000/team/app`).
    pub repository: String,
}

/// What a pulled image is recorded with.
#[derive(Debug, Clone)]
pub struct PulledImage<'a> {
    pub config: &'a [u8],
    /// Chain ids, base first.
    pub layers: Vec<Digest>,
    pub tag: Option<&'a Reference>,
    /// `repository@digest` of what the user referenced (the index, for multi-platform tags).
    pub repo_digest: String,
    /// The image manifest's bytes and media type.
    pub manifest: (&'a [u8], &'a str),
    pub repository: String,
}

/// A layer of an image to push.
#[derive(Debug, Clone)]
pub struct PushLayer {
    pub chain_id: Digest,
    pub diff_id: Digest,
    /// The blob berth keeps for the layer and how it is compressed.
    pub blob: Digest,
    pub media_type: String,
    /// Size of the kept blob.
    pub blob_size: u64,
    /// Blobs registries are known to hold for it.
    pub sources: Vec<BlobSource>,
}

/// Everything a push needs of one image.
#[derive(Debug, Clone)]
pub struct PushImage {
    pub id: Digest,
    pub config: Vec<u8>,
    pub layers: Vec<PushLayer>,
    /// Manifests the image came with: (ref, bytes).
    pub manifests: Vec<(ManifestRef, Vec<u8>)>,
}

impl ImageStore {
    /// Whether layer `chain` is present.
    pub fn has_layer(&self, chain: &Digest) -> bool {
        self.lock().layers.contains_key(chain)
    }

    /// Pins `digests` (chain ids, blobs) against gc until [`ImageStore::release`].
    pub fn lease(&self, digests: Vec<Digest>) -> u64 {
        let mut index = self.lock();
        index.next_lease += 1;
        let id = index.next_lease;
        index.leases.insert(id, digests);
        id
    }

    pub fn release(&self, lease: u64) {
        self.lock().leases.remove(&lease);
    }

    /// Adds a layer streamed from a registry; `open` is called only when the layer is not
    /// present (after waiting for a concurrent pull of the same layer). Returns whether it
    /// was fetched. The blob lands in the store only when both digests matched.
    pub fn pull_layer<R: Read>(
        &self,
        layer: &RemoteLayer,
        open: impl FnOnce() -> R,
    ) -> Result<bool> {
        let chain = crate::layers::chain_id(layer.parent.as_ref(), &layer.diff_id);
        let mut fetched = false;
        if !self.has_layer(&chain) {
            let mut reader = Some(open);
            let lazy = LazyReader {
                open: &mut reader,
                inner: None,
            };
            self.add_layer(
                lazy,
                layer.parent.as_ref(),
                Expect {
                    diff_id: Some(&layer.diff_id),
                    blob: Some(&layer.blob),
                    media_type: Some(&layer.media_type),
                },
            )?;
            fetched = reader.is_none();
        }
        self.add_layer_source(
            &chain,
            BlobSource {
                digest: layer.blob.clone(),
                media_type: layer.media_type.clone(),
                repository: layer.repository.clone(),
            },
        )?;
        Ok(fetched)
    }

    /// Records that `source` holds layer `chain` (for later pushes).
    pub fn add_layer_source(&self, chain: &Digest, source: BlobSource) -> Result<()> {
        let mut index = self.lock();
        let Some(rec) = index.layers.get_mut(chain) else {
            return Err(ImageError::NotFound(chain.to_string()));
        };
        if rec.sources.contains(&source) {
            return Ok(());
        }
        rec.sources
            .retain(|s| !(s.digest == source.digest && s.repository == source.repository));
        rec.sources.push(source);
        let rec = rec.clone();
        drop(index);
        write_json(&self.layer_dir(chain).join("layer.json"), &rec)
    }

    /// Records a pulled image: the config blob, the manifest blob, then the image record,
    /// then the tag. Returns the image id and whether the tag moved (Docker's "Downloaded
    /// newer image" against "Image is up to date").
    pub fn add_pulled_image(&self, img: &PulledImage<'_>) -> Result<(Digest, bool)> {
        let id = Digest::of(img.config);
        let before = img
            .tag
            .and_then(|t| self.lock().refs.get(&t.full()).cloned());
        let manifest_digest = self.put_blob(img.manifest.0)?;
        let tags: Vec<Reference> = img.tag.cloned().into_iter().collect();
        let id2 = self.add_image(
            img.config,
            img.layers.clone(),
            None,
            &tags,
            vec![img.repo_digest.clone()],
        )?;
        debug_assert_eq!(id, id2);
        self.add_manifest(
            &id,
            ManifestRef {
                digest: manifest_digest,
                media_type: img.manifest.1.to_owned(),
                repository: img.repository.clone(),
            },
        )?;
        Ok((id.clone(), before.as_ref() != Some(&id)))
    }

    /// Adds a manifest (already a blob) to an image's record.
    pub fn add_manifest(&self, id: &Digest, m: ManifestRef) -> Result<()> {
        let mut index = self.lock();
        let Some(rec) = index.images.get_mut(id) else {
            return Err(ImageError::NotFound(id.to_string()));
        };
        if rec.manifests.contains(&m) {
            return Ok(());
        }
        rec.manifests.push(m);
        let rec = rec.clone();
        write_json(
            &self.root.join("images").join(format!("{}.json", id.hex())),
            &rec,
        )
    }

    /// Records `repository@digest` for an image (after a push).
    pub fn add_repo_digest(&self, id: &Digest, repo_digest: String) -> Result<()> {
        let mut index = self.lock();
        let Some(rec) = index.images.get_mut(id) else {
            return Err(ImageError::NotFound(id.to_string()));
        };
        if rec.repo_digests.contains(&repo_digest) {
            return Ok(());
        }
        rec.repo_digests.push(repo_digest);
        let rec = rec.clone();
        write_json(
            &self.root.join("images").join(format!("{}.json", id.hex())),
            &rec,
        )
    }

    /// Stores a blob (a manifest pushed by berth) and returns its digest.
    pub fn store_blob(&self, data: &[u8]) -> Result<Digest> {
        self.put_blob(data)
    }

    /// What a push of `reference` needs.
    pub fn push_image(&self, reference: &str) -> Result<PushImage> {
        let id = self.lookup(reference)?;
        let rec = self
            .lock()
            .images
            .get(&id)
            .cloned()
            .ok_or_else(|| ImageError::NotFound(reference.to_owned()))?;
        let config = self.read_blob(&id)?;
        let mut layers = Vec::new();
        for chain in &rec.layers {
            let l = self
                .lock()
                .layers
                .get(chain)
                .cloned()
                .ok_or_else(|| ImageError::NotFound(format!("layer {chain} of {reference}")))?;
            let p = self.blob_path(&l.blob);
            let blob_size = std::fs::metadata(&p)
                .map_err(ImageError::io("reading", &p))?
                .len();
            layers.push(PushLayer {
                chain_id: l.chain_id,
                diff_id: l.diff_id,
                blob: l.blob,
                media_type: l.media_type,
                blob_size,
                sources: l.sources,
            });
        }
        let manifests = rec
            .manifests
            .iter()
            .filter_map(|m| self.read_blob(&m.digest).ok().map(|b| (m.clone(), b)))
            .collect();
        Ok(PushImage {
            id,
            config,
            layers,
            manifests,
        })
    }

    /// Opens a blob berth keeps (a layer as received).
    pub fn open_blob(&self, d: &Digest) -> Result<std::fs::File> {
        let p = self.blob_path(d);
        std::fs::File::open(&p).map_err(ImageError::io("opening", &p))
    }

    /// A layer's tar, gzip-compressed deterministically (no name, mtime 0, level 6), for
    /// pushing a layer whose compressed blob berth does not keep.
    pub fn gzipped_layer(&self, chain: &Digest) -> Result<impl Read + '_> {
        let tar = self.layer_tar(chain)?;
        Ok(flate2::GzBuilder::new()
            .mtime(0)
            .read(tar, flate2::Compression::new(6)))
    }

    /// The tags of the repository `repo` (`docker.io/library/busybox`), for `push` without a
    /// tag (Docker pushes them all).
    pub fn repository_tags(&self, repo: &str) -> Vec<String> {
        let prefix = format!("{repo}:");
        self.lock()
            .refs
            .keys()
            .filter_map(|r| r.strip_prefix(&prefix))
            .filter(|t| !t.contains('@'))
            .map(str::to_owned)
            .collect()
    }
}

/// Opens its reader at the first read, so a layer that turns out to be present (after a
/// concurrent pull) is never downloaded.
struct LazyReader<'a, F, R> {
    open: &'a mut Option<F>,
    inner: Option<R>,
}

impl<F: FnOnce() -> R, R: Read> Read for LazyReader<'_, F, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.inner.is_none()
            && let Some(open) = self.open.take()
        {
            self.inner = Some(open());
        }
        match &mut self.inner {
            Some(r) => r.read(buf),
            None => Ok(0),
        }
    }
}
