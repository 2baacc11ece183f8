//! The image store with real overlay mounts (root only).
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

use std::path::{Path, PathBuf};

use berth_image::{ChangeKind, CommitOptions, ImageStore, ImportOptions};
use berth_test_support::{make_busybox_tar, require_root, unique_id};
use nix::mount::{MntFlags, MsFlags, mount, umount2};

/// An overlay mount that is undone on drop.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
    }
}

fn mount_container(store: &ImageStore, id: &str, target: &Path) -> Mounted {
    std::fs::create_dir_all(target).unwrap();
    for m in store.mounts(id).unwrap() {
        mount(
            Some(m.source.as_str()),
            target,
            Some(m.typ.as_str()),
            MsFlags::empty(),
            Some(m.options.join(",").as_str()),
        )
        .unwrap();
    }
    Mounted(target.to_path_buf())
}

fn busybox_store() -> (tempfile::TempDir, ImageStore, String) {
    let d = tempfile::tempdir().unwrap();
    let store = ImageStore::open(d.path().join("image")).unwrap();
    let tar = d.path().join("busybox.tar");
    make_busybox_tar(&tar).unwrap();
    let id = store
        .import(
            std::fs::File::open(&tar).unwrap(),
            ImportOptions {
                reference: Some("busybox:latest".into()),
                changes: vec!["CMD [\"sh\"]".into()],
                message: None,
            },
        )
        .unwrap();
    (d, store, id)
}

#[test]
fn import_run_diff_commit_and_see_the_change() {
    if !require_root("import_run_diff_commit_and_see_the_change") {
        return;
    }
    let (d, store, id) = busybox_store();
    assert_eq!(store.resolve("busybox").unwrap().id, id);
    assert_eq!(
        store.resolve("busybox").unwrap().config.cmd,
        Some(vec!["sh".to_owned()])
    );
    let c1 = unique_id("c");
    store.prepare(&c1, &id).unwrap();
    let merged = d.path().join("merged");
    {
        let _m = mount_container(&store, &c1, &merged);
        assert!(merged.join("bin/busybox").exists());
        std::fs::write(merged.join("etc/new-file"), "hello").unwrap();
        std::fs::remove_file(merged.join("etc/hostname")).unwrap();
    }
    let changes = store.diff(&c1).unwrap();
    let find = |p: &str| changes.iter().find(|c| c.path == p).map(|c| c.kind);
    assert_eq!(find("/etc"), Some(ChangeKind::Modified));
    assert_eq!(find("/etc/new-file"), Some(ChangeKind::Added));
    assert_eq!(find("/etc/hostname"), Some(ChangeKind::Deleted));
    let new_id = store
        .commit(
            &c1,
            CommitOptions {
                reference: Some("busybox:changed".into()),
                comment: Some("test".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_ne!(new_id, id);
    assert_eq!(store.inspect("busybox:changed").unwrap().diff_ids.len(), 2);
    let c2 = unique_id("c");
    store.prepare(&c2, &new_id).unwrap();
    let merged2 = d.path().join("merged2");
    {
        let _m = mount_container(&store, &c2, &merged2);
        assert_eq!(
            std::fs::read_to_string(merged2.join("etc/new-file")).unwrap(),
            "hello"
        );
        assert!(
            !merged2.join("etc/hostname").exists(),
            "the whiteout hides the deleted file"
        );
    }
    let history = store.history("busybox:changed").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].comment, "test");
    store.remove(&c1).unwrap();
    store.remove(&c2).unwrap();
}

#[test]
fn save_load_round_trip_keeps_ids() {
    if !require_root("save_load_round_trip_keeps_ids") {
        return;
    }
    let (d, store, id) = busybox_store();
    store.tag("busybox", "localhost:5000/mine:v1").unwrap();
    let archive = store
        .save(
            &["busybox:latest".into(), "localhost:5000/mine:v1".into()],
            Vec::new(),
        )
        .unwrap();
    let other = ImageStore::open(d.path().join("other")).unwrap();
    let loaded = other.load(&archive[..]).unwrap();
    assert_eq!(loaded.len(), 2);
    assert!(loaded.iter().all(|l| l.id == id), "{loaded:?}");
    assert_eq!(other.resolve("localhost:5000/mine:v1").unwrap().id, id);
    let info = other.inspect(&id).unwrap();
    assert_eq!(info.repo_tags.len(), 2);
}

#[test]
fn rmi_untags_then_deletes() {
    if !require_root("rmi_untags_then_deletes") {
        return;
    }
    let (_d, store, id) = busybox_store();
    store.tag("busybox", "other:tag").unwrap();
    let none = |_: &str| None;
    let r = store.delete("other:tag", false, &none).unwrap();
    assert_eq!(r, vec![berth_image::Removed::Untagged("other:tag".into())]);
    let used = |_: &str| Some(("0123456789abcdef".to_owned(), false));
    assert!(
        store.delete("busybox", false, &used).is_err(),
        "a container uses it"
    );
    let r = store.delete(&id, false, &none).unwrap();
    assert!(r.contains(&berth_image::Removed::Deleted(id.clone())));
    assert!(store.resolve("busybox").is_err());
    assert!(store.list().is_empty());
}

/// (path, type, content, link target)
type TarEntry<'a> = (&'a [u8], tar::EntryType, &'a [u8], Option<&'a [u8]>);

fn tar_with(entries: &[TarEntry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data, link) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        if let Some(l) = link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
        }
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn hostile_archives_are_refused_and_leave_nothing() {
    if !require_root("hostile_archives_are_refused_and_leave_nothing") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let store = ImageStore::open(d.path().join("image")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().as_bytes().to_vec();
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(
            &mut e,
            &tar_with(&[(b"a", tar::EntryType::Regular, b"hello world", None)]),
        )
        .unwrap();
        let mut v = e.finish().unwrap();
        v.truncate(v.len() / 2);
        v
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "traversal",
            tar_with(&[(b"../../evil", tar::EntryType::Regular, b"x", None)]),
        ),
        (
            "absolute",
            tar_with(&[(b"/etc/evil", tar::EntryType::Regular, b"x", None)]),
        ),
        (
            "hardlink escape",
            tar_with(&[(
                b"h",
                tar::EntryType::Link,
                b"",
                Some(b"../../../../etc/passwd"),
            )]),
        ),
        ("truncated gzip", gz),
        ("not a tar", b"\x00\x01garbage garbage garbage".repeat(100)),
    ];
    for (what, data) in cases {
        assert!(
            store.import(&data[..], ImportOptions::default()).is_err(),
            "{what} must be refused"
        );
    }
    // A symlink escape is followed inside the layer, never out of it.
    let sym = tar_with(&[
        (b"esc", tar::EntryType::Symlink, b"", Some(&target)),
        (b"esc/pwned", tar::EntryType::Regular, b"x", None),
    ]);
    store.import(&sym[..], ImportOptions::default()).unwrap();
    assert!(!outside.path().join("pwned").exists());
    assert!(store.load(&b"not an archive"[..]).is_err());
    let layers: Vec<_> = std::fs::read_dir(d.path().join("image/layers"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(layers.len(), 1, "only the one valid layer exists");
    assert_eq!(
        std::fs::read_dir(d.path().join("image/ingest"))
            .unwrap()
            .count(),
        0,
        "no partial ingest left"
    );
}

#[test]
fn a_wrong_layer_digest_aborts_a_load() {
    if !require_root("a_wrong_layer_digest_aborts_a_load") {
        return;
    }
    let (d, store, _id) = busybox_store();
    let archive = store.save(&["busybox".into()], Vec::new()).unwrap();
    // Rewrite the archive with one byte of the layer changed.
    let mut out = tar::Builder::new(Vec::new());
    let mut a = tar::Archive::new(&archive[..]);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if data.len() > 100_000 {
            let i = data.len() / 2;
            data[i] ^= 0xff;
        }
        let mut h = e.header().clone();
        out.append_data(&mut h, e.path().unwrap(), &data[..])
            .unwrap();
    }
    let bad = out.into_inner().unwrap();
    let other = ImageStore::open(d.path().join("other")).unwrap();
    let err = other.load(&bad[..]).unwrap_err();
    assert!(err.to_string().contains("digest"), "{err}");
    assert!(other.list().is_empty());
    assert_eq!(
        std::fs::read_dir(d.path().join("other/layers"))
            .unwrap()
            .count(),
        0,
        "no layer left behind"
    );
}
