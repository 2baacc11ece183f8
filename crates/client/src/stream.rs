//! Moving bytes between the local stdio and a container: hijacked attach/exec connections,
//! docker's stdout/stderr frame demultiplexing, detach keys and terminal resizes.

use std::future::Future;
use std::io::Write;

use anyhow::Result;
use bytes::{Buf, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The container (or exec) closed its output.
    Closed,
    /// The user typed the detach keys.
    Detached,
}

/// docker's stdcopy framing: `[stream, 0, 0, 0, len(be u32)]` then `len` bytes.
#[derive(Debug, Default)]
pub struct Demux {
    buf: BytesMut,
}

impl Demux {
    /// Feeds bytes; returns complete frames as (stream, payload). Stream 2 is stderr.
    pub fn push(&mut self, data: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        self.for_each_frame(data, |kind, payload| out.push((kind, payload.to_vec())));
        out
    }

    /// Feeds bytes; hands each complete frame to `f` in place, with no copy.
    pub fn for_each_frame(&mut self, data: &[u8], mut f: impl FnMut(u8, &[u8])) {
        self.buf.extend_from_slice(data);
        let mut at = 0;
        while self.buf.len() - at >= 8 {
            let b = &self.buf[at..];
            let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if b.len() - 8 < len {
                break;
            }
            f(b[0], &b[8..8 + len]);
            at += 8 + len;
        }
        self.buf.advance(at);
    }
}

/// Writes container output to our stdout/stderr, framed or raw.
#[derive(Debug)]
pub struct Sink {
    demux: Option<Demux>,
}

impl Sink {
    pub fn new(tty: bool) -> Self {
        Self {
            demux: (!tty).then(Demux::default),
        }
    }

    /// Writes what `data` completes; consecutive frames of one stream go out in one write
    /// (a chunk of a thousand log lines is one syscall, not a thousand), and the order
    /// between stdout and stderr is kept.
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        let Some(d) = &mut self.demux else {
            return write_flush(&mut std::io::stdout(), data);
        };
        let mut run: Vec<u8> = Vec::new();
        let mut run_kind = 1;
        let mut result = Ok(());
        d.for_each_frame(data, |kind, payload| {
            let kind = if kind == 2 { 2 } else { 1 };
            if kind != run_kind && !run.is_empty() && result.is_ok() {
                result = write_stream(run_kind, &run);
                run.clear();
            }
            run_kind = kind;
            run.extend_from_slice(payload);
        });
        result?;
        if run.is_empty() {
            return Ok(());
        }
        write_stream(run_kind, &run)
    }
}

fn write_stream(kind: u8, data: &[u8]) -> std::io::Result<()> {
    if kind == 2 {
        write_flush(&mut std::io::stderr(), data)
    } else {
        write_flush(&mut std::io::stdout(), data)
    }
}

fn write_flush(w: &mut impl Write, data: &[u8]) -> std::io::Result<()> {
    w.write_all(data)?;
    w.flush()
}

/// Copies a response body (logs) to stdout/stderr.
pub async fn copy_body<S, E>(mut body: S, tty: bool) -> Result<()>
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut sink = Sink::new(tty);
    while let Some(chunk) = body.next().await {
        sink.write(&chunk?)?;
    }
    Ok(())
}

/// ctrl-p ctrl-q, docker's default detach sequence.
const DETACH: [u8; 2] = [0x10, 0x11];

/// docker's `--detach-keys` syntax: comma-separated keys, each a character or `ctrl-<x>`.
pub fn parse_detach_keys(spec: Option<&str>) -> Option<Vec<u8>> {
    let Some(spec) = spec else {
        return Some(DETACH.to_vec());
    };
    let mut seq = Vec::new();
    for key in spec.split(',') {
        let b = match key.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => {
                let c = c.as_bytes()[0].to_ascii_lowercase();
                match c {
                    b'a'..=b'z' => c - b'a' + 1,
                    b'@' => 0,
                    b'[' => 27,
                    b'\\' => 28,
                    b']' => 29,
                    b'^' => 30,
                    b'_' => 31,
                    _ => return None,
                }
            }
            _ if key.len() == 1 => key.as_bytes()[0],
            _ => return None,
        };
        seq.push(b);
    }
    (!seq.is_empty()).then_some(seq)
}

/// Finds the detach sequence across reads; holds back a pending prefix.
#[derive(Debug)]
pub struct DetachScanner {
    seq: Vec<u8>,
    matched: usize,
}

impl Default for DetachScanner {
    fn default() -> Self {
        Self::new(DETACH.to_vec())
    }
}

impl DetachScanner {
    pub fn new(seq: Vec<u8>) -> Self {
        Self { seq, matched: 0 }
    }

    /// Returns the bytes to forward, and whether the full sequence was seen.
    pub fn scan(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == self.seq[self.matched] {
                self.matched += 1;
                if self.matched == self.seq.len() {
                    return (out, true);
                }
                continue;
            }
            // A broken prefix is forwarded as typed.
            out.extend_from_slice(&self.seq[..self.matched]);
            self.matched = 0;
            if b == self.seq[0] {
                self.matched = 1;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// Options for [`pump`].
#[derive(Debug, Clone)]
pub struct PumpOpts {
    pub tty: bool,
    /// Forward our stdin.
    pub stdin: bool,
    /// Watch stdin for this detach sequence (interactive terminal sessions).
    pub detach_keys: Option<Vec<u8>>,
}

/// Runs a session on a hijacked connection until the remote side closes its output or the user
/// detaches. `resize` is called on SIGWINCH (and once at start) for TTY sessions.
pub async fn pump<C, R, F>(conn: C, opts: PumpOpts, resize: R) -> Result<Ended>
where
    C: AsyncRead + AsyncWrite + Send + 'static,
    R: Fn(u16, u16) -> F,
    F: Future<Output = ()>,
{
    let (mut rd, mut wr) = tokio::io::split(conn);
    let (detach_tx, mut detach_rx) = tokio::sync::mpsc::channel::<()>(1);
    if opts.stdin {
        let detach_keys = opts.detach_keys.clone();
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut buf = vec![0u8; 32 * 1024];
            let mut scanner = detach_keys.map(DetachScanner::new);
            loop {
                let n = match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let (data, detach) = match scanner.as_mut() {
                    Some(s) => s.scan(&buf[..n]),
                    None => (buf[..n].to_vec(), false),
                };
                if !data.is_empty()
                    && (wr.write_all(&data).await.is_err() || wr.flush().await.is_err())
                {
                    return;
                }
                if detach {
                    let _ = detach_tx.send(()).await;
                    return;
                }
            }
            // End of our stdin is the container's too: half-close, keep reading its output.
            let _ = wr.shutdown().await;
        });
    }
    let mut winch = if opts.tty {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok()
    } else {
        None
    };
    if let Some((h, w)) = crate::tty::size().filter(|_| opts.tty) {
        resize(h, w).await;
    }
    let mut sink = Sink::new(opts.tty);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            r = rd.read(&mut buf) => {
                match r {
                    Ok(0) | Err(_) => return Ok(Ended::Closed),
                    Ok(n) => sink.write(&buf[..n])?,
                }
            }
            Some(()) = detach_rx.recv() => return Ok(Ended::Detached),
            Some(()) = async { match winch.as_mut() { Some(s) => s.recv().await, None => None } } => {
                if let Some((h, w)) = crate::tty::size() {
                    resize(h, w).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demultiplexes_frames_across_reads() {
        let mut d = Demux::default();
        let mut data = vec![1, 0, 0, 0, 0, 0, 0, 2, b'h', b'i'];
        data.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 3, b'e', b'r']);
        let first = d.push(&data);
        assert_eq!(first, vec![(1, b"hi".to_vec())]);
        assert_eq!(d.push(b"r"), vec![(2, b"err".to_vec())]);
    }

    #[test]
    fn detach_keys() {
        let mut s = DetachScanner::default();
        assert_eq!(s.scan(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(s.scan(b"\x11"), (Vec::new(), true));
        let mut s = DetachScanner::default();
        assert_eq!(s.scan(b"\x10x"), (b"\x10x".to_vec(), false));
        assert_eq!(parse_detach_keys(Some("ctrl-a,x")), Some(vec![1, b'x']));
        assert_eq!(parse_detach_keys(None), Some(vec![0x10, 0x11]));
        assert_eq!(parse_detach_keys(Some("ctrl-ab")), None);
    }
}
