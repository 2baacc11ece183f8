//! The real docker CLI against `berth daemon` (root): what a Docker user types must behave as
//! it does with dockerd — output, exit codes, errors.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::{require_root, stderr, stdout};

fn daemon() -> Option<Daemon> {
    if !require_root("docker_cli") {
        return None;
    }
    let d = Daemon::start();
    d.import_busybox();
    Some(d)
}

#[test]
fn version_info_and_images() {
    let Some(d) = daemon() else { return };
    let v = d.ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Os}}",
    ]);
    assert_eq!(v, "1.51 linux");
    assert_eq!(d.ok(&["info", "--format", "{{.Driver}}"]), "overlay2");
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images, "busybox:latest");
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    assert!(id.starts_with("sha256:"), "{id}");
}

#[test]
fn run_exit_codes_and_streams() {
    let Some(d) = daemon() else { return };
    let o = d.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    let o = d.run(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("executable file not found"),
        "{}",
        stderr(&o)
    );
    let o = d.run(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    // --rm leaves nothing behind, even after a failed start.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
fn detached_container_lifecycle() {
    let Some(d) = daemon() else { return };
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 1000",
    ]);
    assert_eq!(id.len(), 64);
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("web Up"), "{ps}");
    assert_eq!(d.ok(&["exec", "web", "sh", "-c", "echo $((6*7))"]), "42");
    assert_eq!(
        d.ok(&[
            "exec",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "web",
            "sh",
            "-c",
            "id -u; pwd"
        ]),
        "65534\n/tmp"
    );
    let o = d.run(&["exec", "web", "sh", "-c", "exit 4"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(d.ok(&["logs", "web"]), "started");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}} {{.Name}}", "web"]),
        "true /web"
    );
    let t = Instant::now();
    d.ok(&["stop", "-t", "1", "web"]);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(5), "stop -t 1 took {took:?}");
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "web"
        ]),
        "exited 137"
    );
    d.ok(&["start", "web"]);
    d.ok(&["kill", "web"]);
    d.ok(&["rm", "web"]);
    let o = d.run(&["inspect", "web"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("No such object: web"), "{}", stderr(&o));
}

#[test]
fn bad_input_gets_dockers_errors() {
    let Some(d) = daemon() else { return };
    let o = d.run(&["rm", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("No such container: nosuch"),
        "{}",
        stderr(&o)
    );
    d.ok(&["create", "--name", "taken", "busybox", "true"]);
    let o = d.run(&["create", "--name", "taken", "busybox", "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is already in use"), "{}", stderr(&o));
    let o = d.run(&["run", "--rm", "-m", "1k", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("Minimum memory limit"),
        "{}",
        stderr(&o)
    );
    let o = d.run(&["run", "--rm", "nosuchimage"]);
    assert_eq!(o.status.code(), Some(125));
    // Malformed JSON: a 400 with Docker's error body, and the daemon keeps serving.
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--unix-socket",
        ])
        .arg(d.sock())
        .args([
            "-XPOST",
            "-H",
            "Content-Type: application/json",
            "-d",
            "{not json",
            "http://x/containers/create",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "400");
    assert_eq!(d.ok(&["ps", "-aq"]).lines().count(), 1);
}

#[test]
fn tty_through_a_pseudo_terminal() {
    let Some(d) = daemon() else { return };
    let cmd = format!(
        "DOCKER_HOST={} {} run -it --rm busybox sh -c 'tty; exit 5'",
        d.host(),
        common::daemon::docker_bin()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", stdout(&o));
    assert!(stdout(&o).contains("/dev/pts/0"), "{}", stdout(&o));
    // ctrl-p ctrl-q detaches: the CLI exits 0 and the container keeps running.
    let cmd = format!(
        "(sleep 1; printf '\\020\\021') | DOCKER_HOST={} script -qec '{} run -it --name detached busybox sh' /dev/null",
        d.host(),
        common::daemon::docker_bin()
    );
    let o = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "detached"]),
        "true"
    );
    d.ok(&["rm", "-f", "detached"]);
}

#[test]
fn containers_survive_a_killed_daemon() {
    let Some(mut d) = daemon() else { return };
    d.ok(&[
        "run",
        "-d",
        "--name",
        "keep",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.2; done",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ends",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 7",
    ]);
    // `--rm` containers: one never started, one that exits while the daemon is down, one
    // still running; dockerd removes the first two at its start and keeps the third.
    d.ok(&["create", "--rm", "--name", "rm-created", "busybox", "true"]);
    d.ok(&[
        "run", "-d", "--rm", "--name", "rm-ends", "busybox", "sleep", "1",
    ]);
    d.ok(&[
        "run", "-d", "--rm", "--name", "rm-runs", "busybox", "sleep", "300",
    ]);
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", "keep"]);
    d.kill_and_restart();
    std::thread::sleep(Duration::from_millis(1500));
    d.kill_and_restart();
    let left = || d.ok(&["ps", "-a", "--format", "{{.Names}}", "--filter", "name=rm-"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while left() != "rm-runs" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(left(), "rm-runs");
    d.ok(&["rm", "-f", "rm-runs"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Pid}}", "keep"]), pid);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "keep"]),
        "running"
    );
    // The exit that happened while the daemon was down is recorded.
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "ends"
        ]),
        "exited 7"
    );
    assert!(d.ok(&["logs", "--tail", "1", "keep"]).contains("tick"));
    assert_eq!(d.ok(&["exec", "keep", "echo", "hi"]), "hi");
    d.ok(&["stop", "-t", "1", "keep"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "keep"]),
        "exited"
    );
}

#[test]
fn volumes_and_binds() {
    let Some(d) = daemon() else { return };
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "data:/data",
            "busybox",
            "cat",
            "/data/f"
        ]),
        "kept"
    );
    assert!(d.ok(&["volume", "ls", "-q"]).lines().any(|l| l == "data"));
    let host = d.dir.path().join("bind");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("x"), "from host").unwrap();
    let spec = format!("{}:/b:ro", host.display());
    assert_eq!(
        d.ok(&["run", "--rm", "-v", &spec, "busybox", "cat", "/b/x"]),
        "from host"
    );
    let o = d.run(&["run", "--rm", "-v", &spec, "busybox", "touch", "/b/y"]);
    assert_eq!(o.status.code(), Some(1));
    // --mount syntax, and --volumes-from.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "holder",
        "--mount",
        "type=volume,source=shared,target=/shared",
        "busybox",
        "sh",
        "-c",
        "echo from-holder > /shared/f; sleep 100",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "holder",
            "busybox",
            "cat",
            "/shared/f"
        ]),
        "from-holder"
    );
    let tmpfs = d.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,target=/t",
        "busybox",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts | cut -d' ' -f3",
    ]);
    assert_eq!(tmpfs, "tmpfs");
    d.ok(&["rm", "-f", "holder"]);
    d.ok(&["volume", "rm", "data"]);
}

#[test]
fn restart_policy_retries() {
    let Some(d) = daemon() else { return };
    d.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            "flaky",
        ]);
        if s == "exited 2" {
            break;
        }
        assert!(Instant::now() < deadline, "still {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
