//! An answer reduced to what the harness compares: status, media type, error message and a
//! normalised body (ids, times, addresses and each daemon's own paths replaced by
//! placeholders, so that two daemons' answers to one request can be laid side by side).

use std::sync::OnceLock;

use base64::Engine as _;
use regex::Regex;
use serde_json::{Map, Value};

use crate::http::Response;

/// How the body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Empty,
    Json,
    /// Newline-separated JSON documents (progress and event streams).
    JsonLines,
    Tar,
    /// Docker's stdio stream: multiplexed 8-byte-header frames or raw bytes.
    Stream,
    Text,
}

impl BodyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Json => "json",
            Self::JsonLines => "json-lines",
            Self::Tar => "tar",
            Self::Stream => "stream",
            Self::Text => "text",
        }
    }
}

/// One normalised answer.
#[derive(Debug, Clone)]
pub struct Observed {
    pub status: u16,
    pub media_type: String,
    /// The error message of a 4xx/5xx answer (JSON `message`, or the text body).
    pub message: Option<String>,
    pub kind: BodyKind,
    pub body: Value,
    /// The decoded stat header, when the step asked for one.
    pub stat: Option<Value>,
    /// The raw (parsed, not yet normalised) body, for captures.
    pub raw: Value,
}

/// Replaces what legitimately differs between two daemons with placeholders.
#[derive(Debug, Clone, Default)]
pub struct Normaliser {
    /// Paths owned by one daemon (its data root, exec root, temp dir) → `<root>`.
    pub roots: Vec<String>,
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")))
}

impl Normaliser {
    pub fn string(&self, s: &str) -> String {
        static DIGEST: OnceLock<Regex> = OnceLock::new();
        static LONG_ID: OnceLock<Regex> = OnceLock::new();
        static SHORT_ID: OnceLock<Regex> = OnceLock::new();
        static TIME: OnceLock<Regex> = OnceLock::new();
        static MAC: OnceLock<Regex> = OnceLock::new();
        static IPV4: OnceLock<Regex> = OnceLock::new();
        static IPV6: OnceLock<Regex> = OnceLock::new();
        let mut out = s.to_owned();
        for r in &self.roots {
            if !r.is_empty() {
                out = out.replace(r.as_str(), "<root>");
            }
        }
        let steps: [(&Regex, &str); 7] = [
            (re(&DIGEST, r"sha256:[0-9a-f]{64}"), "sha256:<id>"),
            (re(&LONG_ID, r"\b[0-9a-f]{64}\b"), "<id>"),
            (re(&SHORT_ID, r"\b[0-9a-f]{12}\b"), "<id>"),
            (
                re(
                    &TIME,
                    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
                ),
                "<time>",
            ),
            (re(&MAC, r"\b([0-9a-f]{2}:){5}[0-9a-f]{2}\b"), "<mac>"),
            (
                re(
                    &IPV4,
                    r"\b(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\b",
                ),
                "<ip>",
            ),
            (
                re(&IPV6, r"\bfd[0-9a-f]{0,2}(:[0-9a-f]{0,4}){2,7}\b"),
                "<ip6>",
            ),
        ];
        for (r, with) in steps {
            if r.is_match(&out) {
                out = r.replace_all(&out, with).into_owned();
            }
        }
        out
    }

    /// Normalises every string and object key of `v`.
    pub fn value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.string(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.value(x)).collect()),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    out.insert(self.string(k), self.value(x));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    /// Reads `r` into an [`Observed`].
    pub fn observe(&self, r: &Response, stat_header: Option<&str>) -> Observed {
        let media_type = r.media_type();
        let (kind, raw) = read_body(&media_type, &r.body);
        // An error's message: `{"message": ...}`, or the body as text whatever its media
        // type (dockerd writes some errors of hijacked endpoints as a raw stream).
        let message = (r.status >= 400).then(|| match serde_json::from_slice::<Value>(&r.body) {
            Ok(Value::Object(m)) => m
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            _ => String::from_utf8_lossy(&r.body).trim_end().to_owned(),
        });
        let stat = stat_header.map(|h| {
            r.header(h)
                .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .map_or(Value::Null, |v| self.value(&v))
        });
        Observed {
            status: r.status,
            media_type,
            message: message.map(|m| self.string(&m)),
            kind,
            body: self.value(&raw),
            stat,
            raw,
        }
    }
}

/// A tar archive has `ustar` at offset 257 of its first header.
fn looks_like_tar(body: &[u8]) -> bool {
    body.get(257..262) == Some(b"ustar")
}

/// Docker's multiplexed framing: a stream byte (0-2), three zeros, a length.
fn looks_framed(body: &[u8]) -> bool {
    body.len() >= 8 && body[0] <= 2 && body[1..4] == [0, 0, 0]
}

/// Reads a body by what it is, not only by what the media type says (dockerd 20.10 sends
/// some without one: logs, export).
fn read_body(media_type: &str, body: &[u8]) -> (BodyKind, Value) {
    if body.is_empty() {
        return (BodyKind::Empty, Value::Null);
    }
    let untyped = matches!(media_type, "" | "application/octet-stream" | "text/plain");
    if media_type == "application/x-tar" || (untyped && looks_like_tar(body)) {
        return (BodyKind::Tar, tar_entries(body));
    }
    if media_type.starts_with("application/vnd.docker") || (untyped && looks_framed(body)) {
        return (BodyKind::Stream, stream(body));
    }
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return (BodyKind::Json, v);
    }
    let text = String::from_utf8_lossy(body);
    let lines: Option<Vec<Value>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).ok())
        .collect();
    match lines {
        Some(l) if !l.is_empty() => (BodyKind::JsonLines, Value::Array(l)),
        _ => (BodyKind::Text, Value::String(text.into_owned())),
    }
}

/// A tar as its sorted entry list: `"etc/hostname file"`.
fn tar_entries(body: &[u8]) -> Value {
    let mut a = tar::Archive::new(body);
    let mut names = Vec::new();
    match a.entries() {
        Ok(entries) => {
            for e in entries {
                let Ok(e) = e else {
                    names.push("<unreadable entry>".to_owned());
                    break;
                };
                let kind = match e.header().entry_type() {
                    tar::EntryType::Directory => "dir",
                    tar::EntryType::Symlink => "symlink",
                    tar::EntryType::Link => "hardlink",
                    tar::EntryType::Regular => "file",
                    _ => "other",
                };
                let path = e.path().map_or_else(
                    |_| "<bad path>".to_owned(),
                    |p| p.to_string_lossy().trim_end_matches('/').to_owned(),
                );
                names.push(format!("{path} {kind}"));
            }
        }
        Err(_) => names.push("<not a tar>".to_owned()),
    }
    names.sort();
    Value::Array(names.into_iter().map(Value::String).collect())
}

/// Demultiplexes Docker's framed stream when it is framed; else keeps it raw.
fn stream(body: &[u8]) -> Value {
    let mut out = String::new();
    let mut err = String::new();
    let mut rest = body;
    if !looks_framed(body) {
        return serde_json::json!({"framing": "raw", "data": String::from_utf8_lossy(body)});
    }
    while rest.len() >= 8 {
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let end = (8 + len).min(rest.len());
        let text = String::from_utf8_lossy(&rest[8..end]);
        if rest[0] == 2 {
            err.push_str(&text);
        } else {
            out.push_str(&text);
        }
        rest = &rest[end..];
    }
    serde_json::json!({"framing": "multiplexed", "stdout": out, "stderr": err})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_times_and_addresses_become_placeholders() {
        let n = Normaliser {
            roots: vec!["/tmp/berth-d-x".into()],
        };
        let id = "a".repeat(64);
        assert_eq!(
            n.string(&format!("No such container: {id}")),
            "No such container: <id>"
        );
        assert_eq!(n.string(&format!("sha256:{id}")), "sha256:<id>");
        assert_eq!(n.string("0123456789ab"), "<id>");
        assert_eq!(n.string("2024-01-02T03:04:05.123456789Z"), "<time>");
        assert_eq!(n.string("10.1.2.3/16"), "<ip>/16");
        assert_eq!(n.string("02:42:ac:11:00:02"), "<mac>");
        assert_eq!(n.string("/tmp/berth-d-x/data/x"), "<root>/data/x");
        assert_eq!(n.string("fd00:1::2"), "<ip6>");
        assert_eq!(n.string("busybox:latest"), "busybox:latest");
        assert_eq!(n.string("1.41"), "1.41");
    }

    #[test]
    fn streams_demultiplex() {
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 3];
        b.extend_from_slice(b"out");
        b.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 3]);
        b.extend_from_slice(b"err");
        let v = stream(&b);
        assert_eq!(v["framing"], "multiplexed");
        assert_eq!(v["stdout"], "out");
        assert_eq!(v["stderr"], "err");
        assert_eq!(stream(b"hello")["framing"], "raw");
    }

    #[test]
    fn json_lines_are_an_array() {
        let (k, v) = read_body("application/json", b"{\"a\":1}\r\n{\"b\":2}\r\n");
        assert_eq!(k, BodyKind::JsonLines);
        assert_eq!(v.as_array().map(Vec::len), Some(2));
    }
}
