//! Issue 14, finding 6: nothing a user made is deleted because berth could not read it —
//! through a real `berth daemon` and the docker CLI (root). Records that do not parse are
//! moved aside and reported in `docker info`; a record that cannot be read stops the start.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::path::{Path, PathBuf};

use common::daemon::Daemon;

fn data(d: &Daemon) -> PathBuf {
    d.dir.path().join("data")
}

fn moved_aside(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(".corrupt-"))
        .collect()
}

fn warnings(d: &Daemon) -> Vec<String> {
    let out = d.ok(&["info", "--format", "{{json .Warnings}}"]);
    serde_json::from_str::<Option<Vec<String>>>(&out)
        .unwrap()
        .unwrap_or_default()
}

#[test]
fn records_that_do_not_parse_are_moved_aside_and_reported() {
    let Some(mut d) =
        Daemon::with_busybox("records_that_do_not_parse_are_moved_aside_and_reported")
    else {
        return;
    };
    let keep = d.ok(&["run", "-d", "--name", "keep", "busybox", "sleep", "600"]);
    d.ok(&[
        "run",
        "--name",
        "torn",
        "busybox",
        "echo",
        "precious output",
    ]);
    let torn = d.ok(&["inspect", "-f", "{{.Id}}", "torn"]);
    d.ok(&["volume", "create", "vol-ok"]);
    d.ok(&["volume", "create", "vol-torn"]);
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "vol-torn:/v",
        "busybox",
        "sh",
        "-c",
        "echo data > /v/f",
    ]);
    d.kill();
    // A torn write, as a disk or a careless tool could leave it (berth's own writes cannot).
    let rec = data(&d)
        .join("containers")
        .join(&torn)
        .join("config.v2.json");
    let bytes = std::fs::read(&rec).unwrap();
    std::fs::write(&rec, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(data(&d).join("volumes/vol-torn/volume.json"), b"{\"name\"").unwrap();
    d.start_again();
    // The rest of the daemon is there and working.
    let names = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(names, "keep");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", &keep]),
        "true"
    );
    let vols = d.ok(&["volume", "ls", "-q"]);
    assert_eq!(vols, "vol-ok");
    // Nothing was deleted: the container's log and the volume's data are moved aside.
    let ctrs = moved_aside(&data(&d).join("containers"));
    assert_eq!(ctrs.len(), 1, "{ctrs:?}");
    let log = std::fs::read_to_string(ctrs[0].join(format!("{torn}-json.log"))).unwrap();
    assert!(log.contains("precious output"), "{log}");
    let vols = moved_aside(&data(&d).join("volumes"));
    assert_eq!(vols.len(), 1, "{vols:?}");
    assert_eq!(
        std::fs::read_to_string(vols[0].join("_data/f")).unwrap(),
        "data\n"
    );
    // Reported, and still reported after another restart.
    for _ in 0..2 {
        let w = warnings(&d);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w.iter().any(|w| w.contains(&torn)), "{w:?}");
        assert!(w.iter().any(|w| w.contains("vol-torn")), "{w:?}");
        d.kill_and_restart();
    }
    // The torn container's writable layer was not collected as an orphan.
    assert!(data(&d).join("image/containers").join(&torn).exists());
}

#[test]
fn a_record_that_cannot_be_read_stops_the_start_and_changes_nothing() {
    let Some(mut d) =
        Daemon::with_busybox("a_record_that_cannot_be_read_stops_the_start_and_changes_nothing")
    else {
        return;
    };
    let a = d.ok(&["create", "--name", "ca", "busybox", "true"]);
    let b = d.ok(&["create", "--name", "cb", "busybox", "true"]);
    d.kill();
    // read(2) of a directory fails as an EIO or EACCES would (root reads through modes).
    let rec = data(&d).join("containers").join(&b).join("config.v2.json");
    let saved = std::fs::read(&rec).unwrap();
    std::fs::remove_file(&rec).unwrap();
    std::fs::create_dir(&rec).unwrap();
    let (status, log) = d.start_expecting_failure();
    assert!(!status.success());
    assert!(log.contains(&b) && log.contains("config.v2.json"), "{log}");
    for id in [&a, &b] {
        assert!(
            data(&d).join("containers").join(id).exists(),
            "{id} was touched"
        );
        assert!(
            data(&d).join("image/containers").join(id).exists(),
            "{id}'s layer"
        );
    }
    assert!(moved_aside(&data(&d).join("containers")).is_empty());
    // Once the record is readable again, everything is back.
    std::fs::remove_dir(&rec).unwrap();
    std::fs::write(&rec, saved).unwrap();
    d.start_again();
    let mut names: Vec<String> = d
        .ok(&["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    assert_eq!(names, ["ca", "cb"]);
}
