//! /etc/hosts and /etc/resolv.conf for containers.

use std::net::{IpAddr, Ipv4Addr};

/// `/etc/hosts`: localhost lines, the container's own address and hostname, `--add-host`
/// entries (`name:ip`) and link entries (`ip`, names).
pub fn hosts_file(
    hostname: &str,
    ip: Option<Ipv4Addr>,
    extra_hosts: &[String],
    links: &[(String, Vec<String>)],
) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for h in extra_hosts {
        if let Some((name, addr)) = h.split_once(':').or_else(|| h.split_once('=')) {
            s.push_str(&format!("{addr}\t{name}\n"));
        }
    }
    for (addr, names) in links {
        s.push_str(&format!("{addr}\t{}\n", names.join(" ")));
    }
    if let Some(ip) = ip {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

fn is_loopback(ns: &str) -> bool {
    ns.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// `/etc/resolv.conf`: the host's minus loopback nameservers (a container cannot reach the
/// host's 127.0.0.53), `--dns*` overrides, Google's servers when nothing is left (Docker's
/// fallback); with `embedded_dns`, the network's own DNS server on the gateway instead.
pub fn resolv_conf(
    host: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
    embedded_dns: Option<Ipv4Addr>,
) -> String {
    let mut servers: Vec<String> = Vec::new();
    let mut host_search: Vec<String> = Vec::new();
    let mut host_options: Vec<String> = Vec::new();
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => {
                servers.extend(f.next().filter(|n| !is_loopback(n)).map(str::to_owned));
            }
            Some("search" | "domain") => host_search = f.map(str::to_owned).collect(),
            Some("options") => host_options.extend(f.map(str::to_owned)),
            _ => {}
        }
    }
    if !dns.is_empty() {
        servers = dns.to_vec();
    }
    if let Some(gw) = embedded_dns {
        servers = vec![gw.to_string()];
    } else if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    let search = if search.is_empty() {
        host_search
    } else {
        search.to_vec()
    };
    let options = if options.is_empty() {
        host_options
    } else {
        options.to_vec()
    };
    let mut out = String::new();
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_drops_loopback_and_applies_overrides() {
        let host =
            "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example.org\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, &[], &[], &[], None),
            "nameserver 10.0.0.2\nsearch example.org\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.1\n", &[], &[], &[], None),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let r = resolv_conf(
            host,
            &["1.1.1.1".into()],
            &["a.b".into()],
            &["ndots:2".into()],
            None,
        );
        assert_eq!(r, "nameserver 1.1.1.1\nsearch a.b\noptions ndots:2\n");
        assert!(
            resolv_conf(host, &[], &[], &[], Some(Ipv4Addr::new(172, 18, 0, 1)))
                .starts_with("nameserver 172.18.0.1\n")
        );
    }

    #[test]
    fn hosts_lists_everything() {
        let h = hosts_file(
            "abc123",
            Some(Ipv4Addr::new(172, 18, 0, 2)),
            &["db:10.0.0.5".into()],
            &[("172.18.0.3".into(), vec!["web".into(), "web-1".into()])],
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(
            h.contains("10.0.0.5\tdb\n")
                && h.contains("172.18.0.3\tweb web-1\n")
                && h.ends_with("172.18.0.2\tabc123\n")
        );
    }
}
