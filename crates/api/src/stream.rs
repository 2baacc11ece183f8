//! Docker's stream framing and connection hijacking (attach, exec start).
//!
//! Without a TTY, stdout and stderr share one connection as frames: an 8-byte header
//! `[stream, 0, 0, 0, len(u32 BE)]` then the payload. With a TTY the stream is raw.

use std::future::Future;

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::Response;
use berth_engine::Output;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

pub(crate) const RAW: &str = "application/vnd.docker.raw-stream";
pub(crate) const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";

/// Stream ids of the frame header.
pub(crate) const STDOUT: u8 = 1;
pub(crate) const STDERR: u8 = 2;

/// Length of a frame's header: `[stream, 0, 0, 0, len as big-endian u32]`.
pub(crate) const HEADER_LEN: usize = 8;

/// Writes a frame header for `len` payload bytes into `header` (`HEADER_LEN` bytes).
pub(crate) fn write_header(header: &mut [u8], stream: u8, len: usize) {
    header[0] = stream;
    header[1..4].fill(0);
    header[4..8].copy_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

/// One frame.
pub(crate) fn frame(stream: u8, data: &[u8]) -> Bytes {
    let mut b = BytesMut::zeroed(HEADER_LEN);
    write_header(&mut b, stream, data.len());
    b.put_slice(data);
    b.freeze()
}

/// The bytes a client receives for one output chunk.
pub(crate) fn encode(o: &Output, tty: bool) -> Bytes {
    match (o, tty) {
        (Output::Stdout(b) | Output::Stderr(b), true) => b.clone(),
        (Output::Stdout(b), false) => frame(STDOUT, b),
        (Output::Stderr(b), false) => frame(STDERR, b),
    }
}

/// Parses `--detach-keys` (`ctrl-p,ctrl-q`, `a`, `ctrl-@`); empty disables detaching.
pub(crate) fn detach_keys(spec: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for k in spec.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        if let Some(c) = k.strip_prefix("ctrl-") {
            let c = c.as_bytes();
            if c.len() != 1 {
                return None;
            }
            let code = match c[0] {
                b'a'..=b'z' => c[0] - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return None,
            };
            out.push(code);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return None;
        }
    }
    Some(out)
}

/// Finds a detach sequence across reads.
#[derive(Debug)]
struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    /// Returns (bytes to forward, detached).
    fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (data.to_vec(), false);
        }
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                // A partial match that failed is forwarded as typed.
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// What a hijacked session carries.
#[derive(Debug)]
pub(crate) struct Session {
    pub output: mpsc::Receiver<Output>,
    pub stdin: Option<mpsc::Sender<Bytes>>,
    pub tty: bool,
    /// Only honoured with a TTY and stdin, as Docker.
    pub detach_keys: Vec<u8>,
}

/// Answers an attach/exec request: upgrades the connection when the client asks for it
/// (the docker CLI does), else streams the output as the response body.
pub(crate) fn hijack(req: &mut Request<Body>, session: Session) -> Response {
    let tty = session.tty;
    hijack_then(req, tty, async move { Ok(session) })
}

/// Like [`hijack`], but the session (the process) is made only once the connection is
/// upgraded: output written right after the 101 could otherwise share a packet with the
/// response head, and clients that read the raw socket after parsing the head (docker-py)
/// would lose it. This is dockerd's order for `exec start` too.
pub(crate) fn hijack_then<F>(req: &mut Request<Body>, tty: bool, make: F) -> Response
where
    F: Future<Output = Result<Session, String>> + Send + 'static,
{
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let content_type = stream_type(req, upgrade, tty);
    if !upgrade {
        // Without an upgrade, the request body is the process's stdin (dockerd hijacks the
        // connection either way).
        let mut input = Some(std::mem::take(req.body_mut()));
        let body = futures_util::stream::once(make).flat_map(move |s| match s {
            Ok(mut session) => {
                if let (Some(tx), Some(input)) = (session.stdin.take(), input.take()) {
                    tokio::spawn(feed(input, tx));
                }
                futures_util::stream::unfold(session.output, move |mut rx| async move {
                    rx.recv()
                        .await
                        .map(|o| (Ok::<_, std::io::Error>(encode(&o, tty)), rx))
                })
                .boxed()
            }
            Err(e) => {
                futures_util::stream::once(async move { Ok::<_, std::io::Error>(failure(&e, tty)) })
                    .boxed()
            }
        });
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from_stream(body))
            .unwrap_or_default();
    }
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let io = match on_upgrade.await {
            Ok(upgraded) => TokioIo::new(upgraded),
            Err(e) => {
                tracing::debug!("upgrade failed: {e}");
                return;
            }
        };
        match make.await {
            Ok(session) => pump(io, session).await,
            Err(e) => {
                let mut io = io;
                let _ = io.write_all(&failure(&e, tty)).await;
                let _ = io.shutdown().await;
            }
        }
    });
    switching_protocols(content_type)
}

/// Copies a request body to a process's stdin, then closes it.
async fn feed(body: Body, tx: mpsc::Sender<Bytes>) {
    let mut chunks = body.into_data_stream();
    while let Some(Ok(chunk)) = chunks.next().await {
        if tx.send(chunk).await.is_err() {
            return;
        }
    }
}

/// A process that could not start, told in the stream as dockerd tells it: its error on
/// stdout, framed like the output would have been.
fn failure(e: &str, tty: bool) -> Bytes {
    encode(&Output::Stdout(Bytes::from(format!("{e}\r\n"))), tty)
}

/// The media type of a hijacked stream, as dockerd names it: multiplexed only for an
/// upgraded connection without a TTY at API 1.42 and later, raw otherwise (the framing
/// itself does not change with it).
fn stream_type(req: &Request<Body>, upgrade: bool, tty: bool) -> &'static str {
    let v = req
        .extensions()
        .get::<crate::version::ApiVersion>()
        .copied()
        .unwrap_or_default();
    if upgrade && !tty && v.at_least(1, 42) {
        MULTIPLEXED
    } else {
        RAW
    }
}

fn switching_protocols(content_type: &'static str) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    resp
}

async fn pump<IO>(io: IO, session: Session)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let Session {
        mut output,
        stdin,
        tty,
        detach_keys,
    } = session;
    let (detached_tx, mut detached_rx) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut matcher = DetachMatcher {
            keys: if tty && stdin.is_some() {
                detach_keys
            } else {
                Vec::new()
            },
            matched: 0,
        };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let Some(tx) = &stdin else { continue };
            let (data, detached) = matcher.feed(&buf[..n]);
            if !data.is_empty() && tx.send(Bytes::from(data)).await.is_err() {
                break;
            }
            if detached {
                let _ = detached_tx.send(());
                return;
            }
        }
        // Client closed its side: the container's stdin ends (StdinOnce) but output goes on.
        drop(stdin);
        std::future::pending::<()>().await;
    });
    loop {
        tokio::select! {
            o = output.recv() => match o {
                Some(o) => {
                    if wr.write_all(&encode(&o, tty)).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            _ = &mut detached_rx => break,
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
    reader.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_dockers_header() {
        let f = frame(STDERR, b"hi");
        assert_eq!(&f[..], &[2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }

    #[test]
    fn detach_keys_parse() {
        assert_eq!(detach_keys("ctrl-p,ctrl-q"), Some(vec![16, 17]));
        assert_eq!(detach_keys("a,ctrl-@"), Some(vec![b'a', 0]));
        assert_eq!(detach_keys("ctrl-xx"), None);
    }

    #[test]
    fn detach_sequence_is_found_across_reads() {
        let mut m = DetachMatcher {
            keys: vec![16, 17],
            matched: 0,
        };
        assert_eq!(m.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(m.feed(b"\x11rest"), (Vec::new(), true));
        let mut m = DetachMatcher {
            keys: vec![16, 17],
            matched: 0,
        };
        assert_eq!(m.feed(b"\x10x"), (b"\x10x".to_vec(), false));
    }
}
