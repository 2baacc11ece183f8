//! `docker push`: for each layer, a blob the registry already has (HEAD) or can mount from
//! another repository of the same registry is not sent; otherwise the blob berth keeps is
//! uploaded in chunks (or the layer is gzip-compressed deterministically on the fly). A
//! pulled image whose blobs are all reachable is pushed with its original manifest, so it
//! keeps its digest.

use std::sync::Arc;

use berth_image::{BlobSource, Digest, ManifestRef, PushImage, PushLayer, Reference};
use berth_registry::manifest::{self as mt, Descriptor, ImageManifest, Manifest};
use berth_registry::{Credentials, Repo, Started};
use bytes::Bytes;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::MAX_CONCURRENT_UPLOADS;
use super::error::{DistributionError, Result};
use super::progress::{Progress, short};
use crate::engine::Engine;

impl Engine {
    /// Pushes `reference`; without a tag, every tag of the repository (as Docker does).
    pub async fn push(
        &self,
        reference: &str,
        creds: &Credentials,
        progress: &Progress,
    ) -> crate::Result<()> {
        let r = Reference::parse_name_only(reference).map_err(DistributionError::from)?;
        let tags = match &r.tag {
            Some(t) => vec![t.clone()],
            None => {
                let mut t = self.images().repository_tags(&r.repository());
                t.sort();
                t
            }
        };
        if tags.is_empty()
            || self
                .images()
                .lookup(&format!("{}:{}", r.repository(), tags[0]))
                .is_err()
        {
            return Err(DistributionError::NoLocalTag(r.familiar()).into());
        }
        progress.status(format!(
            "The push refers to repository [{}]",
            r.repository()
        ));
        for tag in tags {
            push_tag(self, &r, &tag, creds, progress).await?;
        }
        Ok(())
    }
}

/// Other repositories of the same registry that hold blobs of `img` (mount sources).
fn mount_sources(img: &PushImage, r: &Reference) -> Vec<String> {
    let prefix = format!("{}/", r.domain);
    let mut out: Vec<String> = img
        .layers
        .iter()
        .flat_map(|l| l.sources.iter())
        .filter_map(|s| s.repository.strip_prefix(&prefix))
        .filter(|p| *p != r.path)
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out.truncate(8); // a token with too many scopes is refused by some registries
    out
}

async fn push_tag(
    engine: &Engine,
    r: &Reference,
    tag: &str,
    creds: &Credentials,
    progress: &Progress,
) -> Result<()> {
    let local = format!("{}:{tag}", r.repository());
    let img = engine.images().push_image(&local)?;
    let also = mount_sources(&img, r);
    let endpoint = engine.registry().endpoints(&r.domain, false).remove(0);
    let repo = engine
        .session(&r.domain, &endpoint, &r.path, "pull,push", &also, creds)
        .repo(&r.path);
    // The manifest the image came with, when it still describes it.
    let original: Option<(ManifestRef, Vec<u8>, ImageManifest)> =
        img.manifests.iter().find_map(|(m, b)| {
            match Manifest::parse(b, &m.media_type, &local).ok()? {
                (Manifest::Image(im), _)
                    if im.layers.len() == img.layers.len()
                        && im.config.digest == img.id.as_str() =>
                {
                    Some((m.clone(), b.clone(), im))
                }
                _ => None,
            }
        });
    for l in &img.layers {
        progress.layer(&short(l.diff_id.as_str()), "Preparing");
    }
    let descriptors = push_layers(
        engine,
        &repo,
        r,
        &img,
        original.as_ref().map(|o| &o.2),
        progress,
    )
    .await?;
    push_config(&repo, &img).await?;
    let reuse = original.as_ref().filter(|(_, _, im)| {
        im.layers
            .iter()
            .zip(&descriptors)
            .all(|(a, b)| a.digest == b.digest)
    });
    let (bytes, media) = match reuse {
        Some((m, b, _)) => (b.clone(), m.media_type.clone()),
        None => build_manifest(&img, &descriptors)?,
    };
    let size = bytes.len();
    let digest = repo
        .put_manifest(tag, &media, Bytes::from(bytes.clone()))
        .await?;
    let images = engine.images();
    let stored = images.store_blob(&bytes)?;
    images.add_manifest(
        &img.id,
        ManifestRef {
            digest: stored,
            media_type: media,
            repository: r.repository(),
        },
    )?;
    images.add_repo_digest(&img.id, format!("{}@{digest}", r.repository()))?;
    progress.status(format!("{tag}: digest: {digest} size: {size}"));
    progress.aux(json!({"Tag": tag, "Digest": digest, "Size": size}));
    engine.events().publish(
        "image",
        "push",
        &local,
        std::collections::HashMap::from([(
            "name".to_owned(),
            format!("{}:{tag}", r.familiar_repository()),
        )]),
    );
    Ok(())
}

async fn push_layers(
    engine: &Engine,
    repo: &Repo,
    r: &Reference,
    img: &PushImage,
    original: Option<&ImageManifest>,
    progress: &Progress,
) -> Result<Vec<Descriptor>> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_UPLOADS));
    let mut tasks = JoinSet::new();
    for (i, layer) in img.layers.iter().enumerate() {
        let wanted = original.and_then(|m| m.layers.get(i)).cloned();
        let (engine, repo, r, layer, progress, slots) = (
            engine.clone(),
            repo.clone(),
            r.clone(),
            layer.clone(),
            progress.clone(),
            slots.clone(),
        );
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let d = push_layer(&engine, &repo, &r, &layer, wanted.as_ref(), &progress).await?;
            Ok::<_, DistributionError>((i, d))
        });
    }
    let mut out: Vec<Option<Descriptor>> = vec![None; img.layers.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, d) = done.map_err(|e| DistributionError::Task {
            what: "pushing a layer".into(),
            source: e,
        })??;
        out[i] = Some(d);
    }
    Ok(out.into_iter().flatten().collect())
}

/// Docker's media type for a blob berth keeps.
fn docker_media_type(oci: &str) -> &str {
    match oci {
        mt::OCI_LAYER_GZIP => mt::DOCKER_LAYER_GZIP,
        other => other,
    }
}

fn descriptor(digest: &str, media_type: &str, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest: digest.to_owned(),
        size,
        urls: Vec::new(),
        platform: None,
    }
}

/// One layer: skip, mount, upload the kept blob, or compress and upload.
async fn push_layer(
    engine: &Engine,
    repo: &Repo,
    r: &Reference,
    layer: &PushLayer,
    wanted: Option<&Descriptor>,
    progress: &Progress,
) -> Result<Descriptor> {
    let id = short(layer.diff_id.as_str());
    // 1. A blob the registry already has in this repository.
    let mut known: Vec<(String, String, Option<u64>)> = Vec::new();
    if let Some(w) = wanted {
        known.push((w.digest.clone(), w.media_type.clone(), Some(w.size)));
    }
    for s in &layer.sources {
        known.push((s.digest.to_string(), s.media_type.clone(), None));
    }
    if layer.media_type != mt::OCI_LAYER {
        known.push((
            layer.blob.to_string(),
            layer.media_type.clone(),
            Some(layer.blob_size),
        ));
    }
    for (d, media, size) in &known {
        if let Some(found) = repo.has_blob(d).await? {
            progress.layer(&id, "Layer already exists");
            return Ok(descriptor(
                d,
                docker_media_type(media),
                size.unwrap_or(found),
            ));
        }
    }
    // 2. Mount from another repository of the same registry.
    let prefix = format!("{}/", r.domain);
    for s in &layer.sources {
        let Some(from) = s.repository.strip_prefix(&prefix).filter(|p| *p != r.path) else {
            continue;
        };
        if let Started::Mounted = repo.start_upload(Some((s.digest.as_str(), from))).await? {
            progress.layer(&id, &format!("Mounted from {from}"));
            let size = repo.has_blob(s.digest.as_str()).await?.unwrap_or(0);
            return Ok(descriptor(
                s.digest.as_str(),
                docker_media_type(&s.media_type),
                size,
            ));
        }
    }
    // 3. Upload.
    let Started::Upload(location) = repo.start_upload(None).await? else {
        unreachable!("an upload without mount is never mounted");
    };
    let compressed = layer.media_type != mt::OCI_LAYER;
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(8);
    let reader = {
        let (engine, layer) = (engine.clone(), layer.clone());
        tokio::task::spawn_blocking(move || send_layer(&engine, &layer, compressed, &tx))
    };
    let total = layer.blob_size;
    let report = {
        let (progress, id) = (progress.clone(), id.clone());
        move |n: u64| progress.bytes(&id, "Pushing", n, total.max(n))
    };
    let expect = compressed.then(|| layer.blob.to_string());
    let uploaded = repo
        .upload_chunked(location, rx, expect.as_deref(), &report)
        .await;
    let sent = reader.await.map_err(|e| DistributionError::Task {
        what: format!("reading layer {}", layer.chain_id),
        source: e,
    })?;
    sent?;
    let (digest, size) = uploaded?;
    let media = if compressed {
        docker_media_type(&layer.media_type)
    } else {
        mt::DOCKER_LAYER_GZIP
    };
    engine.images().add_layer_source(
        &layer.chain_id,
        BlobSource {
            digest: Digest::parse(&digest)?,
            media_type: media.to_owned(),
            repository: r.repository(),
        },
    )?;
    progress.layer(&id, "Pushed");
    Ok(descriptor(&digest, media, size))
}

/// Reads the kept blob (or the gzip-compressed diff) into `tx`, on a blocking thread.
fn send_layer(
    engine: &Engine,
    layer: &PushLayer,
    compressed: bool,
    tx: &mpsc::Sender<std::io::Result<Bytes>>,
) -> Result<()> {
    use std::io::Read;
    let images = engine.images();
    let mut reader: Box<dyn Read + '_> = if compressed {
        Box::new(images.open_blob(&layer.blob)?)
    } else {
        Box::new(images.gzipped_layer(&layer.chain_id)?)
    };
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) => {
                let msg = e.to_string();
                let _ = tx.blocking_send(Err(e));
                return Err(DistributionError::Invalid {
                    what: format!("reading layer {}", layer.chain_id),
                    why: msg,
                });
            }
        };
        if tx
            .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
            .is_err()
        {
            return Ok(()); // the upload failed; its error is reported
        }
    }
}

async fn push_config(repo: &Repo, img: &PushImage) -> Result<()> {
    if repo.has_blob(img.id.as_str()).await?.is_some() {
        return Ok(());
    }
    if let Started::Upload(loc) = repo.start_upload(None).await? {
        repo.put_blob(&loc, img.id.as_str(), Bytes::from(img.config.clone()))
            .await?;
    }
    Ok(())
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OutManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: OutDescriptor<'a>,
    layers: Vec<OutDescriptor<'a>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OutDescriptor<'a> {
    media_type: &'a str,
    size: u64,
    digest: &'a str,
}

/// A Docker schema 2 manifest (OCI when a layer is zstd, which schema 2 cannot describe),
/// indented with three spaces and in Docker's field order, as dockerd writes it.
fn build_manifest(img: &PushImage, layers: &[Descriptor]) -> Result<(Vec<u8>, String)> {
    let oci = layers.iter().any(|l| l.media_type == mt::OCI_LAYER_ZSTD);
    let (media, config_media) = if oci {
        (mt::OCI_MANIFEST, mt::OCI_CONFIG)
    } else {
        (mt::DOCKER_MANIFEST, mt::DOCKER_CONFIG)
    };
    let m = OutManifest {
        schema_version: 2,
        media_type: media,
        config: OutDescriptor {
            media_type: config_media,
            size: img.config.len() as u64,
            digest: img.id.as_str(),
        },
        layers: layers
            .iter()
            .map(|l| OutDescriptor {
                media_type: if oci && l.media_type == mt::DOCKER_LAYER_GZIP {
                    mt::OCI_LAYER_GZIP
                } else {
                    l.media_type.as_str()
                },
                size: l.size,
                digest: &l.digest,
            })
            .collect(),
    };
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&m, &mut ser).map_err(|e| DistributionError::Invalid {
        what: "manifest".into(),
        why: e.to_string(),
    })?;
    Ok((out, media.to_owned()))
}
