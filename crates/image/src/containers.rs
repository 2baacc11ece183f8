//! Containers' writable layers (active snapshots). The store describes the overlay mount; the
//! engine performs it (in its own mount namespace, at its own path).

use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::store::{ContainerLayer, ImageStore, write_json};

/// A mount to perform, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub typ: String,
    pub source: String,
    pub options: Vec<String>,
}

/// The marker file at the root of every container.
pub(crate) const DOCKERENV: &str = ".dockerenv";

impl ImageStore {
    /// Creates container `id`'s writable layer over `image_id` and returns its mounts.
    pub fn prepare(&self, id: &str, image_id: &str) -> Result<Vec<Mount>> {
        let image = self.lookup(image_id)?;
        let layers = self
            .lock()
            .images
            .get(&image)
            .map(|i| i.layers.clone())
            .ok_or_else(|| ImageError::NotFound(image_id.to_owned()))?;
        let dir = self.container_dir(id);
        if dir.exists() {
            return Err(ImageError::Conflict(format!(
                "a writable layer for container {id} already exists"
            )));
        }
        let tmp = self.root.join("containers").join(format!(".tmp-{id}"));
        for sub in ["upper", "work"] {
            std::fs::create_dir_all(tmp.join(sub))
                .map_err(ImageError::io("creating", tmp.join(sub)))?;
        }
        // Every Docker container has an empty /.dockerenv (tools detect Docker by it); dockerd
        // keeps it in the init layer, so `diff` and `commit` leave it out here too.
        let env = tmp.join("upper").join(DOCKERENV);
        std::fs::File::create(&env)
            .and_then(|_| {
                std::fs::set_permissions(&env, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            })
            .map_err(ImageError::io("creating", &env))?;
        let rec = ContainerLayer {
            id: id.to_owned(),
            image,
            layers,
        };
        write_json(&tmp.join("layer.json"), &rec)?;
        std::fs::rename(&tmp, &dir).map_err(ImageError::io("creating", &dir))?;
        self.lock().containers.insert(id.to_owned(), rec);
        self.mounts(id)
    }

    /// The overlay mount of container `id`: lower layers by their short links (keeps the
    /// option string far below the page-size limit), topmost first.
    pub fn mounts(&self, id: &str) -> Result<Vec<Mount>> {
        let (lowers, _) = self.lowers(id)?;
        let dir = self.container_dir(id);
        let lowerdir = if lowers.is_empty() {
            let empty = self.root.join("empty");
            std::fs::create_dir_all(&empty).map_err(ImageError::io("creating", &empty))?;
            empty.display().to_string()
        } else {
            lowers
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        };
        Ok(vec![Mount {
            typ: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={lowerdir}"),
                format!("upperdir={}", dir.join("upper").display()),
                format!("workdir={}", dir.join("work").display()),
                "index=off".into(),
            ],
        }])
    }

    /// Lower directories (short links, topmost first) and the container's image.
    fn lowers(&self, id: &str) -> Result<(Vec<PathBuf>, Digest)> {
        let index = self.lock();
        let c = index
            .containers
            .get(id)
            .ok_or_else(|| ImageError::NotFound(format!("writable layer of container {id}")))?;
        let mut out = Vec::new();
        for chain in c.layers.iter().rev() {
            let l = index
                .layers
                .get(chain)
                .ok_or_else(|| ImageError::NotFound(chain.to_string()))?;
            out.push(self.root.join("l").join(&l.link));
        }
        Ok((out, c.image.clone()))
    }

    /// The upper directory of container `id` (its changes).
    pub fn upper_dir(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("upper")
    }

    /// The image a container's layer was made from.
    pub fn container_image(&self, id: &str) -> Result<String> {
        self.lowers(id).map(|(_, img)| img.to_string())
    }

    /// Removes container `id`'s writable layer (missing is fine) and what it alone kept.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.container_dir(id);
        if dir.exists() {
            // The record goes first: a crash leaves a directory `open` removes.
            let _ = std::fs::remove_file(dir.join("layer.json"));
            std::fs::remove_dir_all(&dir).map_err(ImageError::io("removing", &dir))?;
        }
        self.lock().containers.remove(id);
        self.gc();
        Ok(())
    }

    /// The containers that have a writable layer.
    pub fn container_layer_ids(&self) -> Vec<String> {
        self.lock().containers.keys().cloned().collect()
    }

    /// Bytes in container `id`'s writable layer.
    pub fn container_size(&self, id: &str) -> Result<u64> {
        Ok(dir_size(&self.upper_dir(id)))
    }
}

pub(crate) fn dir_size(p: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
