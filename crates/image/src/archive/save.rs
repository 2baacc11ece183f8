//! `docker save`: Docker's current archive format — an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/...`) plus `manifest.json` — which docker ≥ 20.10 loads and
//! skopeo reads as `oci-archive:` or `docker-archive:`. Layers are written uncompressed, as
//! Docker writes them, so their digests are their diff ids.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::json;

use crate::digest::{Digest, HashingReader};
use crate::error::{ImageError, Result};
use crate::reference::Reference;
use crate::store::ImageStore;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

struct Saver<'a, W: Write> {
    store: &'a ImageStore,
    tar: tar::Builder<W>,
    written: BTreeSet<Digest>,
}

impl<W: Write> Saver<'_, W> {
    fn file(&mut self, name: &str, data: &[u8]) -> Result<()> {
        self.tar
            .append_data(&mut header(data.len() as u64), name, data)
            .map_err(ImageError::stream("writing the archive"))
    }

    fn blob(&mut self, d: &Digest, data: &[u8]) -> Result<()> {
        if self.written.insert(d.clone()) {
            self.file(&format!("blobs/sha256/{}", d.hex()), data)?;
        }
        Ok(())
    }

    /// Streams a layer's uncompressed tar as blob `diff_id`.
    fn layer(&mut self, chain: &Digest, diff_id: &Digest, size: u64) -> Result<()> {
        if !self.written.insert(diff_id.clone()) {
            return Ok(());
        }
        let reader = self.store.layer_tar(chain)?;
        let mut hashing = HashingReader::new(reader);
        self.tar
            .append_data(
                &mut header(size),
                format!("blobs/sha256/{}", diff_id.hex()),
                &mut hashing,
            )
            .map_err(ImageError::stream("writing a layer to the archive"))?;
        let (got, _, _) = hashing
            .finish()
            .map_err(ImageError::stream("reading a layer"))?;
        if &got != diff_id {
            return Err(ImageError::DigestMismatch {
                what: format!("stored layer {chain}"),
                expected: diff_id.to_string(),
                actual: got.to_string(),
            });
        }
        Ok(())
    }
}

/// The uncompressed size of a layer (recorded at unpack; counted for layers stored before).
fn diff_size(store: &ImageStore, chain: &Digest) -> Result<u64> {
    let recorded = store.lock().layers.get(chain).map_or(0, |l| l.diff_size);
    if recorded > 0 {
        return Ok(recorded);
    }
    let mut r = store.layer_tar(chain)?;
    std::io::copy(&mut r, &mut std::io::sink()).map_err(ImageError::stream("measuring a layer"))
}

impl ImageStore {
    /// Writes `refs` (names or ids) as one archive.
    pub fn save<W: Write>(&self, refs: &[String], w: W) -> Result<W> {
        let mut s = Saver {
            store: self,
            tar: tar::Builder::new(w),
            written: BTreeSet::new(),
        };
        let mut manifest_json = Vec::new();
        let mut index = Vec::new();
        for r in refs {
            let id = self.lookup(r)?;
            let tag = Reference::parse(r)
                .ok()
                .filter(|x| self.lock().refs.get(&x.full()) == Some(&id));
            let config = self.read_blob(&id)?;
            let cfg = crate::config::ImageConfig::parse(&config)?;
            let chains = self
                .lock()
                .images
                .get(&id)
                .map(|i| i.layers.clone())
                .ok_or_else(|| ImageError::NotFound(r.clone()))?;
            s.blob(&id, &config)?;
            let mut layer_descs = Vec::new();
            for (chain, diff) in chains.iter().zip(&cfg.rootfs.diff_ids) {
                let size = diff_size(self, chain)?;
                s.layer(chain, diff, size)?;
                layer_descs.push(json!({"mediaType": LAYER, "digest": diff, "size": size}));
            }
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {"mediaType": CONFIG, "digest": id, "size": config.len()},
                "layers": layer_descs,
            }))
            .map_err(|e| ImageError::invalid("manifest", e.to_string()))?;
            let mdigest = Digest::of(&manifest);
            s.blob(&mdigest, &manifest)?;
            let mut desc =
                json!({"mediaType": MANIFEST, "digest": mdigest, "size": manifest.len()});
            if let Some(t) = &tag {
                desc["annotations"] = json!({"io.containerd.image.name": t.full(), "org.opencontainers.image.ref.name": t.tag.clone().unwrap_or_default()});
            }
            index.push(desc);
            manifest_json.push(json!({
                "Config": format!("blobs/sha256/{}", id.hex()),
                "RepoTags": tag.iter().map(Reference::familiar).collect::<Vec<_>>(),
                "Layers": cfg.rootfs.diff_ids.iter().map(|d| format!("blobs/sha256/{}", d.hex())).collect::<Vec<_>>(),
            }));
        }
        let enc = |v: &serde_json::Value| {
            serde_json::to_vec(v).map_err(|e| ImageError::invalid("archive index", e.to_string()))
        };
        s.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        s.file("index.json", &enc(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index}))?)?;
        s.file(
            "manifest.json",
            &enc(&serde_json::Value::Array(manifest_json))?,
        )?;
        s.tar
            .into_inner()
            .map_err(ImageError::stream("finishing the archive"))
    }
}
