//! docker-compose (v1, Debian) and docker-py (python3-docker) against `berth daemon` (root):
//! clients other than the docker CLI work unchanged.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::process::Command;

use common::daemon::Daemon;
use common::{require_root, run_to_files, stderr, stdout};

const COMPOSE: &str = r#"version: "3"
services:
  web:
    image: busybox
    command: httpd -f -p 80 -h /etc
    ports: ["PORT:80"]
  client:
    image: busybox
    command: sh -c "sleep 0.5; wget -qO- http://web/hostname; sleep 60"
    depends_on: [web]
"#;

#[test]
fn docker_compose_brings_a_project_up_and_down() {
    if !require_root("compose") {
        return;
    }
    let d = Daemon::start();
    d.import_busybox();
    let dir = d.dir.path().join("proj");
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.join("docker-compose.yml"),
        COMPOSE.replace("PORT", &port.to_string()),
    )
    .unwrap();
    let compose = |args: &[&str]| {
        run_to_files(
            Command::new("docker-compose")
                .current_dir(&dir)
                .env("DOCKER_HOST", d.host())
                .args(args),
        )
    };
    let o = compose(&["up", "-d"]);
    assert!(o.status.success(), "up: {}{}", stdout(&o), stderr(&o));
    let mut logs = String::new();
    for _ in 0..50 {
        logs = stdout(&compose(&["logs", "client"]));
        if logs.lines().count() > 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let web_id = d.ok(&["inspect", "-f", "{{.Config.Hostname}}", "proj_web_1"]);
    assert_eq!(web_id.len(), 12, "{web_id}");
    assert!(
        logs.contains(&web_id),
        "client did not reach web by name: {logs}"
    );
    let o = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "3",
            &format!("http://127.0.0.1:{port}/hostname"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), web_id);
    let o = compose(&["down", "-t", "1"]);
    assert!(o.status.success(), "down: {}", stderr(&o));
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert!(
        !d.ok(&["network", "ls", "--format", "{{.Name}}"])
            .contains("proj_default")
    );
}

#[test]
fn docker_py_drives_berth() {
    if !require_root("docker_py") {
        return;
    }
    let d = Daemon::start();
    d.import_busybox();
    let script = format!(
        r#"
import docker
c = docker.DockerClient(base_url="{}")
assert c.ping()
print(c.containers.run("busybox", "echo hi from docker-py", remove=True).decode().strip())
ct = c.containers.run("busybox", "sleep 30", detach=True, name="py1")
r = ct.exec_run("sh -c 'echo $((1+2))'")
print(r.exit_code, r.output.decode().strip())
ct.stop(timeout=1); ct.reload()
print(ct.status, ct.attrs["State"]["ExitCode"])
ct.remove()
print(c.volumes.create("pyvol").name); c.volumes.get("pyvol").remove()
"#,
        d.host()
    );
    let o = run_to_files(Command::new("python3").args(["-c", &script]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hi from docker-py\n0 3\nexited 137\npyvol\n");
}
