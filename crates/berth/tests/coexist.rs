//! berth next to a running dockerd whose filter table drops forwarded traffic by policy
//! (root; Debian's docker.io). Alone in its test binary: it changes the host's FORWARD policy
//! for its duration and restores it.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::process::Command;

use common::daemon::Daemon;
use common::dockerd::Dockerd;
use common::require_root;

fn sh(c: &str) -> String {
    let o = Command::new("sh").args(["-c", c]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

struct ForwardPolicy(String);

impl Drop for ForwardPolicy {
    fn drop(&mut self) {
        sh(&format!("iptables -P FORWARD {}", self.0));
    }
}

#[test]
fn berth_and_dockerd_both_keep_working() {
    if !require_root("coexist") {
        return;
    }
    let policy = sh("iptables -S FORWARD | awk '/^-P FORWARD/ {print $3}'");
    let _restore = ForwardPolicy(if policy.is_empty() {
        "ACCEPT".into()
    } else {
        policy
    });
    let bridge = format!("dco{}", std::process::id() % 100_000);
    sh(&format!(
        "ip link add {bridge} type bridge && ip addr add 10.198.77.1/24 dev {bridge} && ip link set {bridge} up"
    ));
    let docker = Dockerd::start_with(&["--bridge", &bridge]);
    // What Docker does when it enables forwarding itself.
    sh("iptables -P FORWARD DROP");
    let berth = Daemon::start();
    berth.import_busybox();
    // berth's accept rules in Docker's chain keep it readable by iptables (Docker's tool).
    let o = Command::new("iptables")
        .args(["-S", "DOCKER-USER"])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "iptables cannot read DOCKER-USER: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("-i {} -j ACCEPT", berth.bridge)));
    // Docker's own containers still run and reach each other.
    docker.ok(&[
        "run", "-d", "--name", "dweb", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
    ]);
    let dip = docker.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "dweb"]);
    let got = docker.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{dip}/group"),
    ]);
    assert!(got.starts_with("root:"), "{got}");
    // berth's containers reach each other through a published port (forwarded traffic).
    berth.ok(&[
        "run", "-d", "--name", "bweb", "-p", "18093:80", "busybox", "httpd", "-f", "-p", "80",
        "-h", "/etc",
    ]);
    let gw = berth.ok(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", "bweb"]);
    let got = berth.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{gw}:18093/passwd"),
    ]);
    assert!(got.starts_with("root:"), "{got}");
    let o = Command::new("curl")
        .args(["-s", "--max-time", "3", "http://127.0.0.1:18093/passwd"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("root:"));
    // And a berth container reaches the Docker container's address (routed between bridges).
    let got = berth.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{dip}/group"),
    ]);
    assert!(got.starts_with("root:"), "{got}");
    drop(berth);
    drop(docker);
    sh(&format!("ip link del {bridge}"));
}
