//! The embedded DNS server of a user-defined network: it listens on the network's gateway
//! address (in the host's namespace, where the daemon runs) and answers for the containers,
//! aliases and short ids of every network the *asking* container is on (it is recognised by
//! its source address), its own network first; every other query is forwarded to the host's
//! resolvers — loopback ones included, since the daemon can reach them.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use simple_dns::rdata::{A, RData};
use simple_dns::{CLASS, Packet, PacketFlag, QTYPE, RCODE, ResourceRecord, TYPE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use crate::error::{NetError, Result};

/// What every network's server answers from (one shared copy, rebuilt on each change).
#[derive(Debug, Default)]
pub(crate) struct Views {
    /// Network id → name → addresses.
    pub(crate) names: HashMap<String, HashMap<String, Vec<Ipv4Addr>>>,
    /// A container address → the networks its container is on.
    pub(crate) networks_of: HashMap<Ipv4Addr, Vec<String>>,
}

impl Views {
    /// `name` as seen by the container at `from`, asking the server of `network`.
    fn lookup(&self, network: &str, from: Option<Ipv4Addr>, name: &str) -> Option<Vec<Ipv4Addr>> {
        if let Some(ips) = self.names.get(network).and_then(|m| m.get(name)) {
            return Some(ips.clone());
        }
        let others = from.and_then(|ip| self.networks_of.get(&ip))?;
        others
            .iter()
            .filter(|n| *n != network)
            .find_map(|n| self.names.get(n).and_then(|m| m.get(name)).cloned())
    }
}

pub(crate) type Records = Arc<RwLock<Views>>;

const TTL: u32 = 600;
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

/// The running server of one network; dropping it stops it.
#[derive(Debug)]
pub(crate) struct DnsServer {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Upstream servers: the host's resolv.conf nameservers.
pub(crate) fn upstreams(resolv: &str) -> Vec<SocketAddr> {
    resolv
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .filter_map(|s| s.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Starts serving on `listen:53` (UDP and TCP).
pub(crate) async fn serve(
    listen: Ipv4Addr,
    network: String,
    records: Records,
    upstreams: Vec<SocketAddr>,
) -> Result<DnsServer> {
    let network = Arc::new(network);
    let addr = SocketAddr::from((listen, 53));
    let udp = Arc::new(
        UdpSocket::bind(addr)
            .await
            .map_err(NetError::io(format!("binding DNS on {addr}/udp")))?,
    );
    let tcp = TcpListener::bind(addr)
        .await
        .map_err(NetError::io(format!("binding DNS on {addr}/tcp")))?;
    let (r1, u1, n1) = (records.clone(), upstreams.clone(), network.clone());
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            let query = buf[..n].to_vec();
            let (sock, r, u, n) = (udp.clone(), r1.clone(), u1.clone(), n1.clone());
            tokio::spawn(async move {
                if let Some(resp) = answer(
                    &query,
                    &Asker {
                        network: &n,
                        from: v4(peer),
                    },
                    &r,
                    &u,
                )
                .await
                {
                    let _ = sock.send_to(&resp, peer).await;
                }
            });
        }
    });
    let tcp_task = tokio::spawn(async move {
        loop {
            let Ok((mut s, peer)) = tcp.accept().await else {
                continue;
            };
            let (r, u, n) = (records.clone(), upstreams.clone(), network.clone());
            tokio::spawn(async move {
                let mut len = [0u8; 2];
                while s.read_exact(&mut len).await.is_ok() {
                    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if s.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    let asker = Asker {
                        network: &n,
                        from: v4(peer),
                    };
                    let Some(resp) = answer(&q, &asker, &r, &u).await else {
                        return;
                    };
                    let Ok(l) = u16::try_from(resp.len()) else {
                        return;
                    };
                    if s.write_all(&l.to_be_bytes()).await.is_err()
                        || s.write_all(&resp).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Ok(DnsServer {
        tasks: vec![udp_task, tcp_task],
    })
}

/// Answers from the records, or forwards.
fn v4(peer: SocketAddr) -> Option<Ipv4Addr> {
    match peer {
        SocketAddr::V4(a) => Some(*a.ip()),
        SocketAddr::V6(_) => None,
    }
}

/// Who asks: the server's network and the querier's address.
pub(crate) struct Asker<'a> {
    pub(crate) network: &'a str,
    pub(crate) from: Option<Ipv4Addr>,
}

async fn answer(
    query: &[u8],
    asker: &Asker<'_>,
    records: &Records,
    upstreams: &[SocketAddr],
) -> Option<Vec<u8>> {
    let packet = Packet::parse(query).ok()?;
    let q = packet.questions.first()?;
    let name = q
        .qname
        .to_string()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let found = records
        .read()
        .ok()?
        .lookup(asker.network, asker.from, &name);
    if let Some(ips) = found {
        let mut reply = Packet::new_reply(packet.id());
        reply.set_flags(PacketFlag::AUTHORITATIVE_ANSWER | PacketFlag::RECURSION_AVAILABLE);
        if packet.has_flags(PacketFlag::RECURSION_DESIRED) {
            reply.set_flags(PacketFlag::RECURSION_DESIRED);
        }
        reply.questions.push(q.clone());
        if matches!(q.qtype, QTYPE::TYPE(TYPE::A) | QTYPE::ANY) {
            for ip in ips {
                reply.answers.push(ResourceRecord::new(
                    q.qname.clone(),
                    CLASS::IN,
                    TTL,
                    RData::A(A {
                        address: u32::from(ip),
                    }),
                ));
            }
        }
        return reply.build_bytes_vec().ok();
    }
    if let Some(resp) = forward(query, upstreams).await {
        return Some(resp);
    }
    let mut reply = Packet::new_reply(packet.id());
    reply.questions.push(q.clone());
    *reply.rcode_mut() = RCODE::ServerFailure;
    reply.build_bytes_vec().ok()
}

async fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(sock) = UdpSocket::bind(bind).await else {
            continue;
        };
        if sock.send_to(query, up).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(UPSTREAM_TIMEOUT, sock.recv_from(&mut buf)).await
        {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str) -> Vec<u8> {
        let mut p = Packet::new_query(7);
        p.questions.push(simple_dns::Question::new(
            simple_dns::Name::new_unchecked(name),
            QTYPE::TYPE(TYPE::A),
            simple_dns::QCLASS::CLASS(CLASS::IN),
            false,
        ));
        p.build_bytes_vec().unwrap()
    }

    #[tokio::test]
    async fn answers_known_names_and_fails_unknown_without_upstream() {
        let records: Records = Arc::default();
        let web = Ipv4Addr::new(172, 18, 0, 2);
        let db = Ipv4Addr::new(172, 19, 0, 2);
        let asker = Ipv4Addr::new(172, 18, 0, 3);
        {
            let mut v = records.write().unwrap();
            v.names
                .entry("front".into())
                .or_default()
                .insert("web".into(), vec![web]);
            v.names
                .entry("back".into())
                .or_default()
                .insert("db".into(), vec![db]);
            v.networks_of
                .insert(asker, vec!["front".into(), "back".into()]);
            v.networks_of.insert(web, vec!["front".into()]);
        }
        let ask = |from| Asker {
            network: "front",
            from: Some(from),
        };
        let resp = answer(&query("web"), &ask(asker), &records, &[])
            .await
            .unwrap();
        let p = Packet::parse(&resp).unwrap();
        assert_eq!(p.answers.len(), 1);
        assert!(matches!(p.answers[0].rdata, RData::A(A { address }) if address == u32::from(web)));
        // A container on both networks resolves names of the other one too...
        let resp = answer(&query("db"), &ask(asker), &records, &[])
            .await
            .unwrap();
        assert_eq!(Packet::parse(&resp).unwrap().answers.len(), 1);
        // ...one that is only on `front` does not.
        let resp = answer(&query("db"), &ask(web), &records, &[])
            .await
            .unwrap();
        assert_eq!(Packet::parse(&resp).unwrap().rcode(), RCODE::ServerFailure);
        let resp = answer(&query("example.invalid"), &ask(asker), &records, &[])
            .await
            .unwrap();
        assert_eq!(Packet::parse(&resp).unwrap().rcode(), RCODE::ServerFailure);
        assert_eq!(
            upstreams("nameserver 127.0.0.53\nsearch x\n"),
            vec!["127.0.0.53:53".parse::<SocketAddr>().unwrap()]
        );
    }
}
