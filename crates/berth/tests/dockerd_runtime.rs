//! `berth runtime` as dockerd's OCI runtime (root, needs Debian's docker.io): dockerd →
//! containerd → containerd-shim-runc-v2 → `berth-runc` (a link to berth), the path
//! Kubernetes takes through containerd too.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::docker_bin;
use common::dockerd::Dockerd;
use common::{require_root, run_to_files, stderr, stdout};

#[test]
fn dockerd_runs_containers_with_berth_runtime() {
    if !require_root("dockerd_runtime") {
        return;
    }
    let d = Dockerd::start();
    let o = d.run(&[
        "run",
        "--runtime",
        "berth",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo hi; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}\n{}", stderr(&o), d.log());
    assert_eq!(stdout(&o), "hi\n");
    // -m reaches the cgroup (v1 memory controller on hybrid hosts, memory.max on v2).
    let limit = d.ok(&[
        "run", "--runtime", "berth", "--rm", "-m", "64m", "busybox", "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    ]);
    assert_eq!(limit, "67108864");
    d.ok(&[
        "run",
        "-d",
        "--runtime",
        "berth",
        "--name",
        "r1",
        "busybox",
        "sleep",
        "100",
    ]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.Runtime}}", "r1"]),
        "berth"
    );
    assert_eq!(d.ok(&["exec", "r1", "sh", "-c", "echo exec-ok"]), "exec-ok");
    let t = Instant::now();
    d.ok(&["stop", "-t", "1", "r1"]);
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "stop took {:?}",
        t.elapsed()
    );
    // A TTY through containerd's console socket.
    let cmd = format!(
        "DOCKER_HOST={} {} run --runtime berth -it --rm busybox sh -c 'tty; exit 4'",
        d.host(),
        docker_bin()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    assert!(stdout(&o).contains("/dev/pts/0"), "{}", stdout(&o));
}

/// containerd with the runc shim pointed at berth (`--runc-binary`), driven by `ctr`.
#[test]
fn containerd_shim_runs_berth() {
    if !require_root("containerd_shim_runs_berth") {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("berth-ctd-")
        .tempdir_in("/tmp")
        .unwrap();
    let sock = dir.path().join("c.sock");
    let runc = dir.path().join("berth-runc");
    std::os::unix::fs::symlink(common::berth(), &runc).unwrap();
    let rootfs = dir.path().join("rootfs");
    berth_test_support::make_busybox_rootfs(&rootfs).unwrap();
    let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
    let mut containerd = Command::new("containerd")
        .arg("--address")
        .arg(&sock)
        .arg("--root")
        .arg(dir.path().join("root"))
        .arg("--state")
        .arg(dir.path().join("state"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("containerd (Debian's containerd, a dependency of docker.io)");
    let ctr = |args: &[&str]| {
        run_to_files(
            Command::new("ctr")
                .arg("-a")
                .arg(&sock)
                .args(["-n", "berthtest"])
                .args(args),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ctr(&["version"]).status.success() {
        assert!(Instant::now() < deadline, "containerd did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let shim = [
        "--runtime",
        "io.containerd.runc.v2",
        "--runc-binary",
        runc.to_str().unwrap(),
    ];
    let run = |extra: &[&str], id: &str, cmd: &[&str]| {
        let mut a: Vec<&str> = vec!["run"];
        a.extend(extra);
        a.extend(shim);
        a.extend(["--rootfs", rootfs.to_str().unwrap(), id]);
        a.extend(cmd);
        ctr(&a)
    };
    let o = run(&["--rm"], "t1", &["sh", "-c", "echo hi from ctr; exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hi from ctr\n");
    let o = run(
        &["-d", "--memory-limit", "67108864"],
        "t2",
        &["sleep", "30"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let limit = std::fs::read_to_string("/sys/fs/cgroup/memory/berthtest/t2/memory.limit_in_bytes")
        .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/berthtest/t2/memory.max"))
        .unwrap();
    assert_eq!(limit.trim(), "67108864");
    let o = ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "t2",
        "sh",
        "-c",
        "echo exec-ok",
    ]);
    assert_eq!(stdout(&o), "exec-ok\n", "{}", stderr(&o));
    ctr(&["task", "kill", "-s", "SIGKILL", "t2"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ctr(&["task", "rm", "t2"]).status.success() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    ctr(&["container", "rm", "t2"]);
    let _ = containerd.kill();
    let _ = containerd.wait();
    common::unmount_under(dir.path());
}
