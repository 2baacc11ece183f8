//! Loading the store's records at open, losing nothing.
//!
//! Every record is versioned JSON (`berth_fsutil::record`). What a crash can leave is cleaned
//! up: temporaries (`.tmp-*`, names starting with a dot), and a directory whose record is
//! missing — a layer or writable layer whose removal had begun (the record goes first).
//! Anything else that is wrong is moved aside (`<name>.corrupt-<time>`), logged and kept in
//! [`Quarantine`] for `/info`: a record that does not parse, an image whose layers are not
//! all there, a layer whose parent is not. While anything is moved aside, garbage collection
//! removes nothing — the records that could not be read may be what keeps a layer or a blob
//! alive. A record that cannot be read at all stops the open.

use std::path::{Path, PathBuf};

use berth_fsutil::record::{self, Loaded, Record};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::store::{ContainerLayer, ImageRecord, Index, LayerRecord};

impl Record for LayerRecord {
    const KIND: &'static str = "layer record";
    const SCHEMA_VERSION: u32 = 1;
}

impl Record for ImageRecord {
    const KIND: &'static str = "image record";
    const SCHEMA_VERSION: u32 = 1;
}

impl Record for ContainerLayer {
    const KIND: &'static str = "writable layer record";
    const SCHEMA_VERSION: u32 = 1;
}

/// `refs.json`: tags and digests → image id.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct RefsFile {
    pub(crate) refs: std::collections::BTreeMap<String, Digest>,
}

impl Record for RefsFile {
    const KIND: &'static str = "image references";
    const SCHEMA_VERSION: u32 = 1;
}

/// What open moved aside (now or at an earlier start), one line each.
#[derive(Debug, Default, Clone)]
pub(crate) struct Quarantine(pub(crate) Vec<String>);

impl Quarantine {
    fn move_aside(&mut self, path: &Path, why: &str) -> Result<()> {
        let to = record::quarantine(path)?;
        let msg = format!("{why}: {} moved aside to {}", path.display(), to.display());
        tracing::error!("{msg}");
        self.0.push(msg);
        Ok(())
    }

    fn earlier(&mut self, path: &Path) {
        self.0.push(format!(
            "image store data moved aside by an earlier start: {}",
            path.display()
        ));
    }
}

fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(ImageError::io("reading", dir))? {
        let e = e.map_err(ImageError::io("reading", dir))?;
        out.push((e.file_name().to_string_lossy().into_owned(), e.path()));
    }
    out.sort();
    Ok(out)
}

fn remove_leftover(path: &Path) -> Result<()> {
    tracing::info!(path = %path.display(), "removing what a crash left half-made");
    let r = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(ImageError::io("removing", path)(e))
        }
        _ => Ok(()),
    }
}

/// Reads every record under `root` into an index.
pub(crate) fn load_index(root: &Path) -> Result<(Index, Quarantine)> {
    let mut index = Index::default();
    let mut q = Quarantine::default();
    load_layers(root, &mut index, &mut q)?;
    load_images(root, &mut index, &mut q)?;
    load_refs(root, &mut index, &mut q)?;
    load_containers(root, &mut index, &mut q)?;
    Ok((index, q))
}

fn load_layers(root: &Path, index: &mut Index, q: &mut Quarantine) -> Result<()> {
    let mut found = Vec::new();
    for (name, path) in entries(&root.join("layers"))? {
        if record::is_quarantined(name.as_ref()) {
            q.earlier(&path);
        } else if name.starts_with('.') {
            remove_leftover(&path)?;
        } else {
            match record::load::<LayerRecord>(&path.join("layer.json"))? {
                Loaded::Record(l) if l.chain_id.hex() == name => found.push((path, l)),
                Loaded::Record(l) => {
                    let why = format!("layer record names layer {}", l.chain_id);
                    q.move_aside(&path, &why)?;
                }
                Loaded::Corrupt(why) => q.move_aside(&path, &format!("layer record: {why}"))?,
                Loaded::Missing => remove_leftover(&path)?,
            }
        }
    }
    for (_, l) in &found {
        index.layers.insert(l.chain_id.clone(), l.clone());
    }
    // A layer is only usable on top of its parent, and its children only on top of it.
    loop {
        let orphan = found.iter().position(|(_, l)| {
            l.parent
                .as_ref()
                .is_some_and(|p| !index.layers.contains_key(p))
        });
        let Some(i) = orphan else { break };
        let (path, l) = found.swap_remove(i);
        index.layers.remove(&l.chain_id);
        let parent = l
            .parent
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        q.move_aside(
            &path,
            &format!("layer {} lacks its parent {parent}", l.chain_id),
        )?;
    }
    Ok(())
}

fn load_images(root: &Path, index: &mut Index, q: &mut Quarantine) -> Result<()> {
    for (name, path) in entries(&root.join("images"))? {
        if record::is_quarantined(name.as_ref()) {
            q.earlier(&path);
            continue;
        }
        if name.starts_with('.') {
            remove_leftover(&path)?;
            continue;
        }
        match record::load::<ImageRecord>(&path)? {
            Loaded::Record(img) => match img.layers.iter().find(|l| !index.layers.contains_key(*l))
            {
                None => {
                    index.images.insert(img.id.clone(), img);
                }
                Some(l) => {
                    q.move_aside(&path, &format!("image {} lacks its layer {l}", img.id))?;
                }
            },
            Loaded::Corrupt(why) => q.move_aside(&path, &format!("image record: {why}"))?,
            Loaded::Missing => {}
        }
    }
    Ok(())
}

fn load_refs(root: &Path, index: &mut Index, q: &mut Quarantine) -> Result<()> {
    let path = root.join("refs.json");
    for (name, p) in entries(root)? {
        if name.starts_with("refs.json") && record::is_quarantined(name.as_ref()) {
            q.earlier(&p);
        }
    }
    index.refs = match record::load::<RefsFile>(&path)? {
        Loaded::Record(r) => r.refs,
        Loaded::Missing => Default::default(),
        Loaded::Corrupt(why) => {
            q.move_aside(&path, &format!("image references: {why}"))?;
            Default::default()
        }
    };
    // The tags of an image that was moved aside are held, and written back with the others,
    // so that the image has them when it is put back.
    let (live, held) = std::mem::take(&mut index.refs)
        .into_iter()
        .partition(|(_, id)| index.images.contains_key(id));
    index.refs = live;
    index.held_refs = held;
    Ok(())
}

fn load_containers(root: &Path, index: &mut Index, q: &mut Quarantine) -> Result<()> {
    for (name, path) in entries(&root.join("containers"))? {
        if record::is_quarantined(name.as_ref()) {
            q.earlier(&path);
            continue;
        }
        if name.starts_with('.') {
            remove_leftover(&path)?;
            continue;
        }
        match record::load::<ContainerLayer>(&path.join("layer.json"))? {
            Loaded::Record(c) if c.id == name => {
                index.containers.insert(c.id.clone(), c);
            }
            Loaded::Record(c) => {
                let why = format!("writable layer record names container {}", c.id);
                q.move_aside(&path, &why)?;
            }
            Loaded::Corrupt(why) => {
                q.move_aside(&path, &format!("writable layer record: {why}"))?;
            }
            Loaded::Missing => remove_leftover(&path)?,
        }
    }
    Ok(())
}

/// Writes a record durably.
pub(crate) fn save<T: Record>(path: &Path, rec: &T) -> Result<()> {
    record::save(path, rec).map_err(ImageError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImageStore;

    const LAYER: &str = "43d21ae5d2410f1cd2ad4e2a432746ce8ce651ed36cb5751c413c07ce30897d6";
    const IMAGE: &str = "85a1b98f758d44d75ebd3d1381de2bdea01bd60298b811bb6df2dd792cbec2d7";
    const CTR: &str = "2ac41c2b6d37188f4669487c57a9294707320d278b530935ee97563edbd031ac";

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/testdata/records")
                .join(name),
        )
        .unwrap()
    }

    /// A store laid out as main wrote it (`v0`) or as this berth writes it (`v1`): one
    /// image of one layer, tagged, and one container's writable layer. The layer's files
    /// and blobs are stand-ins; only the records matter here.
    fn store_dir(version: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for sub in ["blobs/sha256", "l", "images"] {
            std::fs::create_dir_all(r.join(sub)).unwrap();
        }
        std::fs::create_dir_all(r.join("layers").join(LAYER).join("diff")).unwrap();
        std::fs::create_dir_all(r.join("containers").join(CTR).join("upper")).unwrap();
        let put = |p: PathBuf, f: &str| std::fs::write(p, fixture(&format!("{f}-{version}.json")));
        put(r.join("layers").join(LAYER).join("layer.json"), "layer").unwrap();
        put(r.join("images").join(format!("{IMAGE}.json")), "image").unwrap();
        put(r.join("refs.json"), "refs").unwrap();
        put(
            r.join("containers").join(CTR).join("layer.json"),
            "container-layer",
        )
        .unwrap();
        for blob in [LAYER, IMAGE] {
            std::fs::write(r.join("blobs/sha256").join(blob), b"stand-in").unwrap();
        }
        d
    }

    #[test]
    fn stores_of_every_format_open() {
        for v in ["v0", "v1"] {
            let d = store_dir(v);
            let s = ImageStore::open(d.path().to_path_buf()).unwrap();
            assert!(s.warnings().is_empty(), "{v}: {:?}", s.warnings());
            let index = s.lock();
            let layer = &index.layers[&Digest::parse(&format!("sha256:{LAYER}")).unwrap()];
            assert_eq!((layer.size, layer.diff_size), (1_982_365, 2_140_160), "{v}");
            assert_eq!(
                index.refs["docker.io/library/busybox:latest"].hex(),
                IMAGE,
                "{v}"
            );
            assert_eq!(index.containers[CTR].layers.len(), 1, "{v}");
        }
    }

    #[test]
    fn a_layer_record_that_does_not_parse_is_moved_aside_and_nothing_is_collected() {
        let d = store_dir("v1");
        std::fs::write(
            d.path().join("layers").join(LAYER).join("layer.json"),
            b"{\"chain",
        )
        .unwrap();
        let s = ImageStore::open(d.path().to_path_buf()).unwrap();
        // The layer, then the image on it: both moved aside, and reported.
        let w = s.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("layer record") && w[1].contains("lacks its layer"),
            "{w:?}"
        );
        let layers = record::quarantined_in(&d.path().join("layers"));
        assert_eq!(layers.len(), 1);
        assert!(
            layers[0].join("diff").is_dir(),
            "the layer's files are kept"
        );
        assert_eq!(record::quarantined_in(&d.path().join("images")).len(), 1);
        // Garbage collection waits: every blob is still there.
        for blob in [LAYER, IMAGE] {
            assert!(d.path().join("blobs/sha256").join(blob).exists(), "{blob}");
        }
        drop(s);
        // Reopened: reported again, nothing else moves.
        let s = ImageStore::open(d.path().to_path_buf()).unwrap();
        assert_eq!(s.warnings().len(), 2, "{:?}", s.warnings());
        assert!(s.warnings().iter().all(|w| w.contains("earlier start")));
    }

    #[test]
    fn refs_that_do_not_parse_are_moved_aside_and_images_stay() {
        let d = store_dir("v0");
        std::fs::write(d.path().join("refs.json"), b"\0\0\0").unwrap();
        let s = ImageStore::open(d.path().to_path_buf()).unwrap();
        assert_eq!(s.warnings().len(), 1, "{:?}", s.warnings());
        assert_eq!(s.lock().images.len(), 1);
        assert!(s.lock().refs.is_empty());
    }

    #[test]
    fn tags_of_a_moved_aside_image_are_kept_in_refs() {
        let d = store_dir("v1");
        std::fs::write(d.path().join("images").join(format!("{IMAGE}.json")), b"[").unwrap();
        let s = ImageStore::open(d.path().to_path_buf()).unwrap();
        assert!(s.lock().images.is_empty());
        s.save_refs(&s.lock()).unwrap();
        let refs = std::fs::read_to_string(d.path().join("refs.json")).unwrap();
        assert!(refs.contains(IMAGE), "{refs}");
    }

    #[test]
    fn an_unreadable_record_stops_the_open() {
        let d = store_dir("v1");
        let rec = d.path().join("images").join(format!("{IMAGE}.json"));
        std::fs::remove_file(&rec).unwrap();
        std::fs::create_dir(&rec).unwrap(); // read(2) fails with EISDIR
        let e = ImageStore::open(d.path().to_path_buf()).unwrap_err();
        assert!(berth_errdefs::chain(&e).contains(IMAGE), "{e}");
        assert!(
            d.path()
                .join("layers")
                .join(LAYER)
                .join("layer.json")
                .exists()
        );
    }

    #[test]
    fn crash_leftovers_are_cleaned_up() {
        let d = store_dir("v1");
        let r = d.path();
        std::fs::create_dir_all(r.join("layers/.tmp-123/diff")).unwrap();
        std::fs::create_dir_all(r.join("containers/.tmp-abc/upper")).unwrap();
        // A writable layer whose removal had begun: its record goes first.
        std::fs::create_dir_all(r.join("containers/dead/upper")).unwrap();
        let s = ImageStore::open(r.to_path_buf()).unwrap();
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
        for gone in ["layers/.tmp-123", "containers/.tmp-abc", "containers/dead"] {
            assert!(!r.join(gone).exists(), "{gone}");
        }
        assert!(r.join("containers").join(CTR).exists());
    }
}
