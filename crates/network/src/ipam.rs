//! IPv4 subnets and address allocation.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};

/// An IPv4 network: address and prefix length (`172.18.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// Parses `a.b.c.d/n`; the host bits must be zero unless `allow_host_bits` (for `--bip`,
    /// which names the gateway).
    pub fn parse(s: &str, allow_host_bits: bool) -> Result<Self> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| NetError::InvalidCidr(s.to_owned()))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| NetError::InvalidCidr(s.to_owned()))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| NetError::InvalidCidr(s.to_owned()))?;
        if prefix > 30 {
            return Err(NetError::BadSubnet(s.to_owned(), "prefix must be 0..30"));
        }
        let net = Self { addr, prefix };
        if !allow_host_bits && net.network() != addr {
            return Err(NetError::BadSubnet(s.to_owned(), "host bits are set"));
        }
        Ok(Self {
            addr: if allow_host_bits { addr } else { net.network() },
            prefix,
        })
    }

    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    pub fn overlaps(self, other: Subnet) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }

    /// The n-th host address (n = 1 is the first usable).
    pub fn host(self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix));
        (u64::from(n) < size - 1).then(|| Ipv4Addr::from(u32::from(self.network()) + n))
    }

    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

/// The pools networks are carved from, in order of preference (Docker's local pools).
pub fn default_pools() -> Vec<Subnet> {
    let mut v: Vec<Subnet> = (18..=31)
        .chain([17])
        .map(|b| Subnet {
            addr: Ipv4Addr::new(172, b, 0, 0),
            prefix: 16,
        })
        .collect();
    v.extend((0..=240).step_by(16).map(|c| Subnet {
        addr: Ipv4Addr::new(192, 168, c, 0),
        prefix: 20,
    }));
    v
}

/// IPv4 routes of the host's main table (destination, prefix), from /proc/net/route.
pub fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            if dest == 0 {
                return None; // the default route overlaps everything
            }
            let prefix = u8::try_from(mask.count_ones()).ok()?;
            // The kernel prints the address in host byte order.
            Some(Subnet {
                addr: Ipv4Addr::from(dest.to_le_bytes()),
                prefix,
            })
        })
        .collect()
}

/// The first pool subnet that overlaps neither the host's routes nor `taken`.
pub fn pick(taken: &[Subnet], routes: &[Subnet]) -> Option<Subnet> {
    default_pools()
        .into_iter()
        .find(|p| !taken.iter().chain(routes).any(|t| t.overlaps(*p)))
}

/// Addresses handed out in one subnet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocations {
    pub used: BTreeSet<Ipv4Addr>,
}

impl Allocations {
    /// The lowest free address (the gateway and reserved ones are in `used`).
    pub fn allocate(&mut self, subnet: Subnet, name: &str) -> Result<Ipv4Addr> {
        let limit = u32::try_from(subnet.size().min(1 << 24)).unwrap_or(u32::MAX);
        for n in 1..limit {
            let Some(ip) = subnet.host(n) else { break };
            if self.used.insert(ip) {
                return Ok(ip);
            }
        }
        Err(NetError::Exhausted(name.to_owned()))
    }

    /// Takes a specific address (`--ip`).
    pub fn claim(&mut self, subnet: Subnet, ip: Ipv4Addr) -> Result<()> {
        if !subnet.contains(ip) || ip == subnet.network() {
            return Err(NetError::Invalid(format!(
                "requested address {ip} is not in subnet {subnet}"
            )));
        }
        if !self.used.insert(ip) {
            return Err(NetError::AddressInUse);
        }
        Ok(())
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        self.used.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let s = Subnet::parse("172.18.0.0/16", false).unwrap();
        assert!(s.contains("172.18.5.1".parse().unwrap()));
        assert!(!s.contains("172.19.0.1".parse().unwrap()));
        assert!(Subnet::parse("172.18.0.1/16", false).is_err());
        assert_eq!(
            Subnet::parse("10.9.0.1/24", true).unwrap().addr,
            Ipv4Addr::new(10, 9, 0, 1)
        );
        assert!(s.overlaps(Subnet::parse("172.18.128.0/17", false).unwrap()));
        assert!(!s.overlaps(Subnet::parse("172.17.0.0/16", false).unwrap()));
        assert!(Subnet::parse("bad", false).is_err());
    }

    #[test]
    fn picking_avoids_routes_and_taken() {
        let docker = Subnet::parse("172.17.0.0/16", false).unwrap();
        let first = pick(&[], &[docker]).unwrap();
        assert_eq!(first.to_string(), "172.18.0.0/16");
        let second = pick(&[first], &[docker]).unwrap();
        assert_eq!(second.to_string(), "172.19.0.0/16");
    }

    #[test]
    fn allocation() {
        let s = Subnet::parse("10.0.0.0/30", false).unwrap();
        let mut a = Allocations::default();
        assert_eq!(a.allocate(s, "n").unwrap(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(a.allocate(s, "n").unwrap(), Ipv4Addr::new(10, 0, 0, 2));
        assert!(a.allocate(s, "n").is_err(), "a /30 has two hosts");
        a.release(Ipv4Addr::new(10, 0, 0, 2));
        assert!(a.claim(s, Ipv4Addr::new(10, 0, 0, 2)).is_ok());
        assert!(matches!(
            a.claim(s, Ipv4Addr::new(10, 0, 0, 2)),
            Err(NetError::AddressInUse)
        ));
    }
}
