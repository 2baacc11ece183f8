//! Images move between the real dockerd and berth unchanged (root; Debian's docker.io and
//! skopeo): same image IDs both ways, layers with deleted files, and berth's archives readable
//! by skopeo.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::process::Command;

use common::daemon::Daemon;
use common::dockerd::Dockerd;
use common::{require_root, stderr};

#[test]
fn images_round_trip_between_dockerd_and_berth() {
    if !require_root("image_interop") {
        return;
    }
    let docker = Dockerd::start();
    let berth = Daemon::start();
    // A multi-layer image with a deleted file and an opaque directory, built by real docker.
    let ctx = docker.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN mkdir -p /d && echo one > /d/a && echo two > /d/b && echo gone > /gone\n\
         RUN rm /gone /d/a && echo three > /d/c\nRUN rm -rf /d && mkdir /d && echo fresh > /d/new\n\
         ENV GREETING=hello\nCMD [\"sh\", \"-c\", \"echo $GREETING; ls /d; test ! -e /gone\"]\n",
    )
    .unwrap();
    let o = common::run_to_files(
        Command::new(common::daemon::docker_bin())
            .env("DOCKER_HOST", docker.host())
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "-q", "-t", "layered:1"])
            .arg(&ctx),
    );
    assert!(o.status.success(), "docker build: {}", stderr(&o));
    let docker_id = docker.ok(&["image", "inspect", "-f", "{{.Id}}", "layered:1"]);
    let archive = docker.dir.path().join("layered.tar");
    docker.ok(&["save", "-o", archive.to_str().unwrap(), "layered:1"]);

    berth.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(
        berth.ok(&["image", "inspect", "-f", "{{.Id}}", "layered:1"]),
        docker_id,
        "image ID changed on load"
    );
    let expected = docker.ok(&["run", "--rm", "layered:1"]);
    assert_eq!(expected, "hello\nnew");
    assert_eq!(berth.ok(&["run", "--rm", "layered:1"]), expected);
    let history = berth.ok(&["history", "-q", "layered:1"]);
    assert!(history.lines().count() >= 2, "{history}");

    // berth → docker: a commit made in berth runs in real docker with the same ID.
    berth.ok(&[
        "run",
        "--name",
        "mod",
        "layered:1",
        "sh",
        "-c",
        "echo made-in-berth > /d/berth; rm /d/new",
    ]);
    let committed = berth.ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/d/berth\"]",
        "mod",
        "committed:1",
    ]);
    let out = berth.dir.path().join("committed.tar");
    berth.ok(&["save", "-o", out.to_str().unwrap(), "committed:1"]);
    docker.ok(&["load", "-i", out.to_str().unwrap()]);
    assert_eq!(
        docker.ok(&["image", "inspect", "-f", "{{.Id}}", "committed:1"]),
        committed
    );
    assert_eq!(docker.ok(&["run", "--rm", "committed:1"]), "made-in-berth");
    assert_eq!(
        docker.ok(&["run", "--rm", "committed:1", "ls", "/d"]),
        "berth"
    );

    // skopeo reads berth's archive both as an OCI archive and as a Docker archive.
    for transport in ["oci-archive", "docker-archive"] {
        let o = common::run_to_files(
            Command::new("skopeo")
                .arg("inspect")
                .arg("--config")
                .arg(format!("{transport}:{}", out.display())),
        );
        assert!(o.status.success(), "skopeo {transport}: {}", stderr(&o));
        assert!(
            common::stdout(&o).contains("made-in-berth") || common::stdout(&o).contains("cat"),
            "{}",
            common::stdout(&o)
        );
    }
}

#[test]
fn hostile_archives_are_refused() {
    if !require_root("image_interop") {
        return;
    }
    let berth = Daemon::start();
    let dir = berth.dir.path();
    // Not a tar at all.
    std::fs::write(dir.join("junk.tar"), b"this is not a tar archive").unwrap();
    let o = berth.run(&["load", "-i", dir.join("junk.tar").to_str().unwrap()]);
    assert!(!o.status.success());
    // A layer entry that climbs out of the root.
    let evil = dir.join("evil.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&evil).unwrap());
        let mut h = tar::Header::new_gnu();
        let data = b"owned";
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.as_gnu_mut().unwrap().name[..12].copy_from_slice(b"../../escape");
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
        b.finish().unwrap();
    }
    let o = berth.run(&["import", evil.to_str().unwrap(), "evil:1"]);
    assert!(!o.status.success(), "an escaping entry was imported");
    assert!(stderr(&o).contains(".."), "{}", stderr(&o));
    assert!(!dir.join("escape").exists());
    assert!(berth.run(&["image", "inspect", "evil:1"]).status.code() != Some(0));
    // The daemon is still healthy.
    berth.ok(&["version"]);
}

#[test]
fn a_daemon_killed_during_an_import_leaves_no_half_image() {
    if !require_root("image_interop") {
        return;
    }
    let mut berth = Daemon::start();
    let dir = berth.dir.path().to_path_buf();
    // A layer big enough to still be in flight when the daemon is killed.
    let big = dir.join("big.tar");
    {
        use std::io::Read;
        let mut b = tar::Builder::new(std::fs::File::create(&big).unwrap());
        let mut noise = std::fs::File::open("/dev/urandom").unwrap().take(8 << 20);
        let mut chunk = Vec::new();
        noise.read_to_end(&mut chunk).unwrap();
        for i in 0..48 {
            let mut h = tar::Header::new_gnu();
            h.set_size(chunk.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, format!("blob{i}"), &chunk[..])
                .unwrap();
        }
        b.finish().unwrap();
    }
    let mut import = berth
        .docker()
        .args(["import", big.to_str().unwrap(), "big:1"])
        .spawn()
        .unwrap();
    let store = dir.join("data/image");
    let busy = || {
        let any = |d: &std::path::Path, pred: &dyn Fn(&str) -> bool| {
            std::fs::read_dir(d)
                .is_ok_and(|r| r.flatten().any(|e| pred(&e.file_name().to_string_lossy())))
        };
        any(&store.join("ingest"), &|_| true)
            || any(&store.join("layers"), &|n| n.starts_with(".tmp-"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !busy() {
        assert!(
            std::time::Instant::now() < deadline,
            "the import never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    berth.kill_and_restart();
    let _ = import.wait();
    let o = berth.run(&["image", "inspect", "big:1"]);
    assert!(!o.status.success(), "a half-imported image is visible");
    let leftovers: Vec<String> = std::fs::read_dir(store.join("layers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "partial layers left: {leftovers:?}");
    assert_eq!(std::fs::read_dir(store.join("ingest")).unwrap().count(), 0);
    // The store still works.
    berth.import_busybox();
    assert_eq!(berth.ok(&["run", "--rm", "busybox", "echo", "ok"]), "ok");
}
