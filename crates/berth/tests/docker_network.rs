//! Networking through the real docker CLI against `berth daemon` (root). Traffic goes only to
//! loopback, berth's bridges and the test's containers.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::process::Command;

use common::daemon::Daemon;
use common::{require_root, stderr};

fn daemon() -> Option<Daemon> {
    if !require_root("docker_network") {
        return None;
    }
    let d = Daemon::start();
    d.import_busybox();
    Some(d)
}

/// A free TCP port on loopback (bound and released; racy only against other tests).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(url: &str) -> Option<String> {
    let o = Command::new("curl")
        .args(["-s", "--max-time", "3", url])
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Interfaces enslaved to a bridge (this test's veths; other tests use other bridges).
fn bridge_ports(bridge: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{bridge}/brif")).map_or(0, Iterator::count)
}

/// The kernel deletes a container's veth when its network namespace is freed, which happens
/// asynchronously after the last process exits: wait for it (bounded).
fn wait_for_no_ports(bridge: &str) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while bridge_ports(bridge) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    bridge_ports(bridge)
}

fn table_elements(d: &Daemon) -> String {
    let o = Command::new("nft")
        .args(["list", "map", "ip", &d.bridge.replace('-', "_"), "tcp_any"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn published_ports_from_host_and_containers() {
    let Some(d) = daemon() else { return };
    let port = free_port();
    let publish = format!("{port}:80");
    d.ok(&[
        "run", "-d", "--name", "web", "-p", &publish, "busybox", "httpd", "-f", "-p", "80", "-h",
        "/etc",
    ]);
    assert_eq!(d.ok(&["port", "web"]), format!("80/tcp -> 0.0.0.0:{port}"));
    let mut body = None;
    for _ in 0..50 {
        body = http_get(&format!("http://127.0.0.1:{port}/passwd"));
        if body.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        body.unwrap_or_default().starts_with("root:"),
        "published port not reachable on 127.0.0.1"
    );
    // From another container through the bridge's gateway address (hairpin NAT).
    let gw = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        "bridge",
    ]);
    let url = format!("http://{gw}:{port}/group");
    let got = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- {url}"),
    ]);
    assert!(got.starts_with("root:"), "{got}");
    // A port that is taken is Docker's error, and nothing is left half-configured.
    let o = d.run(&[
        "run", "-d", "--name", "clash", "-p", &publish, "busybox", "sleep", "5",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("port is already allocated"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "clash"]),
        "created"
    );
    // Stopping removes the rule.
    assert!(table_elements(&d).contains(&format!("{port} :")));
    d.ok(&["stop", "-t", "0", "web"]);
    assert!(!table_elements(&d).contains(&format!("{port} :")));
}

#[test]
fn default_bridge_user_networks_dns_and_isolation() {
    let Some(d) = daemon() else { return };
    d.ok(&["run", "-d", "--name", "b1", "busybox", "sleep", "100"]);
    let ip = d.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "b1"]);
    d.ok(&["run", "--rm", "busybox", "ping", "-c1", "-W2", &ip]);
    d.ok(&["network", "create", "--subnet", "10.231.7.0/24", "appnet"]);
    let appnet_id = d.ok(&["network", "inspect", "-f", "{{.Id}}", "appnet"]);
    let appnet_bridge = format!("berth-{}", &appnet_id[..9]);
    let o = d.run(&["network", "create", "--subnet", "10.231.7.0/25", "overlap"]);
    assert!(!o.status.success(), "overlapping subnet accepted");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "api",
        "--network",
        "appnet",
        "--network-alias",
        "backend",
        "busybox",
        "sleep",
        "100",
    ]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.appnet.IPAddress}}",
            "api"
        ]),
        "10.231.7.2"
    );
    for name in ["api", "backend"] {
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "appnet",
            "busybox",
            "ping",
            "-c1",
            "-W2",
            name,
        ]);
    }
    // Networks are isolated from each other.
    let o = d.run(&["run", "--rm", "busybox", "ping", "-c1", "-W1", "10.231.7.2"]);
    assert!(
        !o.status.success(),
        "the default bridge reached a container on appnet"
    );
    // connect/disconnect on a running container.
    d.ok(&["network", "connect", "appnet", "b1"]);
    d.ok(&["exec", "b1", "ping", "-c1", "-W2", "api"]);
    d.ok(&["network", "disconnect", "appnet", "b1"]);
    let o = d.run(&["network", "rm", "nosuchnet"]);
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));
    assert_eq!(bridge_ports(&appnet_bridge), 1, "api's veth on appnet");
    d.ok(&["rm", "-f", "b1", "api"]);
    assert_eq!(
        wait_for_no_ports(&d.bridge),
        0,
        "veths left on the default bridge"
    );
    assert_eq!(wait_for_no_ports(&appnet_bridge), 0, "veths left on appnet");
    d.ok(&["network", "rm", "appnet"]);
    assert!(
        !std::path::Path::new(&format!("/sys/class/net/{appnet_bridge}")).exists(),
        "bridge left behind"
    );
}

#[test]
fn none_host_and_links() {
    let Some(d) = daemon() else { return };
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ls",
            "/sys/class/net"
        ]),
        "lo"
    );
    let host_name = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "host", "busybox", "hostname"]),
        host_name
    );
    d.ok(&[
        "run", "-d", "--name", "db", "--expose", "5432", "busybox", "sleep", "100",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--link",
        "db:database",
        "busybox",
        "sh",
        "-c",
        "grep -c database /etc/hosts; echo $DATABASE_PORT_5432_TCP_PORT",
    ]);
    assert_eq!(out, "1\n5432");
    let o = d.run(&["run", "--rm", "--network", "nosuchnet", "busybox", "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));
}
