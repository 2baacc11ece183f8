//! Published ports: `HostConfig.PortBindings` (`-p`) and `PublishAllPorts` (`-P`, every
//! exposed port on an ephemeral host port).

use std::net::IpAddr;

use bollard_stubs::models::HostConfig;

use crate::container::record::ContainerRecord;
use crate::error::{EngineError, Result};

/// `80/tcp` → (80, "tcp").
pub(crate) fn parse_key(key: &str) -> Result<(u16, String)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(EngineError::InvalidArgument(format!(
            "invalid proto: {proto}"
        )));
    }
    let p: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
        EngineError::InvalidArgument(format!("invalid port specification: \"{port}\""))
    })?;
    Ok((p, proto))
}

fn host_port(s: Option<&str>) -> Result<u16> {
    match s.unwrap_or("") {
        "" => Ok(0),
        p => p.parse().map_err(|_| {
            EngineError::InvalidArgument(format!("invalid port specification: \"{p}\""))
        }),
    }
}

fn host_ip(s: Option<&str>) -> Result<Option<IpAddr>> {
    match s.unwrap_or("") {
        "" => Ok(None),
        ip => ip
            .trim_matches(['[', ']'])
            .parse()
            .map(Some)
            .map_err(|_| EngineError::InvalidArgument(format!("invalid IP address: {ip}"))),
    }
}

/// Checks the port bindings of a create request.
pub(crate) fn validate(h: &HostConfig) -> Result<()> {
    for (key, bindings) in h.port_bindings.iter().flatten() {
        parse_key(key)?;
        for b in bindings.iter().flatten() {
            host_port(b.host_port.as_deref())?;
            host_ip(b.host_ip.as_deref())?;
        }
    }
    Ok(())
}

/// The bindings to ask the network for.
pub(crate) fn requested(rec: &ContainerRecord) -> Result<Vec<berth_network::PortRequest>> {
    let mut out = Vec::new();
    let h = &rec.host_config;
    for (key, bindings) in h.port_bindings.iter().flatten() {
        let (port, proto) = parse_key(key)?;
        let list = bindings.clone().unwrap_or_default();
        if list.is_empty() {
            out.push(berth_network::PortRequest {
                container_port: port,
                protocol: proto.clone(),
                host_ip: None,
                host_port: 0,
            });
        }
        for b in list {
            out.push(berth_network::PortRequest {
                container_port: port,
                protocol: proto.clone(),
                host_ip: host_ip(b.host_ip.as_deref())?,
                host_port: host_port(b.host_port.as_deref())?,
            });
        }
    }
    if h.publish_all_ports.unwrap_or(false) {
        for key in rec.config.exposed_ports.iter().flatten() {
            let (port, proto) = parse_key(key)?;
            if !out
                .iter()
                .any(|p| p.container_port == port && p.protocol == proto)
            {
                out.push(berth_network::PortRequest {
                    container_port: port,
                    protocol: proto,
                    host_ip: None,
                    host_port: 0,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(parse_key("80/tcp").unwrap(), (80, "tcp".into()));
        assert_eq!(parse_key("53/UDP").unwrap(), (53, "udp".into()));
        assert!(parse_key("99999/tcp").is_err());
        assert!(parse_key("80/xyz").is_err());
        assert_eq!(
            parse_key("0").unwrap_err().to_string(),
            "invalid port specification: \"0\""
        );
    }
}
