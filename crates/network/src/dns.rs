//! The embedded DNS server of a user-defined network: it listens on the network's gateway
//! address (in the host's namespace, where the daemon runs), answers for the containers,
//! aliases and short ids of that network only, and forwards every other query to the host's
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

/// Names → addresses, per network.
pub(crate) type Records = Arc<RwLock<HashMap<String, Vec<Ipv4Addr>>>>;

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
    records: Records,
    upstreams: Vec<SocketAddr>,
) -> Result<DnsServer> {
    let addr = SocketAddr::from((listen, 53));
    let udp = Arc::new(
        UdpSocket::bind(addr)
            .await
            .map_err(NetError::io(format!("binding DNS on {addr}/udp")))?,
    );
    let tcp = TcpListener::bind(addr)
        .await
        .map_err(NetError::io(format!("binding DNS on {addr}/tcp")))?;
    let (r1, u1) = (records.clone(), upstreams.clone());
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            let query = buf[..n].to_vec();
            let (sock, r, u) = (udp.clone(), r1.clone(), u1.clone());
            tokio::spawn(async move {
                if let Some(resp) = answer(&query, &r, &u).await {
                    let _ = sock.send_to(&resp, peer).await;
                }
            });
        }
    });
    let tcp_task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = tcp.accept().await else {
                continue;
            };
            let (r, u) = (records.clone(), upstreams.clone());
            tokio::spawn(async move {
                let mut len = [0u8; 2];
                while s.read_exact(&mut len).await.is_ok() {
                    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if s.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    let Some(resp) = answer(&q, &r, &u).await else {
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
async fn answer(query: &[u8], records: &Records, upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    let packet = Packet::parse(query).ok()?;
    let q = packet.questions.first()?;
    let name = q
        .qname
        .to_string()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let found = records.read().ok()?.get(&name).cloned();
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
        records
            .write()
            .unwrap()
            .insert("web".into(), vec![Ipv4Addr::new(172, 18, 0, 2)]);
        let resp = answer(&query("web"), &records, &[]).await.unwrap();
        let p = Packet::parse(&resp).unwrap();
        assert_eq!(p.answers.len(), 1);
        assert!(
            matches!(p.answers[0].rdata, RData::A(A { address }) if address == u32::from(Ipv4Addr::new(172, 18, 0, 2)))
        );
        let resp = answer(&query("example.invalid"), &records, &[])
            .await
            .unwrap();
        assert_eq!(Packet::parse(&resp).unwrap().rcode(), RCODE::ServerFailure);
        assert_eq!(
            upstreams("nameserver 127.0.0.53\nsearch x\n"),
            vec!["127.0.0.53:53".parse::<SocketAddr>().unwrap()]
        );
    }
}
