//! Host ports for published container ports: chosen (ephemeral for `-P` and `-p 80`),
//! checked and reserved by holding a bound socket, so no other process can take a port
//! while a container publishes it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};

/// A requested binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRequest {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: Option<IpAddr>,
    /// 0: pick one.
    pub host_port: u16,
}

/// A binding in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundPort {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: IpAddr,
    pub host_port: u16,
}

/// A socket holding a port.
#[derive(Debug)]
pub(crate) enum Reservation {
    /// Bound, never listening: other binds fail, and no connection can land on it.
    Tcp {
        _socket: std::os::fd::OwnedFd,
    },
    Udp {
        _socket: UdpSocket,
    },
}

fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|v| v.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999))
}

fn reserve(proto: &str, ip: IpAddr, port: u16) -> std::io::Result<Reservation> {
    let addr = SocketAddr::new(ip, port);
    if proto == "udp" {
        return UdpSocket::bind(addr).map(|s| Reservation::Udp { _socket: s });
    }
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, socket};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(std::io::Error::from)?;
    let SocketAddr::V4(v4) = addr else {
        return Err(std::io::Error::from(std::io::ErrorKind::Unsupported));
    };
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(v4))
        .map_err(std::io::Error::from)?;
    Ok(Reservation::Tcp { _socket: fd })
}

/// Reserves each request (default address `default_ip`); all or nothing.
pub(crate) fn reserve_all(
    reqs: &[PortRequest],
    default_ip: IpAddr,
) -> Result<(Vec<BoundPort>, Vec<Reservation>)> {
    let (lo, hi) = ephemeral_range();
    let mut bound = Vec::new();
    let mut held = Vec::new();
    for r in reqs {
        if !matches!(r.protocol.as_str(), "tcp" | "udp") {
            return Err(NetError::Invalid(format!(
                "protocol {} is not supported for published ports",
                r.protocol
            )));
        }
        let ip = r.host_ip.unwrap_or(default_ip);
        if !ip.is_ipv4() {
            return Err(NetError::Invalid(format!(
                "IPv6 host address {ip} is not supported for published ports"
            )));
        }
        let (port, res) = if r.host_port != 0 {
            let res = reserve(&r.protocol, ip, r.host_port).map_err(|e| match e.kind() {
                std::io::ErrorKind::AddrInUse => NetError::PortAllocated {
                    addr: ip.to_string(),
                    port: r.host_port,
                },
                std::io::ErrorKind::AddrNotAvailable => NetError::Invalid(format!(
                    "cannot publish on {ip}: not an address of this host"
                )),
                _ => NetError::io(format!("reserving {ip}:{}", r.host_port))(e),
            })?;
            (r.host_port, res)
        } else {
            (lo..=hi)
                .find_map(|p| reserve(&r.protocol, ip, p).ok().map(|res| (p, res)))
                .ok_or_else(|| NetError::PortAllocated {
                    addr: ip.to_string(),
                    port: 0,
                })?
        };
        bound.push(BoundPort {
            container_port: r.container_port,
            protocol: r.protocol.clone(),
            host_ip: ip,
            host_port: port,
        });
        held.push(res);
    }
    Ok((bound, held))
}

/// The nft rules of bindings to `container_ip`.
pub(crate) fn rules(bound: &[BoundPort], container_ip: Ipv4Addr) -> Vec<crate::nft::PortRule> {
    bound
        .iter()
        .map(|b| crate::nft::PortRule {
            protocol: b.protocol.clone(),
            host_ip: match b.host_ip {
                IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
                _ => None,
            },
            host_port: b.host_port,
            container_ip,
            container_port: b.container_port,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_and_refuses_taken_ports() {
        let any = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let reqs = vec![PortRequest {
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: Some(any),
            host_port: 0,
        }];
        let (bound, held) = reserve_all(&reqs, any).unwrap();
        assert_ne!(bound[0].host_port, 0);
        let again = vec![PortRequest {
            host_port: bound[0].host_port,
            ..reqs[0].clone()
        }];
        let err = reserve_all(&again, any).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Bind for 127.0.0.1:{} failed: port is already allocated",
                bound[0].host_port
            )
        );
        drop(held);
        assert!(reserve_all(&again, any).is_ok());
    }
}
