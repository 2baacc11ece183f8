//! Images: import, lookup, inspect, list, tag, delete, history, prune.

use std::io::Read;

use bollard_stubs::models::ContainerConfig;

use crate::config::{self, History, ImageConfig, RootFs};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::layers::Expect;
use crate::reference::Reference;
use crate::store::{ImageRecord, ImageStore, write_json};

/// An image as a container needs it.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// `sha256:<hex>`.
    pub id: String,
    pub config: ContainerConfig,
}

/// Everything `docker image inspect` and `docker images` show.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: Option<String>,
    pub comment: Option<String>,
    pub created: Option<String>,
    pub author: Option<String>,
    pub docker_version: Option<String>,
    pub config: Option<ContainerConfig>,
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
    /// Sum of the layers' sizes.
    pub size: u64,
    pub diff_ids: Vec<String>,
    /// Chain ids of the layers, base first (to count shared ones once).
    pub layers: Vec<String>,
}

/// `docker import` options.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub reference: Option<String>,
    /// Dockerfile instructions (`CMD ["sh"]`, `ENV A=1`).
    pub changes: Vec<String>,
    pub message: Option<String>,
}

/// One line of `docker rmi` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(String),
}

/// A container using an image: (container id, running).
pub type InUse<'a> = &'a dyn Fn(&str) -> Option<(String, bool)>;

/// One row of `docker history`.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    /// The image id for the top row, `<missing>` below it (as Docker shows layers of pulled images).
    pub id: String,
    pub created: Option<String>,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub comment: String,
}

impl ImageStore {
    /// Finds an image by reference, full or short id (`sha256:` optional), or `repo@digest`.
    pub fn lookup(&self, reference: &str) -> Result<Digest> {
        let index = self.lock();
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        if hex.len() >= 4 && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = index.images.keys().filter(|d| d.hex().starts_with(hex));
            if let (Some(d), None) = (found.next(), found.next()) {
                return Ok(d.clone());
            }
        }
        if let Ok(r) = Reference::parse(reference) {
            if let Some(id) = index.refs.get(&r.full()) {
                return Ok(id.clone());
            }
            if let Some(d) = &r.digest {
                let want = format!("{}@{}", r.repository(), d);
                if let Some(img) = index
                    .images
                    .values()
                    .find(|i| i.repo_digests.contains(&want))
                {
                    return Ok(img.id.clone());
                }
            }
        }
        Err(ImageError::NotFound(reference.to_owned()))
    }

    /// The image's parsed config.
    pub(crate) fn config_of(&self, id: &Digest) -> Result<ImageConfig> {
        ImageConfig::parse(&self.read_blob(id)?)
    }

    pub fn resolve(&self, reference: &str) -> Result<ResolvedImage> {
        let id = self.lookup(reference)?;
        let cfg = self.config_of(&id)?;
        Ok(ResolvedImage {
            id: id.to_string(),
            config: cfg.config.unwrap_or_default(),
        })
    }

    /// Records an image whose config is `config_bytes` over `layers` (chain ids), and tags it.
    pub(crate) fn add_image(
        &self,
        config_bytes: &[u8],
        layers: Vec<Digest>,
        parent: Option<Digest>,
        tags: &[Reference],
        repo_digests: Vec<String>,
    ) -> Result<Digest> {
        let id = self.put_blob(config_bytes)?;
        let mut index = self.lock();
        let mut rec = index.images.get(&id).cloned().unwrap_or(ImageRecord {
            id: id.clone(),
            layers,
            repo_digests: Vec::new(),
            parent,
            loaded_at: chrono::Utc::now(),
            manifests: Vec::new(),
        });
        for d in repo_digests {
            if !rec.repo_digests.contains(&d) {
                rec.repo_digests.push(d);
            }
        }
        write_json(
            &self.root.join("images").join(format!("{}.json", id.hex())),
            &rec,
        )?;
        index.images.insert(id.clone(), rec);
        for t in tags {
            index.refs.insert(t.full(), id.clone());
        }
        if !tags.is_empty() {
            self.save_refs(&index)?;
        }
        Ok(id)
    }

    /// `docker import`: a root filesystem tarball becomes a one-layer image.
    pub fn import<R: Read>(&self, reader: R, opts: ImportOptions) -> Result<String> {
        let tag = opts
            .reference
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(Reference::parse)
            .transpose()?;
        let mut cc = ContainerConfig::default();
        for c in &opts.changes {
            config::apply_change(&mut cc, c)?;
        }
        let layer = self.add_layer(reader, None, Expect::default())?;
        let created = config::now();
        let cfg = ImageConfig {
            architecture: go_arch().into(),
            os: "linux".into(),
            created: Some(created.clone()),
            comment: opts.message.clone(),
            config: Some(cc),
            history: vec![History {
                created: Some(created),
                comment: Some(
                    opts.message
                        .clone()
                        .unwrap_or_else(|| "Imported from -".into()),
                ),
                ..History::default()
            }],
            rootfs: RootFs {
                typ: "layers".into(),
                diff_ids: vec![layer.diff_id.clone()],
            },
            ..ImageConfig::default()
        };
        let bytes = cfg.to_bytes()?;
        let tags: Vec<Reference> = tag.into_iter().collect();
        let id = self.add_image(&bytes, vec![layer.chain_id], None, &tags, Vec::new())?;
        Ok(id.to_string())
    }

    fn tags_of(&self, id: &Digest) -> Vec<String> {
        let index = self.lock();
        index
            .refs
            .iter()
            .filter(|(r, i)| *i == id && !r.contains('@'))
            .filter_map(|(r, _)| Reference::parse(r).ok())
            .map(|r| r.familiar())
            .collect()
    }

    pub fn inspect(&self, reference: &str) -> Result<ImageInfo> {
        let id = self.lookup(reference)?;
        self.info(&id)
    }

    fn info(&self, id: &Digest) -> Result<ImageInfo> {
        let rec = self
            .lock()
            .images
            .get(id)
            .cloned()
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let cfg = self.config_of(id)?;
        let size = {
            let index = self.lock();
            rec.layers
                .iter()
                .filter_map(|l| index.layers.get(l))
                .map(|l| l.size)
                .sum()
        };
        Ok(ImageInfo {
            id: id.to_string(),
            repo_tags: self.tags_of(id),
            repo_digests: rec
                .repo_digests
                .iter()
                .filter_map(|d| Reference::parse_name_only(d).ok().map(|r| r.familiar()))
                .collect(),
            parent: rec.parent.as_ref().map(ToString::to_string),
            comment: cfg.comment.clone(),
            created: cfg.created.clone(),
            author: cfg.author.clone(),
            docker_version: cfg.docker_version.clone(),
            config: cfg.config.clone(),
            architecture: cfg.architecture.clone(),
            os: cfg.os.clone(),
            variant: cfg.variant.clone(),
            size,
            diff_ids: cfg
                .rootfs
                .diff_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
            layers: rec.layers.iter().map(ToString::to_string).collect(),
        })
    }

    /// Every image.
    pub fn list(&self) -> Vec<ImageInfo> {
        let ids: Vec<Digest> = self.lock().images.keys().cloned().collect();
        ids.iter().filter_map(|id| self.info(id).ok()).collect()
    }

    /// `docker tag source target`.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let id = self.lookup(source)?;
        let r = Reference::parse(target)?;
        if r.digest.is_some() {
            return Err(ImageError::invalid(
                format!("tag {target}"),
                "refusing to create a tag with a digest reference",
            ));
        }
        let mut index = self.lock();
        index.refs.insert(r.full(), id);
        self.save_refs(&index)
    }

    /// `docker rmi` with Docker's untag-versus-delete rules.
    pub fn delete(&self, reference: &str, force: bool, in_use: InUse<'_>) -> Result<Vec<Removed>> {
        let id = self.lookup(reference)?;
        let short = &id.hex()[..12];
        let by_ref = Reference::parse(reference)
            .ok()
            .filter(|r| self.lock().refs.get(&r.full()) == Some(&id));
        let tags: Vec<String> = self
            .lock()
            .refs
            .iter()
            .filter(|(_, i)| **i == id)
            .map(|(r, _)| r.clone())
            .collect();
        let user = in_use(id.as_str());
        let mut out = Vec::new();
        if let Some(r) = by_ref {
            if tags.len() > 1 || (user.is_some() && force) {
                self.untag(&r.full())?;
                return Ok(vec![Removed::Untagged(r.familiar())]);
            }
            if let Some((c, _)) = &user {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{reference}\" (must force) - container {} is using its referenced image {short}",
                    &c[..12.min(c.len())]
                )));
            }
            self.untag(&r.full())?;
            out.push(Removed::Untagged(r.familiar()));
        } else {
            if let Some((c, running)) = &user {
                let why = if *running {
                    "cannot be forced) - image is being used by running"
                } else {
                    "must be forced) - image is being used by stopped"
                };
                if *running || !force {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to delete {short} ({why} container {}",
                        &c[..12.min(c.len())]
                    )));
                }
            }
            if tags.len() > 1 && !force {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                )));
            }
            for t in &tags {
                self.untag(t)?;
                if let Ok(r) = Reference::parse(t) {
                    out.push(Removed::Untagged(r.familiar()));
                }
            }
        }
        out.extend(self.remove_image(&id)?);
        Ok(out)
    }

    fn untag(&self, full: &str) -> Result<()> {
        let mut index = self.lock();
        index.refs.remove(full);
        self.save_refs(&index)
    }

    /// Deletes an image record and whatever layers only it needed.
    fn remove_image(&self, id: &Digest) -> Result<Vec<Removed>> {
        let before: Vec<Digest> = self.lock().layers.keys().cloned().collect();
        {
            let mut index = self.lock();
            index.images.remove(id);
            index.refs.retain(|_, i| i != id);
            self.save_refs(&index)?;
        }
        let _ = std::fs::remove_file(self.root.join("images").join(format!("{}.json", id.hex())));
        self.gc();
        let after = self.lock().layers.clone();
        let mut out = vec![Removed::Deleted(id.to_string())];
        out.extend(
            before
                .into_iter()
                .filter(|l| !after.contains_key(l))
                .map(|l| Removed::Deleted(l.to_string())),
        );
        Ok(out)
    }

    /// `docker history`: newest first; layer sizes on the entries that made a layer.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryRow>> {
        let id = self.lookup(reference)?;
        let cfg = self.config_of(&id)?;
        let rec = self
            .lock()
            .images
            .get(&id)
            .cloned()
            .ok_or_else(|| ImageError::NotFound(reference.to_owned()))?;
        let sizes: Vec<u64> = {
            let index = self.lock();
            rec.layers
                .iter()
                .map(|l| index.layers.get(l).map_or(0, |x| x.size))
                .collect()
        };
        let mut layer_i = 0;
        let mut rows = Vec::new();
        for h in &cfg.history {
            let size = if h.empty_layer {
                0
            } else {
                sizes.get(layer_i).copied().unwrap_or(0)
            };
            if !h.empty_layer {
                layer_i += 1;
            }
            rows.push(HistoryRow {
                id: "<missing>".into(),
                created: h.created.clone(),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top.id = id.to_string();
            top.tags = self.tags_of(&id);
        }
        Ok(rows)
    }

    /// `docker image prune`: dangling images, or with `all` every image no container uses.
    pub fn prune(&self, all: bool, in_use: InUse<'_>) -> Result<(Vec<Removed>, u64)> {
        let candidates: Vec<Digest> = {
            let index = self.lock();
            index
                .images
                .keys()
                .filter(|id| all || !index.refs.values().any(|i| i == *id))
                .cloned()
                .collect()
        };
        let mut out = Vec::new();
        let mut reclaimed = 0;
        for id in candidates {
            if in_use(id.as_str()).is_some() {
                continue;
            }
            let size = self.info(&id).map_or(0, |i| i.size);
            let tags: Vec<String> = self
                .lock()
                .refs
                .iter()
                .filter(|(_, i)| **i == id)
                .map(|(r, _)| r.clone())
                .collect();
            for t in tags {
                self.untag(&t)?;
                if let Ok(r) = Reference::parse(&t) {
                    out.push(Removed::Untagged(r.familiar()));
                }
            }
            out.extend(self.remove_image(&id)?);
            reclaimed += size;
        }
        Ok((out, reclaimed))
    }

    /// Bytes of all unpacked layers, each counted once (for `system df`).
    pub fn layers_size(&self) -> u64 {
        self.lock().layers.values().map(|l| l.size).sum()
    }

    /// Size of each layer by chain id (for shared-size accounting).
    pub fn layer_sizes(&self) -> std::collections::BTreeMap<String, u64> {
        self.lock()
            .layers
            .values()
            .map(|l| (l.chain_id.to_string(), l.size))
            .collect()
    }
}

pub(crate) fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
