//! Property tests of the image crate's parsers of outside input (issue 14): references,
//! digests, image configs, layer tars, `docker cp` uploads and `docker load` archives.
//! Nothing may panic, and no tar — however its names, links and types are combined — may
//! create or change anything outside the directory it is unpacked into.
//!
//! Failures proptest finds are kept in `proptest-regressions/` and replayed first.
#![allow(clippy::unwrap_used)] // tests

use std::path::{Path, PathBuf};

use berth_image::config::ImageConfig;
use berth_image::{Digest, ImageStore, Reference};
use proptest::prelude::*;

fn shaped(alphabet: &'static str, max: usize) -> impl Strategy<Value = String> {
    let chars: Vec<char> = alphabet.chars().collect();
    proptest::collection::vec(proptest::sample::select(chars), 0..max)
        .prop_map(|v| v.into_iter().collect())
}

/// One tar entry as a hostile archive may write it.
#[derive(Debug, Clone)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hardlink(String),
    Fifo,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    kind: Kind,
}

/// Names built from the components that matter: `..`, `.`, empty, whiteouts, and a few
/// reused words, so later entries walk through links earlier ones made.
fn name() -> impl Strategy<Value = String> {
    let parts = prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just(String::new()),
        Just("etc".to_owned()),
        Just(".wh.a".to_owned()),
        Just(".wh..wh..opq".to_owned()),
        Just("sentinel".to_owned()),
    ];
    (any::<bool>(), proptest::collection::vec(parts, 1..4)).prop_map(|(abs, v)| {
        let joined = v.join("/");
        if abs { format!("/{joined}") } else { joined }
    })
}

/// Link targets, including the way out to the sentinel beside the root.
fn target(sentinel: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        name(),
        Just("/".to_owned()),
        Just("..".to_owned()),
        Just("../sentinel".to_owned()),
        Just("../../..".to_owned()),
        Just(sentinel.to_owned()),
    ]
}

fn entry(sentinel: &'static str) -> impl Strategy<Value = Entry> {
    let kind = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Kind::File),
        Just(Kind::Dir),
        target(sentinel).prop_map(Kind::Symlink),
        target(sentinel).prop_map(Kind::Hardlink),
        Just(Kind::Fifo),
    ];
    (name(), kind).prop_map(|(name, kind)| Entry { name, kind })
}

/// Writes the header's name fields byte for byte: the tar crate's `set_path` refuses `..`,
/// and a hostile archive does not ask it.
fn raw_name(field: &mut [u8], s: &str) {
    let b = s.as_bytes();
    let n = b.len().min(field.len());
    field.fill(0);
    field[..n].copy_from_slice(&b[..n]);
}

fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_old();
        let (et, data): (tar::EntryType, &[u8]) = match &e.kind {
            Kind::File(d) => (tar::EntryType::Regular, d),
            Kind::Dir => (tar::EntryType::Directory, &[]),
            Kind::Symlink(_) => (tar::EntryType::Symlink, &[]),
            Kind::Hardlink(_) => (tar::EntryType::Link, &[]),
            Kind::Fifo => (tar::EntryType::Fifo, &[]),
        };
        h.set_entry_type(et);
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let old = h.as_old_mut();
        raw_name(&mut old.name, &e.name);
        if let Kind::Symlink(t) | Kind::Hardlink(t) = &e.kind {
            raw_name(&mut old.linkname, t);
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A directory holding the unpack root and, beside it, a sentinel directory with one file:
/// any escape lands in (or replaces) the sentinel, or adds something beside the root.
struct Arena {
    _tmp: tempfile::TempDir,
    outer: PathBuf,
    root: PathBuf,
}

const SENTINEL_TEXT: &[u8] = b"untouched";

impl Arena {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let outer = tmp.path().to_path_buf();
        let root = outer.join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(outer.join("sentinel")).unwrap();
        std::fs::write(outer.join("sentinel/file"), SENTINEL_TEXT).unwrap();
        Self {
            _tmp: tmp,
            outer,
            root,
        }
    }

    fn assert_contained(&self) -> Result<(), TestCaseError> {
        let mut beside: Vec<String> = std::fs::read_dir(&self.outer)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        beside.sort();
        prop_assert_eq!(beside, vec!["root".to_owned(), "sentinel".to_owned()]);
        let sentinel: Vec<_> = std::fs::read_dir(self.outer.join("sentinel"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        prop_assert_eq!(sentinel.len(), 1);
        let meta = std::fs::symlink_metadata(self.outer.join("sentinel/file")).unwrap();
        prop_assert!(meta.is_file());
        prop_assert_eq!(
            std::fs::read(self.outer.join("sentinel/file")).unwrap(),
            SENTINEL_TEXT
        );
        prop_assert!(
            std::fs::symlink_metadata(self.outer.join("sentinel"))
                .unwrap()
                .is_dir()
        );
        Ok(())
    }
}

/// The sentinel's absolute path differs per case; a fixed absolute target outside any root
/// stands for "somewhere on the host" and must never come to exist.
const HOST_PATH: &str = "/tmp/berth-untrusted-input-escape";

fn host_path_absent() -> Result<(), TestCaseError> {
    prop_assert!(
        std::fs::symlink_metadata(HOST_PATH).is_err(),
        "{HOST_PATH} was created"
    );
    Ok(())
}

fn stale_host_path_removed() {
    let p = Path::new(HOST_PATH);
    if std::fs::symlink_metadata(p).is_ok() {
        let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A reference that parses is in normal form: parsing its full form gives it back.
    #[test]
    fn references_never_panic_and_round_trip(
        s in prop_oneof![
            shaped("abcz019._-/:@ABC", 40),
            any::<String>(),
            shaped("0123456789abcdef", 64).prop_map(|h| format!("busybox@sha256:{h}")),
        ],
    ) {
        if let Ok(r) = Reference::parse(&s) {
            prop_assert_eq!(Reference::parse(&r.full()).unwrap(), r.clone());
            let _ = r.familiar();
        }
        let _ = Reference::parse_name_only(&s);
    }

    #[test]
    fn digests_never_panic(s in prop_oneof![
        any::<String>(),
        shaped("0123456789abcdefABCDEF", 70).prop_map(|h| format!("sha256:{h}")),
    ]) {
        if let Ok(d) = Digest::parse(&s) {
            prop_assert_eq!(d.as_str(), s.as_str());
            prop_assert_eq!(d.hex().len(), 64);
        }
    }

    #[test]
    fn image_configs_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ImageConfig::parse(&b);
    }

    /// A layer tar never writes outside its root, whatever it holds.
    #[test]
    fn layer_tars_stay_inside_their_root(
        entries in proptest::collection::vec(entry(HOST_PATH), 1..8),
    ) {
        stale_host_path_removed();
        let arena = Arena::new();
        let _ = berth_image::unpack::unpack(std::io::Cursor::new(tar_of(&entries)), &arena.root);
        arena.assert_contained()?;
        host_path_absent()?;
    }

    /// A `docker cp` upload never writes outside the container root, wherever it is aimed.
    #[test]
    fn uploads_stay_inside_the_root(
        entries in proptest::collection::vec(entry(HOST_PATH), 1..8),
        dest in prop_oneof![Just("/".to_owned()), name()],
        setup in proptest::collection::vec(entry(HOST_PATH), 0..4),
    ) {
        stale_host_path_removed();
        let arena = Arena::new();
        // What the container already holds (links included) is made by a layer first.
        let _ = berth_image::unpack::unpack(std::io::Cursor::new(tar_of(&setup)), &arena.root);
        let _ = berth_image::archive::safe::unpack(
            &arena.root,
            &dest,
            std::io::Cursor::new(tar_of(&entries)),
        );
        arena.assert_contained()?;
        host_path_absent()?;
    }

    /// Random bytes as a tar: an error, never a panic or a write outside.
    #[test]
    fn garbage_tars_are_errors(b in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let arena = Arena::new();
        let _ = berth_image::unpack::unpack(std::io::Cursor::new(b), &arena.root);
        arena.assert_contained()?;
    }

    /// `docker load` of an archive whose manifest names hostile paths: refused or loaded,
    /// never a panic, and nothing outside the store.
    #[test]
    fn load_archives_stay_inside_the_store(
        config in prop_oneof![name(), Just("config.json".to_owned())],
        layers in proptest::collection::vec(prop_oneof![name(), Just("layer.tar".to_owned())], 0..3),
        tags in proptest::collection::vec(shaped("abc:/@._-", 12), 0..2),
        files in proptest::collection::vec(entry(HOST_PATH), 0..5),
    ) {
        stale_host_path_removed();
        let arena = Arena::new();
        let store = ImageStore::open(arena.root.clone()).unwrap();
        let manifest = serde_json::json!([{"Config": config, "RepoTags": tags, "Layers": layers}]);
        let mut entries = files;
        entries.push(Entry {
            name: "manifest.json".into(),
            kind: Kind::File(manifest.to_string().into_bytes()),
        });
        let _ = store.load(std::io::Cursor::new(tar_of(&entries)));
        arena.assert_contained()?;
        host_path_absent()?;
    }
}

/// A `docker save` archive links a layer it already wrote (`../<id>/layer.tar`): it loads,
/// whether the layer is small (extracted, then added) or big (staged while it streams).
#[test]
fn a_legacy_archive_linking_a_shared_layer_loads() {
    for size in [2, 200_000] {
        legacy_archive_with_a_shared_layer(size);
    }
}

fn legacy_archive_with_a_shared_layer(size: usize) {
    use sha2::Digest as _;
    let arena = Arena::new();
    let store = ImageStore::open(arena.root.clone()).unwrap();
    let layer = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(size as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "hi", &vec![b'h'; size][..]).unwrap();
        b.into_inner().unwrap()
    };
    let diff = format!("sha256:{}", hex_of(&sha2::Sha256::digest(&layer)));
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {}, "history": [],
        "rootfs": {"type": "layers", "diff_ids": [diff, diff]},
    })
    .to_string();
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": ["twice:latest"],
        "Layers": ["a/layer.tar", "b/layer.tar"],
    }])
    .to_string();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| add_file(&mut b, name, data);
    add("config.json", config.as_bytes());
    add("a/layer.tar", &layer);
    add("manifest.json", manifest.as_bytes());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    raw_name(&mut h.as_old_mut().name, "b/layer.tar");
    raw_name(&mut h.as_old_mut().linkname, "../a/layer.tar");
    h.set_cksum();
    b.append(&h, &[][..]).unwrap();
    let loaded = store
        .load(std::io::Cursor::new(b.into_inner().unwrap()))
        .unwrap();
    assert_eq!(loaded[0].tags, vec!["twice:latest".to_owned()]);
    assert_no_staged_layers_left(&arena.root);
}

/// A big tar in the archive that no manifest names is ignored, however hostile; named as a
/// layer, it is refused and nothing stays behind.
#[test]
fn a_hostile_layer_fails_the_load_only_when_a_manifest_names_it() {
    let hostile = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(100_000);
        h.set_mode(0o644);
        raw_name(&mut h.as_old_mut().name, "../escape");
        h.set_cksum();
        b.append(&h, &vec![b'x'; 100_000][..]).unwrap();
        b.into_inner().unwrap()
    };
    for named in [false, true] {
        let arena = Arena::new();
        let store = ImageStore::open(arena.root.clone()).unwrap();
        let empty = tar::Builder::new(Vec::new()).into_inner().unwrap();
        let layer = if named { &hostile } else { &empty };
        let diff = format!(
            "sha256:{}",
            hex_of(&{
                use sha2::Digest as _;
                sha2::Sha256::digest(layer)
            })
        );
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {}, "history": [],
            "rootfs": {"type": "layers", "diff_ids": [diff]},
        })
        .to_string();
        let manifest = serde_json::json!([{
            "Config": "config.json", "RepoTags": ["h:latest"], "Layers": ["l/layer.tar"],
        }])
        .to_string();
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8]| add_file(&mut b, name, data);
        add("unnamed/layer.tar", &hostile);
        add("l/layer.tar", layer);
        add("config.json", config.as_bytes());
        add("manifest.json", manifest.as_bytes());
        let r = store.load(std::io::Cursor::new(b.into_inner().unwrap()));
        if named {
            let e = r.unwrap_err().to_string();
            assert!(e.contains(".."), "{e}");
            assert!(store.list().is_empty());
        } else {
            assert_eq!(r.unwrap()[0].tags, vec!["h:latest".to_owned()]);
        }
        assert_no_staged_layers_left(&arena.root);
    }
}

/// Appends a regular file to an archive being built.
fn add_file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
}

/// No half-made layer (`layers/.tmp-*`) is left in the store at `root`.
fn assert_no_staged_layers_left(root: &Path) {
    let leftovers: Vec<_> = std::fs::read_dir(root.join("layers"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn hex_of(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}
