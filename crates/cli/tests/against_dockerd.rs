//! The client against a real Docker-API daemon.
//!
//! Skipped unless `BERTH_CLI_TEST_DOCKER_HOST` names one (e.g. `unix:///tmp/clitest.sock`).
//! It runs the built `berth` binary, found next to this test's target directory: build it first
//! with `cargo build -p berth`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn host() -> Option<String> {
    std::env::var("BERTH_CLI_TEST_DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
}

/// `target/<profile>/berth`: the test binary lives in `target/<profile>/deps/`.
fn berth_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .map(|dir| dir.join("berth"))
        .find(|candidate| candidate.is_file())
}

fn setup() -> Option<(PathBuf, String)> {
    let Some(host) = host() else {
        eprintln!("skipped: set BERTH_CLI_TEST_DOCKER_HOST to a Docker API socket to run");
        return None;
    };
    let Some(bin) = berth_binary() else {
        eprintln!("skipped: no berth binary next to the test (run `cargo build -p berth`)");
        return None;
    };
    Some((bin, host))
}

fn berth(bin: &PathBuf, host: &str, args: &[&str]) -> Output {
    let out = Command::new(bin)
        .arg("-H")
        .arg(host)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "berth {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn version_ps_images_volumes_networks() {
    let Some((bin, host)) = setup() else {
        return;
    };

    let v = stdout(&berth(&bin, &host, &["version"]));
    assert!(v.starts_with("Client:\n"), "{v}");
    assert!(v.contains("\nServer:\n Engine:\n"), "{v}");
    let api = stdout(&berth(
        &bin,
        &host,
        &["version", "--format", "{{.Server.ApiVersion}}"],
    ));
    assert!(api.trim().starts_with("1."), "{api}");

    let ps = stdout(&berth(&bin, &host, &["ps", "-a"]));
    assert!(
        ps.starts_with("CONTAINER ID   IMAGE     COMMAND   ")
            || ps.starts_with("CONTAINER ID   IMAGE "),
        "{ps}"
    );
    assert!(
        ps.lines().next().is_some_and(|h| h.ends_with("NAMES")),
        "{ps}"
    );

    let images = stdout(&berth(&bin, &host, &["images"]));
    assert!(images.starts_with("REPOSITORY "), "{images}");
    assert!(
        images
            .lines()
            .next()
            .is_some_and(|h| h.contains("IMAGE ID") && h.ends_with("SIZE"))
    );

    let name = format!("berth-cli-test-{}", std::process::id());
    assert_eq!(
        stdout(&berth(&bin, &host, &["volume", "create", &name])).trim(),
        name
    );
    let ls = stdout(&berth(&bin, &host, &["volume", "ls"]));
    assert!(ls.starts_with("DRIVER    VOLUME NAME\n"), "{ls}");
    assert!(ls.lines().any(|l| l.ends_with(&name)), "{ls}");
    let q = stdout(&berth(
        &bin,
        &host,
        &["volume", "ls", "-q", "--filter", &format!("name={name}")],
    ));
    assert_eq!(q.trim(), name);
    assert_eq!(
        stdout(&berth(&bin, &host, &["volume", "rm", &name])).trim(),
        name
    );
    let ls = stdout(&berth(&bin, &host, &["volume", "ls", "-q"]));
    assert!(!ls.lines().any(|l| l == name), "{ls}");

    let nets = stdout(&berth(&bin, &host, &["network", "ls"]));
    assert!(nets.starts_with("NETWORK ID     NAME "), "{nets}");
    assert!(nets.lines().any(|l| l.contains(" none ")), "{nets}");
}

#[test]
fn daemon_errors_are_reported_like_docker() {
    let Some((bin, host)) = setup() else {
        return;
    };
    let out = Command::new(&bin)
        .args(["-H", &host, "rm", "berth-cli-test-no-such-container"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("Error response from daemon: "), "{err}");
}
