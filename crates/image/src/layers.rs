//! Adding a layer: one pass over the input — the raw bytes go to a blob (hashed as they
//! pass), the decompressed bytes through sha256 (the diff id) into the unpacker. The layer
//! becomes visible only when complete and verified.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::digest::{Digest, HashingReader, HashingWriter};
use crate::error::{ImageError, Result};
use crate::store::{ImageStore, LayerRecord, write_json};
use crate::unpack;

/// Media types of layers berth stores.
pub(crate) const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub(crate) const TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub(crate) const TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Copies what is read into a writer (the blob being ingested).
struct Tee<R, W> {
    r: R,
    w: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.w.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Compression, from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub(crate) fn detect(head: &[u8]) -> Result<Self> {
        Ok(match head {
            [0x1f, 0x8b, ..] => Self::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Self::Zstd,
            [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => {
                return Err(ImageError::NotImplemented(
                    "xz-compressed layers are not supported; use gzip or zstd".into(),
                ));
            }
            [b'B', b'Z', b'h', ..] => {
                return Err(ImageError::NotImplemented(
                    "bzip2-compressed layers are not supported; use gzip or zstd".into(),
                ));
            }
            _ => Self::None,
        })
    }

    pub(crate) fn media_type(self) -> &'static str {
        match self {
            Self::None => TAR,
            Self::Gzip => TAR_GZIP,
            Self::Zstd => TAR_ZSTD,
        }
    }

    /// Wraps `r` in the matching decompressor.
    pub(crate) fn reader<'a, R: BufRead + 'a>(self, r: R) -> Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Self::None => Box::new(r),
            Self::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            Self::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(r)
                    .map_err(ImageError::stream("starting zstd"))?,
            ),
        })
    }
}

/// Docker's chain id: the diff id of the base layer, then sha256("<parent chain> <diff id>").
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(p) => {
            let mut h = Sha256::new();
            h.update(format!("{p} {diff_id}").as_bytes());
            Digest::from_hasher(h)
        }
    }
}

fn random_name() -> String {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    hex::encode(b)
}

/// What a caller knows about a layer before reading it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Expect<'a> {
    pub(crate) diff_id: Option<&'a Digest>,
    pub(crate) blob: Option<&'a Digest>,
    /// The blob's media type as a manifest names it (else from the bytes).
    pub(crate) media_type: Option<&'a str>,
}

/// A half-made layer directory and its blob file: removed on drop unless committed.
#[derive(Debug)]
struct TempLayer {
    ingest: std::path::PathBuf,
    tmp_layer: std::path::PathBuf,
    committed: bool,
}

impl Drop for TempLayer {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp_layer);
            let _ = std::fs::remove_file(&self.ingest);
        }
    }
}

/// A layer unpacked into a temporary directory, with its blob beside it, not yet in the
/// store: its chain id needs its parent, which a `docker load` archive names only at its end.
/// Dropped uncommitted, both are removed.
#[derive(Debug)]
pub(crate) struct Staged {
    temp: TempLayer,
    pub(crate) diff_id: Digest,
    pub(crate) blob: Digest,
    compression: Compression,
    size: u64,
    diff_size: u64,
}

impl ImageStore {
    /// Reads a layer (tar, gzip or zstd) on top of `parent` and returns its record. A layer
    /// already in the store is not unpacked again.
    pub(crate) fn add_layer<R: Read>(
        &self,
        input: R,
        parent: Option<&Digest>,
        expect: Expect<'_>,
    ) -> Result<LayerRecord> {
        let expected_chain = expect.diff_id.map(|d| chain_id(parent, d));
        let slot = expected_chain.as_ref().map(|c| self.layer_slot(c));
        let _held = slot
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if let Some(chain) = &expected_chain
            && let Some(existing) = self.lock().layers.get(chain).cloned()
        {
            return Ok(existing);
        }
        let staged = self.stage_layer(input)?;
        self.commit_staged_as(staged, parent, expect, expected_chain.is_some())
    }

    /// Unpacks a layer into a temporary directory while its raw bytes go to a blob file; one
    /// pass, both digests computed on the way.
    pub(crate) fn stage_layer<R: Read>(&self, input: R) -> Result<Staged> {
        let tmp_name = random_name();
        let temp = TempLayer {
            ingest: self.root.join("ingest").join(&tmp_name),
            tmp_layer: self.root.join("layers").join(format!(".tmp-{tmp_name}")),
            committed: false,
        };
        let ingest = &temp.ingest;
        let diff_dir = temp.tmp_layer.join("diff");
        std::fs::create_dir_all(&diff_dir).map_err(ImageError::io("creating", &diff_dir))?;
        let blob_file =
            std::fs::File::create(ingest).map_err(ImageError::io("creating", ingest))?;
        let mut raw = BufReader::with_capacity(
            256 * 1024,
            Tee {
                r: input,
                w: HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, blob_file)),
            },
        );
        let head = raw
            .fill_buf()
            .map_err(ImageError::stream("reading the layer"))?;
        let compression = Compression::detect(head)?;
        let (diff_id, diff_size, size) = {
            let decompressed = compression.reader(&mut raw)?;
            let mut hashing = HashingReader::new(decompressed);
            let stats = unpack::unpack(&mut hashing, &diff_dir)?;
            let (diff_id, diff_size, _) = hashing.finish().map_err(ImageError::stream(
                "reading the layer (truncated or corrupt?)",
            ))?;
            (diff_id, diff_size, stats.bytes)
        };
        io::copy(&mut raw, &mut io::sink()).map_err(ImageError::stream("reading the layer"))?;
        let Tee { w, .. } = raw.into_inner();
        let (blob, _, buf) = w.finish();
        // No fsync here: `commit_layer`'s syncfs covers the blob, on the same filesystem, with
        // the layer's files in one flush.
        buf.into_inner()
            .map_err(|e| ImageError::io("writing", ingest)(e.into_error()))?;
        Ok(Staged {
            temp,
            diff_id,
            blob,
            compression,
            size,
            diff_size,
        })
    }

    /// Puts a staged layer on top of `parent` into the store, once its digests are checked;
    /// an identical layer already there wins and the staged one is dropped.
    pub(crate) fn commit_staged(
        &self,
        staged: Staged,
        parent: Option<&Digest>,
        expect: Expect<'_>,
    ) -> Result<LayerRecord> {
        self.commit_staged_as(staged, parent, expect, false)
    }

    /// As [`Self::commit_staged`]; `locked` when the caller holds the chain's lock already.
    fn commit_staged_as(
        &self,
        mut staged: Staged,
        parent: Option<&Digest>,
        expect: Expect<'_>,
        locked: bool,
    ) -> Result<LayerRecord> {
        check(expect.diff_id, &staged.diff_id, "layer content (diff id)")?;
        check(expect.blob, &staged.blob, "layer blob")?;
        let chain = chain_id(parent, &staged.diff_id);
        let late = (!locked).then(|| self.layer_slot(&chain));
        let _late_held = late
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if let Some(existing) = self.lock().layers.get(&chain).cloned() {
            return Ok(existing);
        }
        let media_type = expect
            .media_type
            .map_or_else(|| staged.compression.media_type().to_owned(), str::to_owned);
        let record = LayerRecord {
            chain_id: chain.clone(),
            diff_id: staged.diff_id.clone(),
            parent: parent.cloned(),
            blob: staged.blob.clone(),
            media_type,
            size: staged.size,
            diff_size: staged.diff_size,
            link: chain.hex()[..12].to_owned(),
            sources: Vec::new(),
        };
        self.commit_layer(&staged.temp.tmp_layer, &staged.temp.ingest, &record)?;
        staged.temp.committed = true;
        Ok(record)
    }

    /// The lock of the layer `chain` (created on first use).
    pub(crate) fn layer_slot(&self, chain: &Digest) -> std::sync::Arc<std::sync::Mutex<()>> {
        let mut m = self
            .inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Forget locks nobody holds any more, so the map stays as small as the work in flight.
        m.retain(|_, l| std::sync::Arc::strong_count(l) > 1);
        m.entry(chain.clone()).or_default().clone()
    }

    /// Moves a complete layer and its blob into place and records it.
    pub(crate) fn commit_layer(
        &self,
        tmp_layer: &Path,
        ingest: &Path,
        record: &LayerRecord,
    ) -> Result<()> {
        if let Ok(d) = std::fs::File::open(tmp_layer) {
            let _ = nix::unistd::syncfs(d.as_fd());
        }
        write_json(&tmp_layer.join("layer.json"), record)?;
        let dest = self.layer_dir(&record.chain_id);
        std::fs::rename(tmp_layer, &dest).map_err(ImageError::io("moving a layer to", &dest))?;
        let blob = self.blob_path(&record.blob);
        std::fs::rename(ingest, &blob).map_err(ImageError::io("moving a blob to", &blob))?;
        let link = self.root.join("l").join(&record.link);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("../layers/{}/diff", record.chain_id.hex()), &link)
            .map_err(ImageError::io("linking", &link))?;
        self.lock()
            .layers
            .insert(record.chain_id.clone(), record.clone());
        Ok(())
    }

    /// Stores a blob (config, manifest) and returns its digest.
    pub(crate) fn put_blob(&self, data: &[u8]) -> Result<Digest> {
        let d = Digest::of(data);
        let p = self.blob_path(&d);
        if !p.exists() {
            berth_fsutil::atomic_write(&p, data).map_err(ImageError::io("writing", &p))?;
        }
        Ok(d)
    }

    pub(crate) fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        std::fs::read(&p).map_err(ImageError::io("reading", &p))
    }

    /// An uncompressed reader of a layer's tar (for save and commit chains).
    pub(crate) fn layer_tar(&self, chain: &Digest) -> Result<Box<dyn Read + '_>> {
        let rec = self
            .lock()
            .layers
            .get(chain)
            .cloned()
            .ok_or_else(|| ImageError::NotFound(chain.to_string()))?;
        let p = self.blob_path(&rec.blob);
        let f = std::fs::File::open(&p).map_err(ImageError::io("opening", &p))?;
        let mut r = BufReader::new(f);
        let head = r
            .fill_buf()
            .map_err(ImageError::stream("reading a layer blob"))?;
        let c = Compression::detect(head)?;
        c.reader(r)
    }
}

fn check(expected: Option<&Digest>, actual: &Digest, what: &str) -> Result<()> {
    match expected {
        Some(e) if e != actual => Err(ImageError::DigestMismatch {
            what: what.into(),
            expected: e.to_string(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_like_docker() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        assert_eq!(chain_id(None, &a), a);
        let c = chain_id(Some(&a), &b);
        assert_eq!(c, Digest::of(format!("{a} {b}").as_bytes()));
    }

    #[test]
    fn compression_magic() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8]).unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]).unwrap(),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"etc/").unwrap(), Compression::None);
        assert!(Compression::detect(b"BZh91AY").is_err());
    }
}
