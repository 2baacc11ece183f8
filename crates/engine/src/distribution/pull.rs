//! `docker pull`: resolve the manifest (choosing a platform from a list), fetch the config,
//! stream the missing layers concurrently into the store, record the image last.

use std::sync::Arc;

use berth_image::config::ImageConfig;
use berth_image::{Digest, PulledImage, Reference, RemoteLayer, chain_id};
use berth_registry::manifest::{ImageManifest, Manifest, Platform, select};
use berth_registry::{BlobReader, Credentials, FetchedManifest, Repo};
use tokio::task::JoinSet;

use super::error::{DistributionError, Result};
use super::progress::{Counting, Progress, short};
use super::{DistributionInfo, MAX_CONCURRENT_DOWNLOADS};
use crate::engine::Engine;

/// Largest image config berth reads.
const MAX_CONFIG: usize = 16 << 20;

/// What a pull produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The image id (`sha256:` + the config's digest).
    pub id: String,
    /// The digest of what was referenced (an index for multi-platform tags).
    pub digest: String,
    /// Whether the tag moved (false: "Image is up to date").
    pub updated: bool,
}

fn invalid(what: impl Into<String>, why: impl Into<String>) -> DistributionError {
    DistributionError::Invalid {
        what: what.into(),
        why: why.into(),
    }
}

fn digest(s: &str) -> Result<Digest> {
    Ok(Digest::parse(s)?)
}

/// Keeps a pull's layers and blobs from gc until it is done.
struct Lease<'a> {
    engine: &'a Engine,
    id: u64,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.engine.images().release(self.id);
    }
}

impl Engine {
    /// Pulls `reference` (`busybox`, `localhost:5000/app:1`, `app@sha256:...`) for
    /// `platform` (`linux/arm64`; default the host's), with `creds` (anonymous when empty),
    /// reporting to `progress`. This is the entry point for the builder (`FROM`, `--pull`)
    /// as for the API; an image already present is not fetched again.
    pub async fn pull(
        &self,
        reference: &str,
        platform: Option<&str>,
        creds: &Credentials,
        progress: &Progress,
    ) -> crate::Result<Pulled> {
        let r = Reference::parse(reference).map_err(DistributionError::from)?;
        let platform = match platform.filter(|p| !p.is_empty()) {
            Some(p) => Platform::parse(p).map_err(DistributionError::from)?,
            None => Platform::host(),
        };
        Ok(pull_ref(self, &r, &platform, creds, progress).await?)
    }

    /// `docker pull -a`: every tag of the repository.
    pub async fn pull_all_tags(
        &self,
        repository: &str,
        platform: Option<&str>,
        creds: &Credentials,
        progress: &Progress,
    ) -> crate::Result<Vec<Pulled>> {
        let r = Reference::parse_name_only(repository).map_err(DistributionError::from)?;
        let endpoint = self.registry().endpoints(&r.domain, true).remove(0);
        let repo = self
            .session(&r.domain, &endpoint, &r.path, "pull", &[], creds)
            .repo(&r.path);
        let tags = repo.tags().await.map_err(DistributionError::from)?;
        let mut out = Vec::new();
        for t in tags {
            let one = format!("{}:{t}", r.repository());
            out.push(self.pull(&one, platform, creds, progress).await?);
        }
        Ok(out)
    }
}

/// Tries the endpoints in turn (mirrors first for Docker Hub).
async fn pull_ref(
    engine: &Engine,
    r: &Reference,
    platform: &Platform,
    creds: &Credentials,
    progress: &Progress,
) -> Result<Pulled> {
    let endpoints = engine.registry().endpoints(&r.domain, true);
    let last = endpoints.len() - 1;
    for (i, endpoint) in endpoints.iter().enumerate() {
        let repo = engine
            .session(&r.domain, endpoint, &r.path, "pull", &[], creds)
            .repo(&r.path);
        match pull_from(engine, &repo, r, platform, progress).await {
            Err(DistributionError::Registry(e)) if i < last => {
                tracing::info!(%endpoint, error = %e, "mirror failed; trying the next endpoint");
            }
            other => return other,
        }
    }
    unreachable!("endpoints always include the registry itself")
}

/// The image manifest for `platform`, and the digest of what was referenced.
async fn resolve(
    repo: &Repo,
    r: &Reference,
    platform: &Platform,
) -> Result<(FetchedManifest, ImageManifest, String)> {
    let reference = r.digest.as_ref().map_or_else(
        || r.tag.clone().unwrap_or_else(|| "latest".into()),
        ToString::to_string,
    );
    let top = repo.manifest(&reference).await?;
    let what = r.familiar();
    let (m, media) = Manifest::parse(&top.bytes, &top.media_type, &what)?;
    let referenced = top.digest.clone();
    match m {
        Manifest::Image(im) => Ok((
            FetchedManifest {
                media_type: media,
                ..top
            },
            im,
            referenced,
        )),
        Manifest::Index(idx) => {
            let d = select(&idx, platform)?;
            let sub = repo.manifest(&d.digest).await?;
            match Manifest::parse(&sub.bytes, &sub.media_type, &what)? {
                (Manifest::Image(im), media) => Ok((
                    FetchedManifest {
                        media_type: media,
                        ..sub
                    },
                    im,
                    referenced,
                )),
                (Manifest::Index(_), _) => Err(invalid(
                    format!("manifest list for {what}"),
                    "an entry is itself a manifest list",
                )),
            }
        }
    }
}

pub(super) async fn inspect(
    engine: &Engine,
    reference: &str,
    creds: &Credentials,
) -> Result<DistributionInfo> {
    let r = Reference::parse(reference)?;
    let endpoint = engine
        .registry()
        .endpoints(&r.domain, true)
        .pop()
        .unwrap_or_default();
    let repo = engine
        .session(&r.domain, &endpoint, &r.path, "pull", &[], creds)
        .repo(&r.path);
    let reference = r.digest.as_ref().map_or_else(
        || r.tag.clone().unwrap_or_else(|| "latest".into()),
        ToString::to_string,
    );
    let top = repo.manifest(&reference).await?;
    let (m, media) = Manifest::parse(&top.bytes, &top.media_type, &r.familiar())?;
    let platforms = match m {
        Manifest::Index(idx) => idx
            .manifests
            .iter()
            .filter_map(|d| d.platform.clone())
            .collect(),
        Manifest::Image(im) => {
            let cfg = repo.blob_bytes(&im.config.digest, MAX_CONFIG).await?;
            let c = ImageConfig::parse(&cfg)?;
            vec![Platform {
                architecture: c.architecture,
                os: c.os,
                variant: c.variant,
            }]
        }
    };
    Ok(DistributionInfo {
        media_type: media,
        digest: top.digest,
        size: top.bytes.len() as u64,
        platforms,
    })
}

async fn pull_from(
    engine: &Engine,
    repo: &Repo,
    r: &Reference,
    platform: &Platform,
    progress: &Progress,
) -> Result<Pulled> {
    let (manifest, im, referenced) = resolve(repo, r, platform).await?;
    let header_id = r
        .digest
        .as_ref()
        .map_or_else(|| r.tag.clone().unwrap_or_default(), ToString::to_string);
    progress.header(&header_id, format!("Pulling from {}", r.path));
    let config = repo.blob_bytes(&im.config.digest, MAX_CONFIG).await?;
    let cfg = ImageConfig::parse(&config)?;
    if cfg.rootfs.diff_ids.len() != im.layers.len() {
        return Err(invalid(
            format!("image {}", r.familiar()),
            format!(
                "the config lists {} layers, the manifest {}",
                cfg.rootfs.diff_ids.len(),
                im.layers.len()
            ),
        ));
    }
    let mut layers = Vec::new();
    let mut parent: Option<Digest> = None;
    for (d, diff) in im.layers.iter().zip(&cfg.rootfs.diff_ids) {
        layers.push(RemoteLayer {
            parent: parent.clone(),
            diff_id: diff.clone(),
            blob: digest(&d.digest)?,
            media_type: d.media_type.clone(),
            repository: r.repository(),
        });
        parent = Some(chain_id(parent.as_ref(), diff));
    }
    let chains: Vec<Digest> = layers
        .iter()
        .map(|l| chain_id(l.parent.as_ref(), &l.diff_id))
        .collect();
    // The config and manifest blobs are written before the image record that keeps them.
    let mut pinned = chains.clone();
    pinned.push(Digest::of(&config));
    pinned.push(Digest::of(&manifest.bytes));
    let _lease = Lease {
        engine,
        id: engine.images().lease(pinned),
    };
    fetch_layers(engine, repo, &im, &layers, progress).await?;
    let tag = r.digest.is_none().then_some(r);
    let images = engine.images();
    let had = images.lookup(Digest::of(&config).as_str()).is_ok();
    let (id, moved) = images.add_pulled_image(&PulledImage {
        config: &config,
        layers: chains,
        tag,
        repo_digest: format!("{}@{referenced}", r.repository()),
        manifest: (&manifest.bytes, &manifest.media_type),
        repository: r.repository(),
    })?;
    let updated = if r.digest.is_some() { !had } else { moved };
    progress.status(format!("Digest: {referenced}"));
    progress.status(if updated {
        format!("Status: Downloaded newer image for {}", r.familiar())
    } else {
        format!("Status: Image is up to date for {}", r.familiar())
    });
    engine.events().publish(
        "image",
        "pull",
        &r.familiar(),
        std::collections::HashMap::from([("name".to_owned(), r.familiar())]),
    );
    Ok(Pulled {
        id: id.to_string(),
        digest: referenced,
        updated,
    })
}

/// Downloads and unpacks the layers not yet present, [`MAX_CONCURRENT_DOWNLOADS`] at once.
async fn fetch_layers(
    engine: &Engine,
    repo: &Repo,
    im: &ImageManifest,
    layers: &[RemoteLayer],
    progress: &Progress,
) -> Result<()> {
    let images = engine.images();
    let mut todo = Vec::new();
    for (l, d) in layers.iter().zip(&im.layers) {
        let id = short(&d.digest);
        if images.has_layer(&chain_id(l.parent.as_ref(), &l.diff_id)) {
            progress.layer(&id, "Already exists");
            // Remember this repository holds the blob, for pushes that mount it.
            let _ = images.pull_layer(l, std::io::empty);
        } else {
            progress.layer(&id, "Pulling fs layer");
            todo.push((l.clone(), d.size, id));
        }
    }
    for (_, _, id) in todo.iter().skip(MAX_CONCURRENT_DOWNLOADS) {
        progress.layer(id, "Waiting");
    }
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_DOWNLOADS));
    let mut tasks = JoinSet::new();
    for (layer, size, id) in todo {
        let (engine, repo, progress, slots) = (
            engine.clone(),
            repo.clone(),
            progress.clone(),
            slots.clone(),
        );
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            fetch_layer(&engine, &repo, &layer, size, &id, &progress).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => {
                return Err(DistributionError::Task {
                    what: "downloading a layer".into(),
                    source: e,
                });
            }
        }
    }
    Ok(())
}

/// One layer: a task streams the blob, a blocking thread hashes and unpacks it.
async fn fetch_layer(
    engine: &Engine,
    repo: &Repo,
    layer: &RemoteLayer,
    size: u64,
    id: &str,
    progress: &Progress,
) -> Result<()> {
    let (tx, reader) = BlobReader::channel(32);
    let download = {
        let (repo, blob) = (repo.clone(), layer.blob.to_string());
        tokio::spawn(async move { repo.stream_blob(&blob, size, tx).await })
    };
    let unpack = {
        let (engine, layer, progress, id) = (
            engine.clone(),
            layer.clone(),
            progress.clone(),
            id.to_owned(),
        );
        tokio::task::spawn_blocking(move || {
            let counting = Counting {
                inner: reader,
                progress,
                id,
                status: "Downloading",
                total: size,
                count: 0,
                reported: 0,
            };
            engine.images().pull_layer(&layer, move || counting)
        })
    };
    let unpacked = unpack.await;
    // The download's error explains a failed unpack better than "truncated".
    match download.await {
        Ok(Err(e)) => return Err(e.into()),
        Err(e) if !e.is_cancelled() => {
            return Err(DistributionError::Task {
                what: format!("downloading layer {}", layer.blob),
                source: e,
            });
        }
        _ => {}
    }
    match unpacked {
        Ok(r) => r?,
        Err(e) => {
            return Err(DistributionError::Task {
                what: format!("unpacking layer {}", layer.blob),
                source: e,
            });
        }
    };
    progress.layer(id, "Verifying Checksum");
    progress.layer(id, "Download complete");
    progress.bytes(id, "Extracting", size, size);
    progress.layer(id, "Pull complete");
    Ok(())
}
