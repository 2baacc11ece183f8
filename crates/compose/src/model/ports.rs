//! `ports:` in both syntaxes: `"[[host_ip:]published:]target[/protocol]"` (with ranges) and the
//! long mapping.

use serde::{Deserialize, Serialize};

use super::syntax::{FromShort, Scalar};

/// One published port, or a range of them (`8000-8002:80-82`), in its long form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// Container port or range (`80`, `80-82`).
    pub target: Scalar,
    /// Host port or range; none means an ephemeral port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    #[serde(default = "tcp")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

fn tcp() -> String {
    "tcp".into()
}

impl FromShort for Port {
    fn from_short(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid port {s:?}: {why}");
        let (spec, protocol) = match s.rsplit_once('/') {
            Some((p, proto)) => (p, proto.to_owned()),
            None => (s, tcp()),
        };
        if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
            return Err(bad("protocol must be tcp, udp or sctp"));
        }
        // An IPv6 host address is bracketed: `[::1]:8080:80`.
        let (host_ip, rest) = match spec.strip_prefix('[') {
            Some(r) => {
                let (ip, rest) = r.split_once("]:").ok_or_else(|| bad("unclosed ["))?;
                (Some(ip.to_owned()), rest)
            }
            None => (None, spec),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (host_ip, published, target) = match (host_ip, parts.as_slice()) {
            (None, [t]) => (None, None, *t),
            (None, [p, t]) => (None, Some(*p), *t),
            (None, [ip, p, t]) => (Some((*ip).to_owned()), Some(*p), *t),
            (Some(ip), [p, t]) => (Some(ip), Some(*p), *t),
            _ => return Err(bad("too many colons")),
        };
        check_range(target).map_err(|e| bad(&e))?;
        let published = published.filter(|p| !p.is_empty());
        if let Some(p) = published {
            check_range(p).map_err(|e| bad(&e))?;
        }
        Ok(Self {
            target: Scalar(target.to_owned()),
            published: published.map(|p| Scalar(p.to_owned())),
            host_ip: host_ip.filter(|h| !h.is_empty()),
            protocol,
            mode: None,
            name: None,
            app_protocol: None,
        })
    }
}

/// `80` or `80-90`: (first, last).
pub(crate) fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let num = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{p:?} is not a port number"))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(format!("{s:?} is an empty range"));
            }
            Ok((a, b))
        }
        None => num(s).map(|n| (n, n)),
    }
}

fn check_range(s: &str) -> Result<(), String> {
    parse_range(s).map(drop)
}

impl Port {
    /// Each (container port, host port) pair this entry publishes; ranges are paired in order,
    /// a single host port for a container range is its start.
    pub(crate) fn bindings(&self) -> Result<Vec<(u16, Option<u16>)>, String> {
        let (t0, t1) = parse_range(&self.target.0)?;
        let host = self
            .published
            .as_ref()
            .map(|p| parse_range(&p.0))
            .transpose()?;
        let mut out = Vec::new();
        for (i, t) in (t0..=t1).enumerate() {
            let h = match host {
                None => None,
                Some((h0, h1)) if h0 == h1 && t0 == t1 => Some(h0),
                Some((h0, h1)) => {
                    let off = u16::try_from(i).map_err(|e| e.to_string())?;
                    let h = h0.checked_add(off).filter(|h| *h <= h1);
                    Some(h.ok_or_else(|| {
                        format!("host range {h0}-{h1} is shorter than container range {t0}-{t1}")
                    })?)
                }
            };
            out.push((t, h));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Port {
        Port::from_short(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn short_syntax() {
        let x = p("127.0.0.1:8080:80/udp");
        assert_eq!(x.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(x.published, Some(Scalar("8080".into())));
        assert_eq!(x.target, Scalar("80".into()));
        assert_eq!(x.protocol, "udp");
        assert_eq!(p("80").published, None);
        assert_eq!(p("[::1]:53:53").host_ip.as_deref(), Some("::1"));
        assert_eq!(p("127.0.0.1::80").published, None);
        assert_eq!(
            p("8000-8001:80-81").bindings(),
            Ok(vec![(80, Some(8000)), (81, Some(8001))])
        );
        assert!(Port::from_short("a:b").is_err());
        assert!(Port::from_short("80/xyz").is_err());
        assert!(Port::from_short("1:2:3:4").is_err());
    }
}
