//! A deliberately small HTTP/1.1 client over a unix socket.
//!
//! The harness must send requests verbatim (malformed JSON, wrong methods, odd headers) and
//! capture answers that are not ordinary HTTP bodies: hijacked `attach`/`exec` streams that
//! run until the process exits, and endless streams (`events`, `stats`, `logs?follow`) read for
//! a fixed time and then cut. A blocking client with a deadline does exactly that, with no
//! async runtime in the test process.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// One request as the harness sends it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// Path and query, already percent-encoded where needed.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Shut down the write side once the body is sent (EOF on a hijacked stdin).
    pub half_close: bool,
}

/// What came back.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body was still open when the read deadline passed.
    pub cut: bool,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type without parameters (`application/json`).
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }
}

/// Failures talking to a daemon.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connecting to {path}")]
    Connect {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sending {method} {target}")]
    Send {
        method: String,
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no answer to {method} {target} within {secs:.1}s")]
    NoAnswer {
        method: String,
        target: String,
        secs: f64,
    },
    #[error("malformed answer to {method} {target}: {what}")]
    Malformed {
        method: String,
        target: String,
        what: String,
    },
}

/// Sends `req` on a fresh connection to `sock` and reads the answer until the server closes
/// the connection, the body is complete, or `deadline` passes (then the body is marked cut).
pub fn send(sock: &Path, req: &Request, deadline: Duration) -> Result<Response, HttpError> {
    let mut s = UnixStream::connect(sock).map_err(|source| HttpError::Connect {
        path: sock.display().to_string(),
        source,
    })?;
    let send_err = |source| HttpError::Send {
        method: req.method.clone(),
        target: req.target.clone(),
        source,
    };
    s.write_all(&head(req)).map_err(send_err)?;
    s.write_all(&req.body).map_err(send_err)?;
    if req.half_close {
        s.shutdown(std::net::Shutdown::Write).map_err(send_err)?;
    }
    let (raw, cut) = read_until(&mut s, &req.method, deadline);
    parse(req, &raw, cut, deadline)
}

fn head(req: &Request) -> Vec<u8> {
    let has = |name: &str| {
        req.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    };
    let mut h = format!("{} {} HTTP/1.1\r\nHost: docker\r\n", req.method, req.target);
    if !has("connection") {
        h.push_str("Connection: close\r\n");
    }
    if !has("content-length") && !has("transfer-encoding") {
        h.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    }
    if !req.body.is_empty() && !has("content-type") {
        h.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in &req.headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// Reads until EOF, a complete body, or the deadline. Returns the bytes and whether the
/// deadline cut them.
fn read_until(s: &mut UnixStream, method: &str, deadline: Duration) -> (Vec<u8>, bool) {
    let end = Instant::now() + deadline;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (buf, true);
        }
        let _ = s.set_read_timeout(Some(left.min(Duration::from_millis(200))));
        match s.read(&mut chunk) {
            Ok(0) => return (buf, false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if complete(&buf, method) {
                    return (buf, false);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (buf, false),
        }
    }
}

fn split_head(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((&raw[..i], &raw[i + 4..]))
}

fn parse_head(head: &[u8]) -> Option<(u16, Vec<(String, String)>)> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some((status, headers))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// True when `raw` holds a whole response whose end the server marks (length or last chunk).
fn complete(raw: &[u8], method: &str) -> bool {
    let Some((h, body)) = split_head(raw) else {
        return false;
    };
    let Some((status, headers)) = parse_head(h) else {
        return false;
    };
    if method == "HEAD" || status == 204 || status == 304 {
        return true;
    }
    if let Some(len) = header(&headers, "content-length").and_then(|l| l.parse::<usize>().ok()) {
        return body.len() >= len;
    }
    if header(&headers, "transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        return dechunk(body).1;
    }
    false
}

/// Decodes a chunked body as far as it goes; the flag says whether the last chunk came.
fn dechunk(mut body: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            return (out, false);
        };
        body = &body[eol + 2..];
        if size == 0 {
            return (out, true);
        }
        let take = size.min(body.len());
        out.extend_from_slice(&body[..take]);
        if take < size || body.len() < size + 2 {
            return (out, false);
        }
        body = &body[size + 2..];
    }
}

fn parse(req: &Request, raw: &[u8], cut: bool, deadline: Duration) -> Result<Response, HttpError> {
    let malformed = |what: &str| HttpError::Malformed {
        method: req.method.clone(),
        target: req.target.clone(),
        what: what.to_owned(),
    };
    let Some((h, rest)) = split_head(raw) else {
        if raw.is_empty() {
            return Err(HttpError::NoAnswer {
                method: req.method.clone(),
                target: req.target.clone(),
                secs: deadline.as_secs_f64(),
            });
        }
        return Err(malformed("no header terminator"));
    };
    let (status, headers) = parse_head(h).ok_or_else(|| malformed("bad status line"))?;
    let chunked = header(&headers, "transfer-encoding").is_some_and(|t| t.contains("chunked"));
    let body = if req.method == "HEAD" || status == 204 || status == 304 {
        Vec::new()
    } else if chunked {
        dechunk(rest).0
    } else if let Some(len) =
        header(&headers, "content-length").and_then(|l| l.parse::<usize>().ok())
    {
        rest[..len.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
        cut,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_and_know_their_end() {
        let (b, done) = dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        assert_eq!(b, b"abcde");
        assert!(done);
        let (b, done) = dechunk(b"3\r\nabc\r\n5\r\nde");
        assert_eq!(b, b"abcde");
        assert!(!done);
    }

    #[test]
    fn a_response_is_complete_by_length_or_last_chunk() {
        assert!(complete(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            "GET"
        ));
        assert!(!complete(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok",
            "GET"
        ));
        assert!(complete(b"HTTP/1.1 204 No Content\r\n\r\n", "POST"));
        assert!(!complete(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nabc",
            "POST"
        ));
    }

    #[test]
    fn the_request_head_carries_length_and_type() {
        let r = Request {
            method: "POST".into(),
            target: "/containers/create".into(),
            body: b"{}".to_vec(),
            ..Request::default()
        };
        let h = String::from_utf8(head(&r)).unwrap();
        assert!(h.starts_with("POST /containers/create HTTP/1.1\r\n"));
        assert!(h.contains("Content-Length: 2\r\n"));
        assert!(h.contains("Content-Type: application/json\r\n"));
        assert!(h.contains("Connection: close\r\n"));
    }
}
