//! Regression tests for holes found by probing berth as a hostile tenant and a careful
//! operator would (issue 14), through the real docker CLI against `berth daemon` (root).
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::{build_probe, stderr, stdout};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Runs `argv` as uid/gid 65534 with no supplementary groups.
fn as_nobody(argv: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--",
        ])
        .args(argv)
        .output()
        .expect("running setpriv (util-linux)")
}

/// CVE-2016-9962 class: while `docker exec` sets up, the helper that joins the container must
/// be invisible to a hostile PID 1 — not ptrace-able, no host fds to open through /proc.
#[test]
fn exec_helper_is_neither_traceable_nor_holds_host_fds() {
    let Some(d) = Daemon::with_busybox("exec_helper_is_neither_traceable_nor_holds_host_fds")
    else {
        return;
    };
    let probe_dir = d.dir.path().join("probe");
    std::fs::create_dir_all(&probe_dir).unwrap();
    build_probe("exec_watcher", &probe_dir);
    let vol = format!("{}:/probe:ro", probe_dir.display());
    let id = d.ok(&["run", "-d", "-v", &vol, "busybox", "/probe/exec_watcher"]);
    for _ in 0..50 {
        d.ok(&["exec", &id, "true"]);
    }
    // Positive controls: a process the watcher must see, seize, and whose extra fd it must
    // list — so a watcher that sees nothing cannot pass the test.
    d.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "exec 3</etc/hostname; sleep 1 & wait",
    ]);
    d.ok(&["exec", &id, "touch", "/tmp/stop"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        let logs = d.ok(&["logs", &id]);
        if logs.lines().any(|l| l == "done") {
            break logs;
        }
        assert!(Instant::now() < deadline, "watcher did not finish:\n{logs}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let busybox = |l: &str| l.split(' ').nth(2) == Some("/bin/busybox");
    // `?errno2`: the process exited between the seize and the readlink, so it was past its
    // exec (the helper is never dumpable, so the seize itself would have failed).
    let gone = |l: &str| l.split(' ').nth(2) == Some("?errno2");
    let found: Vec<&str> = report
        .lines()
        .filter(|l| (l.starts_with("fds ") || l.starts_with("seized ")) && !busybox(l) && !gone(l))
        .collect();
    assert!(
        found.is_empty(),
        "the exec helper was reachable from the container:\n{}",
        found.join("\n")
    );
    assert!(
        report.lines().any(|l| l.starts_with("fds ") && busybox(l)),
        "the watcher never listed a process's fds (control failed):\n{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("seized ") && busybox(l)),
        "the watcher never seized a process (control failed):\n{report}"
    );
}

/// CVE-2021-41091 class: a setuid binary container root makes in its writable layer must not
/// be reachable by an unprivileged host user through the data root or the exec root; logs are
/// not world-readable.
#[test]
fn data_and_exec_roots_are_closed_to_host_users() {
    let Some(d) = Daemon::with_busybox("data_and_exec_roots_are_closed_to_host_users") else {
        return;
    };
    // Open the test's own temp dir, so only berth's modes stand between nobody and the data.
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let id = d.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "cp /bin/busybox /tmp/suid && chmod 4755 /tmp/suid && echo secret-output && sleep 600",
    ]);
    let data = d.dir.path().join("data");
    let exec = d.dir.path().join("exec");
    let upper = data.join(format!("image/containers/{id}/upper/tmp/suid"));
    let merged = exec.join(format!("containers/{id}/rootfs/tmp/suid"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !upper.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            upper.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(mode(&data), 0o710, "data root");
    assert_eq!(mode(&exec), 0o710, "exec root");
    for path in [&upper, &merged] {
        let o = as_nobody(&["/bin/sh", "-c", "exec \"$0\" id -u", path.to_str().unwrap()]);
        assert!(
            !o.status.success(),
            "uid 65534 ran {}: {}",
            path.display(),
            stdout(&o)
        );
        assert!(
            stderr(&o).contains("Permission denied"),
            "{}: {}",
            path.display(),
            stderr(&o)
        );
    }
    let log = PathBuf::from(d.ok(&["inspect", "-f", "{{.LogPath}}", &id]));
    assert_eq!(mode(&log), 0o640, "{}", log.display());
    // Even with every directory open, the log itself is not for others.
    let o = as_nobody(&["cat", log.to_str().unwrap()]);
    assert!(!o.status.success(), "uid 65534 read the log");
    d.ok(&["rm", "-f", &id]);
}

/// Files berth writes into a container are 0644, as Docker's: a non-root process must be able
/// to read them to resolve names.
#[test]
fn generated_etc_files_are_readable_by_any_container_user() {
    let Some(d) = Daemon::with_busybox("generated_etc_files_are_readable_by_any_container_user")
    else {
        return;
    };
    let out = d.ok(&[
        "run",
        "--rm",
        "-u",
        "65534:65534",
        "busybox",
        "sh",
        "-c",
        "cat /etc/resolv.conf /etc/hosts /etc/hostname >/dev/null && stat -c '%a %n' /etc/resolv.conf /etc/hosts /etc/hostname",
    ]);
    assert_eq!(
        out, "644 /etc/resolv.conf\n644 /etc/hosts\n644 /etc/hostname",
        "{out}"
    );
}
