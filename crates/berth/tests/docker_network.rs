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
    // A container on two user networks resolves names of both.
    d.ok(&["network", "create", "net2"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "other",
        "--network",
        "net2",
        "busybox",
        "sleep",
        "100",
    ]);
    d.ok(&["network", "connect", "net2", "api"]);
    d.ok(&["exec", "api", "ping", "-c1", "-W2", "other"]);
    d.ok(&["rm", "-f", "other"]);
    d.ok(&["network", "disconnect", "net2", "api"]);
    d.ok(&["network", "rm", "net2"]);
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

    // Each predefined network listed once, inspectable by the id listed, and not removable.
    let listed = d.ok(&["network", "ls", "--format", "{{.Name}} {{.ID}}"]);
    let mut names: Vec<&str> = listed
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["bridge", "host", "none"], "{listed}");
    for line in listed.lines() {
        let (name, id) = line.split_once(' ').unwrap();
        assert_eq!(d.ok(&["network", "inspect", "-f", "{{.Name}}", id]), name);
        let o = d.run(&["network", "rm", id]);
        assert!(
            stderr(&o).contains(&format!(
                "{name} is a pre-defined network and cannot be removed"
            )),
            "{}",
            stderr(&o)
        );
    }
}

/// A stub resolver on 127.0.0.77:53 answering every A query with 10.9.8.7.
fn stub_resolver() -> std::net::UdpSocket {
    let sock = std::net::UdpSocket::bind("127.0.0.77:53").unwrap();
    let s2 = sock.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = s2.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            let mut r = buf[..n].to_vec();
            r[2] = 0x81; // response, recursion desired
            r[3] = 0x80; // recursion available, no error
            r[6..8].copy_from_slice(&1u16.to_be_bytes()); // one answer
            r[8..12].fill(0);
            // name pointer to the question, type A, class IN, TTL 60, 4 bytes of address
            r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, 7]);
            let _ = s2.send_to(&r, peer);
        }
    });
    sock
}

#[test]
fn embedded_dns_forwards_to_the_hosts_resolver() {
    if !require_root("docker_network") {
        return;
    }
    let _stub = stub_resolver();
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf.path(), "nameserver 127.0.0.77\nsearch example.test\n").unwrap();
    let d = Daemon::start_with(&["--host-resolv-conf", conf.path().to_str().unwrap()]);
    d.import_busybox();
    d.ok(&["network", "create", "fwdnet"]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "fwdnet",
        "busybox",
        "nslookup",
        "outside.test",
    ]);
    assert!(out.contains("10.9.8.7"), "{out}");
    // The default bridge gets the host's resolvers minus loopback ones, which it cannot reach.
    let resolv = d.ok(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    assert!(!resolv.contains("127.0.0.77"), "{resolv}");
    assert!(resolv.contains("search example.test"), "{resolv}");
    d.ok(&["network", "rm", "fwdnet"]);
}

/// A network namespace standing in for an outside host, linked to this host by a veth.
struct Outside {
    ns: String,
    host_if: String,
    host_ip: String,
    ip: String,
}

impl Outside {
    fn new(n: u8) -> Self {
        let ns = format!("berth-up{}-{n}", std::process::id());
        let host_if = format!("bu{}h{n}", std::process::id() % 10000);
        let peer = format!("bu{}n{n}", std::process::id() % 10000);
        let (host_ip, ip) = (format!("10.77.{n}.254"), format!("10.77.{n}.1"));
        let sh = |c: &str| {
            let o = Command::new("sh").args(["-ec", c]).output().unwrap();
            assert!(
                o.status.success(),
                "{c}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        sh(&format!("ip netns add {ns}"));
        sh(&format!(
            "ip link add {host_if} type veth peer name {peer} netns {ns}"
        ));
        sh(&format!(
            "ip addr add {host_ip}/24 dev {host_if} && ip link set {host_if} up"
        ));
        sh(&format!(
            "ip -n {ns} addr add {ip}/24 dev {peer} && ip -n {ns} link set {peer} up && ip -n {ns} link set lo up"
        ));
        Self {
            ns,
            host_if,
            host_ip,
            ip,
        }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "pids", &self.ns])
            .output()
            .map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").arg(pid).status();
                }
            });
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

#[test]
fn outbound_traffic_is_masqueraded() {
    if !require_root("docker_network") {
        return;
    }
    let up = Outside::new(u8::try_from(std::process::id() % 200).unwrap() + 20);
    // The outside host answers with the address it sees the connection come from.
    let server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &up.ns,
            "socat",
            "TCP-LISTEN:9000,reuseaddr,fork",
            "SYSTEM:echo $SOCAT_PEERADDR",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let d = Daemon::start();
    d.import_busybox();
    let seen = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("nc {} 9000 </dev/null", up.ip),
    ]);
    assert_eq!(
        seen, up.host_ip,
        "the outside host saw {seen}, not the host's address"
    );
    drop(server);
}

#[test]
fn published_ports_survive_a_daemon_restart() {
    if !require_root("docker_network") {
        return;
    }
    let mut d = Daemon::start();
    d.import_busybox();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    d.ok(&[
        "run", "-d", "--name", "web", "-p", &publish, "busybox", "httpd", "-f", "-p", "80", "-h",
        "/etc",
    ]);
    let url = format!("http://127.0.0.1:{port}/passwd");
    let reach = |what: &str| {
        for _ in 0..50 {
            if http_get(&url).is_some_and(|b| b.starts_with("root:")) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{what}: published port not reachable");
    };
    reach("before the restart");
    d.kill_and_restart();
    reach("after the daemon was killed and restarted");
    assert_eq!(d.ok(&["port", "web", "80"]), format!("127.0.0.1:{port}"));
    d.ok(&["rm", "-f", "web"]);
    assert!(http_get(&url).is_none(), "port still forwarded after rm");
}

#[test]
fn icc_false_isolates_containers_on_the_default_bridge() {
    if !require_root("docker_network") {
        return;
    }
    let d = Daemon::start_with(&["--icc=false"]);
    d.import_busybox();
    d.ok(&["run", "-d", "--name", "one", "busybox", "sleep", "100"]);
    let ip = d.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "one"]);
    let gw = d.ok(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", "one"]);
    let o = d.run(&["run", "--rm", "busybox", "ping", "-c1", "-W1", &ip]);
    assert!(!o.status.success(), "containers talked with --icc=false");
    d.ok(&["run", "--rm", "busybox", "ping", "-c1", "-W1", &gw]);
}
