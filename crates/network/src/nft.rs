//! berth's nftables ruleset, generated as text from the network state (golden-tested) and
//! applied in one transaction with `nft -f -`.
//!
//! Published ports are elements of maps, so the rule count never grows with the number of
//! ports; a container start with published ports is one map update. Everything lives in
//! berth's own table (`ip <name>`: NAT and routing decisions; `--icc=false` is bridge port
//! isolation, set on each veth, since this kernel's bridge family lacks `meta ibrname`);
//! other tables are never touched, except one accept rule per direction inserted in Docker's `DOCKER-USER` chain when Docker's FORWARD policy would drop
//! berth's traffic.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::error::{NetError, Result};
use crate::ipam::Subnet;

/// A bridge network as the ruleset sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    pub ifname: String,
    pub subnet: Subnet,
    pub internal: bool,
    /// Traffic between containers of this bridge allowed (`--icc`).
    pub icc: bool,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortRule {
    pub protocol: String,
    /// `None`: every host address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// The whole ruleset for `table`, deleting whatever was there before (one transaction: the
/// kernel sees the old ruleset or the new one, never a mix).
pub fn ruleset(table: &str, bridges: &[BridgeRules], ports: &[PortRule]) -> String {
    let mut s = String::new();
    // `add` then `delete` makes the delete succeed whether or not the table existed.
    s.push_str(&format!("add table ip {table}\ndelete table ip {table}\n"));
    s.push_str(&format!("table ip {table} {{\n"));
    let names: Vec<String> = bridges
        .iter()
        .map(|b| format!("\"{}\"", b.ifname))
        .collect();
    let internal: Vec<String> = bridges
        .iter()
        .filter(|b| b.internal)
        .map(|b| format!("\"{}\"", b.ifname))
        .collect();
    let subnets: Vec<String> = bridges
        .iter()
        .filter(|b| !b.internal)
        .map(|b| b.subnet.to_string())
        .collect();
    set(&mut s, "bridges", "ifname", &names);
    set(&mut s, "internal", "ifname", &internal);
    s.push_str("\tset subnets { type ipv4_addr; flags interval; ");
    if !subnets.is_empty() {
        s.push_str(&format!("elements = {{ {} }} ", subnets.join(", ")));
    }
    s.push_str("}\n");
    for proto in ["tcp", "udp"] {
        let (wild, bound): (Vec<&PortRule>, Vec<&PortRule>) = ports
            .iter()
            .filter(|p| p.protocol == proto)
            .partition(|p| p.host_ip.is_none());
        let w: Vec<String> = wild
            .iter()
            .map(|p| {
                format!(
                    "{} : {} . {}",
                    p.host_port, p.container_ip, p.container_port
                )
            })
            .collect();
        let b: Vec<String> = bound
            .iter()
            .map(|p| {
                format!(
                    "{} . {} : {} . {}",
                    p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                    p.host_port,
                    p.container_ip,
                    p.container_port
                )
            })
            .collect();
        map(&mut s, &format!("{proto}_any"), "inet_service", &w);
        map(
            &mut s,
            &format!("{proto}_addr"),
            "ipv4_addr . inet_service",
            &b,
        );
    }
    s.push_str("\tchain publish {\n");
    for proto in ["tcp", "udp"] {
        s.push_str(&format!(
            "\t\tdnat ip to ip daddr . {proto} dport map @{proto}_addr\n"
        ));
        s.push_str(&format!("\t\tdnat ip to {proto} dport map @{proto}_any\n"));
    }
    s.push_str("\t}\n");
    s.push_str("\tchain prerouting { type nat hook prerouting priority dstnat; policy accept; iifname != @internal fib daddr type local jump publish; }\n");
    s.push_str("\tchain output { type nat hook output priority -100; policy accept; fib daddr type local jump publish; }\n");
    s.push_str(
        "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n",
    );
    s.push_str("\t\tip saddr @subnets oifname != @bridges masquerade\n");
    s.push_str("\t\tct status dnat ip saddr 127.0.0.0/8 masquerade\n");
    s.push_str("\t\tct status dnat oifname @bridges ip saddr @subnets masquerade\n\t}\n");
    s.push_str("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
    s.push_str("\t\tiifname @internal oifname != @internal drop\n\t\toifname @internal iifname != @internal drop\n");
    // Networks are isolated from each other, except for traffic to a published port.
    for b in bridges {
        s.push_str(&format!(
            "\t\tiifname \"{0}\" oifname @bridges oifname != \"{0}\" ct status & dnat == 0 drop\n",
            b.ifname
        ));
    }
    s.push_str("\t}\n}\n");
    s
}

fn set(s: &mut String, name: &str, typ: &str, elems: &[String]) {
    s.push_str(&format!("\tset {name} {{ type {typ}; "));
    if !elems.is_empty() {
        s.push_str(&format!("elements = {{ {} }} ", elems.join(", ")));
    }
    s.push_str("}\n");
}

fn map(s: &mut String, name: &str, key: &str, elems: &[String]) {
    s.push_str(&format!(
        "\tmap {name} {{ type {key} : ipv4_addr . inet_service; "
    ));
    if !elems.is_empty() {
        s.push_str(&format!("elements = {{ {} }} ", elems.join(", ")));
    }
    s.push_str("}\n");
}

/// Map updates for one container's ports (`add` or `delete`).
pub fn port_elements(table: &str, verb: &str, ports: &[PortRule]) -> String {
    let mut s = String::new();
    for p in ports {
        match p.host_ip {
            None => s.push_str(&format!(
                "{verb} element ip {table} {}_any {{ {} : {} . {} }}\n",
                p.protocol, p.host_port, p.container_ip, p.container_port
            )),
            Some(ip) => s.push_str(&format!(
                "{verb} element ip {table} {}_addr {{ {ip} . {} : {} . {} }}\n",
                p.protocol, p.host_port, p.container_ip, p.container_port
            )),
        }
    }
    s
}

/// Runs `script` with `nft -f -` (one atomic transaction).
pub fn apply(script: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::Nft(format!("running nft (install nftables): {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| NetError::Nft(format!("writing to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Nft(format!("waiting for nft: {e}")))?;
    if !out.status.success() {
        return Err(NetError::Nft(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    Ok(())
}

/// The two DOCKER-USER rules for one of berth's interface patterns (iptables spelling).
fn docker_user_rules(name: &str) -> [Vec<&str>; 2] {
    [
        vec![
            "-o",
            name,
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-j",
            "ACCEPT",
        ],
        vec!["-i", name, "-j", "ACCEPT"],
    ]
}

/// When Docker's `table ip filter` (iptables-nft) drops forwarded traffic by policy, berth's
/// bridges need an accept there too: inserted at the top of DOCKER-USER (Docker's chain for
/// user rules), once. The rules go in through `iptables` itself: rules written with `nft`
/// into that table make iptables-nft refuse the whole chain ("incompatible"), which would
/// break Docker. Returns whether rules were added.
pub fn allow_in_docker_filter(ifnames: &[String]) -> Result<bool> {
    let has_chain = Command::new("iptables")
        .args(["-w", "-n", "-L", "DOCKER-USER"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_chain {
        return Ok(false); // no Docker (or no iptables) here
    }
    let mut added = false;
    for name in ifnames {
        // iptables spells a trailing wildcard `+`.
        let name = name.replace('*', "+");
        for rule in docker_user_rules(&name) {
            let present = Command::new("iptables")
                .args(["-w", "-C", "DOCKER-USER"])
                .args(&rule)
                .output()
                .is_ok_and(|o| o.status.success());
            if present {
                continue;
            }
            let out = Command::new("iptables")
                .args(["-w", "-I", "DOCKER-USER"])
                .args(&rule)
                .output()
                .map_err(|e| NetError::Nft(format!("running iptables: {e}")))?;
            if !out.status.success() {
                return Err(NetError::Nft(format!(
                    "iptables -I DOCKER-USER {}: {}",
                    rule.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            added = true;
        }
    }
    Ok(added)
}

/// Removes the rules [`allow_in_docker_filter`] added for `ifname`.
pub fn remove_docker_filter_rules(ifname: &str) {
    let name = ifname.replace('*', "+");
    for rule in docker_user_rules(&name) {
        let _ = Command::new("iptables")
            .args(["-w", "-D", "DOCKER-USER"])
            .args(&rule)
            .output();
    }
}

/// Deletes berth's tables.
pub fn remove_tables(table: &str) {
    let _ = apply(&format!("add table ip {table}\ndelete table ip {table}\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_golden() {
        let bridges = vec![
            BridgeRules {
                ifname: "berth0".into(),
                subnet: Subnet::parse("172.18.0.0/16", false).unwrap(),
                internal: false,
                icc: false,
            },
            BridgeRules {
                ifname: "berth-abc".into(),
                subnet: Subnet::parse("172.19.0.0/16", false).unwrap(),
                internal: true,
                icc: true,
            },
        ];
        let ports = vec![
            PortRule {
                protocol: "tcp".into(),
                host_ip: None,
                host_port: 8080,
                container_ip: Ipv4Addr::new(172, 18, 0, 2),
                container_port: 80,
            },
            PortRule {
                protocol: "udp".into(),
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 53,
                container_ip: Ipv4Addr::new(172, 18, 0, 3),
                container_port: 53,
            },
        ];
        let r = ruleset("berth", &bridges, &ports);
        let golden = include_str!("testdata/ruleset.nft");
        assert_eq!(
            r, golden,
            "ruleset changed; if intended, update testdata/ruleset.nft:\n{r}"
        );
        let e = port_elements("berth", "delete", &ports);
        assert_eq!(
            e,
            "delete element ip berth tcp_any { 8080 : 172.18.0.2 . 80 }\ndelete element ip berth udp_addr { 127.0.0.1 . 53 : 172.18.0.3 . 53 }\n"
        );
    }

    /// The kernel accepts the golden ruleset (`nft -c` checks without applying; needs root).
    #[test]
    fn golden_ruleset_is_valid_nftables() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipping: nft -c needs root");
            return;
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/testdata/ruleset.nft");
        let out = Command::new("nft")
            .args(["-c", "-f", path])
            .output()
            .expect("running nft (install nftables)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
