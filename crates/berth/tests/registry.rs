//! Pull and push against Debian's `docker-registry` (CNCF distribution) on 127.0.0.1: the
//! real dockerd builds and pushes, the docker CLI pulls through berth and runs; berth pushes,
//! skopeo and the real dockerd read it. Auth, TLS and bad input each get their own registry.
#![allow(clippy::unwrap_used)] // tests: a panic is the report

mod common;

use std::path::Path;

use common::daemon::Daemon;
use common::dockerd::Dockerd;
use common::registry::{Mode, Options, Proxy, Registry, free_port, make_tls};
use common::{require_root, stderr, stdout};

/// Builds a three-layer image in dockerd and pushes it as `<host>/test/app:v1`; returns its
/// reference, manifest digest and image id.
fn push_test_image(dd: &Dockerd, host: &str) -> (String, String, String) {
    let ctx = dd.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("f"), "file layer\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo hello > /greeting\nCOPY f /f\nCMD [\"cat\", \"/greeting\"]\n",
    )
    .unwrap();
    let reference = format!("{host}/test/app:v1");
    dd.ok(&["build", "-q", "-t", &reference, ctx.to_str().unwrap()]);
    let out = dd.ok(&["push", &reference]);
    let digest = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in push output: {out}"))
        .to_owned();
    let id = dd.ok(&["inspect", "-f", "{{.Id}}", &reference]);
    (reference, digest, id)
}

fn skopeo_digest(reference: &str) -> String {
    let o = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo: {}", stderr_of(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Nothing half-made in the store: no ingest files, no temporary layers.
fn assert_store_clean(d: &Daemon) {
    let image = d.dir.path().join("data/image");
    let ingest: Vec<_> = std::fs::read_dir(image.join("ingest"))
        .unwrap()
        .flatten()
        .collect();
    assert!(ingest.is_empty(), "ingest leftovers: {ingest:?}");
    let tmp: Vec<_> = std::fs::read_dir(image.join("layers"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(tmp.is_empty(), "temporary layers left: {tmp:?}");
}

fn layer_count(d: &Daemon) -> usize {
    std::fs::read_dir(d.dir.path().join("data/image/layers"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count()
}

#[test]
fn docker_pushes_berth_pulls_runs_and_pushes_back() {
    if !require_root("docker_pushes_berth_pulls_runs_and_pushes_back") {
        return;
    }
    let reg = Registry::start();
    let dd = Dockerd::start();
    let (reference, digest, id) = push_test_image(&dd, &reg.host());
    let d = Daemon::start();

    let out = d.ok(&["pull", &reference]);
    for want in [
        "v1: Pulling from test/app",
        "Pull complete",
        &format!("Digest: {digest}"),
        &format!("Status: Downloaded newer image for {reference}"),
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    let repo = reference.trim_end_matches(":v1");
    assert_eq!(d.ok(&["inspect", "-f", "{{.Id}}", &reference]), id);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{json .RepoDigests}}", &reference]),
        format!("[\"{repo}@{digest}\"]")
    );
    assert_eq!(d.ok(&["run", "--rm", &reference]), "hello");

    // Again, by tag and by digest: nothing to fetch.
    let again = d.ok(&["pull", &reference]);
    assert!(again.contains("Image is up to date"), "{again}");
    let by_digest = format!("{repo}@{digest}");
    let again = d.ok(&["pull", &by_digest]);
    assert!(again.contains("Image is up to date"), "{again}");
    assert_eq!(
        d.ok(&["run", "--rm", &by_digest, "cat", "/f"]),
        "file layer"
    );

    // Pushed back under another name: blobs mounted, the manifest digest kept.
    let copy = format!("{}/test/copy:v1", reg.host());
    d.ok(&["tag", &reference, &copy]);
    let out = d.ok(&["push", &copy]);
    assert!(out.contains("Mounted from test/app"), "{out}");
    assert!(
        out.contains(&format!("v1: digest: {digest} size:")),
        "{out}"
    );
    assert_eq!(skopeo_digest(&copy), digest);
    assert_store_clean(&d);
}

#[test]
fn berth_pushes_and_real_docker_runs_it() {
    if !require_root("berth_pushes_and_real_docker_runs_it") {
        return;
    }
    let reg = Registry::start();
    let d = Daemon::start();
    d.import_busybox();
    let target = format!("{}/bb/box:1", reg.host());
    d.ok(&["tag", "busybox:latest", &target]);
    let out = d.ok(&["push", &target]);
    assert!(out.contains("Pushed"), "{out}");
    let digest = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap()
        .to_owned();
    assert_eq!(skopeo_digest(&target), digest);
    let raw = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{target}"))
        .output()
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    // A second push finds every blob there.
    let out = d.ok(&["push", &target]);
    assert!(out.contains("Layer already exists"), "{out}");
    assert!(out.contains(&digest), "{out}");
    // The push recorded the digest.
    assert!(
        d.ok(&["inspect", "-f", "{{json .RepoDigests}}", &target])
            .contains(&digest)
    );

    let dd = Dockerd::start();
    dd.ok(&["pull", &target]);
    assert_eq!(dd.ok(&["run", "--rm", &target, "echo", "ok"]), "ok");
    let via_docker = dd.ok(&["inspect", "-f", "{{json .RepoDigests}}", &target]);
    assert!(via_docker.contains(&digest), "{via_docker}");
}

#[test]
fn berth_cli_pull_run_pull_flag_and_quiet() {
    if !require_root("berth_cli_pull_run_pull_flag_and_quiet") {
        return;
    }
    let reg = Registry::start();
    let dd = Dockerd::start();
    let (reference, digest, _) = push_test_image(&dd, &reg.host());
    let d = Daemon::start();
    let berth = |args: &[&str]| {
        common::run_to_files(
            std::process::Command::new(common::berth())
                .arg("-H")
                .arg(d.host())
                .env("DOCKER_CONFIG", d.dir.path().join("cfg"))
                .args(args),
        )
    };
    // `run` pulls what is missing (progress on stderr), `--pull never` refuses.
    let o = berth(&["run", "--rm", "--pull", "never", &reference]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("No such image"), "{}", stderr(&o));
    let o = berth(&["run", "--rm", &reference]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "hello");
    assert!(
        stderr(&o).contains("Unable to find image"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("Pull complete"), "{}", stderr(&o));
    // Piped: plain lines; -q: only the name.
    let o = berth(&["pull", &reference]);
    assert!(
        stdout(&o).contains(&format!("Digest: {digest}")),
        "{}",
        stdout(&o)
    );
    let o = berth(&["pull", "-q", &reference]);
    assert_eq!(stdout(&o).trim(), reference);
}

#[test]
fn htpasswd_registry_refuses_until_login() {
    if !require_root("htpasswd_registry_refuses_until_login") {
        return;
    }
    let reg = Registry::start_with(Options {
        htpasswd: Some(("alice".into(), "s3cret".into())),
        ..Options::default()
    });
    let d = Daemon::start();
    d.import_busybox();
    let cfg = d.dir.path().join("cfg");
    let berth = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut c = std::process::Command::new(common::berth())
            .arg("-H")
            .arg(d.host())
            .env("DOCKER_CONFIG", &cfg)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    let target = format!("{}/private/box:1", reg.host());
    d.ok(&["tag", "busybox:latest", &target]);
    let o = berth(&["push", &target], "");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unauthorized"), "{}", stderr(&o));

    let o = berth(
        &["login", "-u", "alice", "--password-stdin", &reg.host()],
        "wrong\n",
    );
    assert!(!o.status.success());
    assert!(
        !cfg.join("config.json").exists(),
        "wrong credentials were stored"
    );

    let o = berth(
        &["login", "-u", "alice", "--password-stdin", &reg.host()],
        "s3cret\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "Login Succeeded");
    let file = cfg.join("config.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(v["auths"][reg.host()]["auth"].is_string(), "{v}");

    let o = berth(&["push", &target], "");
    assert!(o.status.success(), "{}", stderr(&o));
    d.ok(&["rmi", &target]);
    let o = berth(&["pull", &target], "");
    assert!(o.status.success(), "{}", stderr(&o));

    // The docker CLI with the same config (the daemon gets X-Registry-Auth from it).
    let docker = d
        .docker()
        .env("DOCKER_CONFIG", &cfg)
        .args(["pull", &target])
        .output()
        .unwrap();
    assert!(docker.status.success(), "{}", stderr_of(&docker));

    let o = berth(&["logout", &reg.host()], "");
    assert_eq!(
        stdout(&o).trim(),
        format!("Removing login credentials for {}", reg.host())
    );
    d.ok(&["rmi", &target]);
    let o = berth(&["pull", &target], "");
    assert!(!o.status.success());
}

#[test]
fn tls_registry_with_a_ca_in_certs_d() {
    if !require_root("tls_registry_with_a_ca_in_certs_d") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_tls(certs.path(), "good");
    let (other_ca, _, _) = make_tls(certs.path(), "other");
    let reg = Registry::start_with(Options {
        tls: Some((cert, key)),
        ..Options::default()
    });
    let certs_d = |ca: &str| {
        let dir = tempfile::tempdir().unwrap();
        let host_dir = dir.path().join(reg.host());
        std::fs::create_dir_all(&host_dir).unwrap();
        std::fs::copy(ca, host_dir.join("ca.crt")).unwrap();
        dir
    };
    let good = certs_d(&ca);
    let d = Daemon::start_with(&["--registry-certs-dir", good.path().to_str().unwrap()]);
    d.import_busybox();
    let target = format!("{}/tls/box:1", reg.host());
    d.ok(&["tag", "busybox:latest", &target]);
    d.ok(&["push", &target]);
    d.ok(&["rmi", &target]);
    d.ok(&["pull", &target]);

    // A CA that did not sign the registry's certificate: refused.
    let bad = certs_d(&other_ca);
    let d2 = Daemon::start_with(&["--registry-certs-dir", bad.path().to_str().unwrap()]);
    let o = d2.run(&["pull", &target]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("certificate") || e.contains("HTTP request to an HTTPS server"),
        "{e}"
    );
    assert!(!Path::new(&certs.path().join("none")).exists());
}

#[test]
fn bad_registries_are_clear_errors_and_store_nothing() {
    if !require_root("bad_registries_are_clear_errors_and_store_nothing") {
        return;
    }
    let reg = Registry::start();
    let dd = Dockerd::start();
    let (reference, _, _) = push_test_image(&dd, &reg.host());
    let d = Daemon::start();
    let path = reference.split_once('/').unwrap().1;

    let o = d.run(&["pull", &format!("{}/test/app:nope", reg.host())]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("manifest unknown"), "{}", stderr(&o));
    let o = d.run(&["pull", &format!("{}/test/nothere:v1", reg.host())]);
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));

    let o = d.run(&["pull", &format!("127.0.0.1:{}/{path}", free_port())]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).to_lowercase().contains("connection refused"),
        "{}",
        stderr(&o)
    );

    let corrupt = Proxy::start(reg.port, Mode::CorruptBlobs);
    let o = d.run(&["pull", &format!("{}/{path}", corrupt.host())]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unexpected digest"), "{}", stderr(&o));

    let broken = Proxy::start(reg.port, Mode::TruncateManifests);
    let o = d.run(&["pull", &format!("{}/{path}", broken.host())]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("malformed"), "{}", stderr(&o));

    // A manifest list whose only entry is for another platform.
    let manifest = std::process::Command::new("curl")
        .args([
            "-sf",
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
        ])
        .arg(format!("http://{}/v2/test/app/manifests/v1", reg.host()))
        .output()
        .unwrap();
    let m = manifest.stdout;
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [{
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": format!("sha256:{}", sha256_hex(&m)),
            "size": m.len(),
            "platform": {"architecture": "s390x", "os": "linux"}
        }]
    });
    let put = std::process::Command::new("curl")
        .args([
            "-sf",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.docker.distribution.manifest.list.v2+json",
            "--data-binary",
        ])
        .arg(list.to_string())
        .arg(format!(
            "http://{}/v2/test/app/manifests/s390x-only",
            reg.host()
        ))
        .output()
        .unwrap();
    assert!(put.status.success(), "{}", stderr_of(&put));
    let o = d.run(&["pull", &format!("{}/test/app:s390x-only", reg.host())]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no matching manifest for linux/"),
        "{}",
        stderr(&o)
    );

    assert_eq!(d.ok(&["images", "-q"]), "");
    assert_eq!(layer_count(&d), 0);
    assert_store_clean(&d);
}

fn sha256_hex(data: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m");
    std::fs::write(&f, data).unwrap();
    let o = std::process::Command::new("sha256sum")
        .arg(&f)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn daemon_killed_mid_pull_leaves_no_half_image() {
    if !require_root("daemon_killed_mid_pull_leaves_no_half_image") {
        return;
    }
    let reg = Registry::start();
    let dd = Dockerd::start();
    let (reference, _, id) = push_test_image(&dd, &reg.host());
    let path = reference.split_once('/').unwrap().1.to_owned();
    let slow = Proxy::start(reg.port, Mode::Trickle);
    let mut d = Daemon::start();
    let slow_ref = format!("{}/{path}", slow.host());
    let mut pull = d.docker().args(["pull", &slow_ref]).spawn().unwrap();
    // Wait until a layer is being written, then kill the daemon.
    let ingest = d.dir.path().join("data/image/ingest");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(&ingest).map_or(0, Iterator::count) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pull never started writing"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    d.kill_and_restart();
    let _ = pull.wait();
    assert_store_clean(&d);
    assert_eq!(d.ok(&["images", "-q"]), "");
    // A whole pull afterwards works.
    d.ok(&["pull", &reference]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.Id}}", &reference]), id);
}
