//! The rest of the container surface through the real docker CLI against `berth daemon`
//! (root): pause, rename, top, stats, cp, diff, export, events, update, prune, health,
//! init, read-only root, tmpfs, log options, wait.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::{require_root, stderr};

fn daemon() -> Option<Daemon> {
    if !require_root("docker_features") {
        return None;
    }
    let d = Daemon::start();
    d.import_busybox();
    Some(d)
}

#[test]
fn pause_rename_top_stats_update() {
    let Some(d) = daemon() else { return };
    d.ok(&["run", "-d", "--name", "p1", "busybox", "sleep", "100"]);
    d.ok(&["pause", "p1"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "p1"]),
        "paused"
    );
    assert!(
        d.ok(&["ps", "--format", "{{.Status}}"])
            .contains("(Paused)")
    );
    d.ok(&["unpause", "p1"]);
    d.ok(&["rename", "p1", "p2"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.Name}}", "p2"]), "/p2");
    let top = d.ok(&["top", "p2"]);
    assert!(top.contains("sleep 100"), "{top}");
    let stats = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "p2",
    ]);
    assert_eq!(stats, "p2 1");
    d.ok(&["update", "-m", "64m", "--memory-swap", "128m", "p2"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.Memory}}", "p2"]),
        "67108864"
    );
    let limit = d.ok(&["exec", "p2", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"]);
    assert_eq!(limit, "67108864");
    d.ok(&["restart", "-t", "0", "p2"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Running}}", "p2"]), "true");
}

#[test]
fn copy_diff_export_and_prune() {
    let Some(d) = daemon() else { return };
    d.ok(&[
        "run",
        "-d",
        "--name",
        "fs",
        "busybox",
        "sh",
        "-c",
        "echo data > /made; rm /etc/group; sleep 100",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let diff = d.ok(&["diff", "fs"]);
    assert!(diff.contains("A /made"), "{diff}");
    assert!(diff.contains("D /etc/group"), "{diff}");
    let host = d.dir.path().join("cp");
    std::fs::create_dir_all(&host).unwrap();
    d.ok(&["cp", "fs:/made", host.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(host.join("made")).unwrap(),
        "data\n"
    );
    std::fs::write(host.join("in"), "into the container\n").unwrap();
    d.ok(&["cp", host.join("in").to_str().unwrap(), "fs:/tmp/in"]);
    assert_eq!(
        d.ok(&["exec", "fs", "cat", "/tmp/in"]),
        "into the container"
    );
    // A symlink in the container pointing at the host's /etc stays inside the container.
    d.ok(&["exec", "fs", "ln", "-s", "/etc", "/escape"]);
    d.ok(&["cp", "fs:/escape/passwd", host.join("p").to_str().unwrap()]);
    assert!(
        std::fs::read_to_string(host.join("p"))
            .unwrap()
            .starts_with("root:x:0:0:root:/root:/bin/sh")
    );
    let tar = d.dir.path().join("export.tar");
    d.ok(&["export", "-o", tar.to_str().unwrap(), "fs"]);
    let listing = std::process::Command::new("tar")
        .arg("tf")
        .arg(&tar)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "made"),
        "export lacks /made"
    );
    d.ok(&["rm", "-f", "fs"]);
    d.ok(&["create", "--name", "stopped", "busybox", "true"]);
    let pruned = d.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers"), "{pruned}");
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
fn health_init_readonly_tmpfs_logs_wait_events() {
    let Some(d) = daemon() else { return };
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -e /tmp/ready",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sh",
        "-c",
        "sleep 1; touch /tmp/ready; sleep 100",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let s = d.ok(&["inspect", "-f", "{{.State.Health.Status}}", "hc"]);
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "healthy" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(seen.last().map(String::as_str), Some("healthy"), "{seen:?}");
    assert!(
        d.ok(&["ps", "--format", "{{.Status}}"])
            .contains("(healthy)")
    );
    // --init: docker-init (tini, from docker.io) is pid 1; the command is its child.
    let comm = d.ok(&["run", "--rm", "--init", "busybox", "cat", "/proc/1/comm"]);
    assert!(
        comm.starts_with("docker-init") || comm.starts_with("tini"),
        "pid 1 is {comm}"
    );
    let o = d.run(&["system", "prune", "-f"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.run(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "touch /scratch/ok && touch /nope",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 300); do echo line-$i; done",
    ]);
    assert_eq!(d.ok(&["wait", "chatty"]), "0");
    let tail = d.ok(&["logs", "--tail", "2", "chatty"]);
    assert_eq!(tail, "line-299\nline-300");
    let log = d.ok(&["inspect", "-f", "{{.LogPath}}", "chatty"]);
    assert!(
        std::fs::metadata(&log).unwrap().len() <= 1024 + 128,
        "log not rotated"
    );
    let ts = d.ok(&["logs", "-t", "--tail", "1", "chatty"]);
    assert!(ts.ends_with(" line-300") && ts.contains('T'), "{ts}");
    let until = (std::time::SystemTime::now() + Duration::from_secs(1))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let events = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "container=chatty",
        "--format",
        "{{.Action}}",
    ]);
    for action in ["create", "start", "die"] {
        assert!(
            events.lines().any(|l| l == action),
            "no {action} event in {events}"
        );
    }
    let df = d.ok(&["system", "df", "--format", "{{.Type}}"]);
    assert!(df.contains("Images") && df.contains("Containers"), "{df}");
}

/// Every container has Docker's empty `/.dockerenv` (tools detect Docker by it), and neither it
/// nor an unrequested docker-init is a change; only `--init` runs and mounts docker-init.
#[test]
fn dockerenv_is_there_and_init_only_when_asked() {
    let Some(d) = daemon() else { return };
    let id = d.ok(&["run", "-d", "busybox", "sleep", "100"]);
    assert_eq!(
        d.ok(&["exec", &id, "stat", "-c", "%a %s %U", "/.dockerenv"]),
        "755 0 root"
    );
    assert_eq!(
        d.ok(&["exec", &id, "cat", "/proc/1/cmdline"]),
        "sleep\u{0}100\u{0}",
    );
    assert!(
        d.run(&["exec", &id, "test", "-e", "/sbin/docker-init"])
            .status
            .code()
            == Some(1),
        "docker-init is mounted only with --init"
    );
    assert_eq!(d.ok(&["diff", &id]), "", "a fresh container has no changes");
    d.ok(&["rm", "-f", &id]);
}
