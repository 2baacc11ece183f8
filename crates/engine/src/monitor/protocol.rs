//! The daemon ↔ monitor protocol.
//!
//! A connection carries frames: `[kind: u8][len: u32 big-endian][payload]`. `Json` frames hold
//! one [`Request`] (daemon → monitor) or [`Event`] (monitor → daemon); `Stdout`/`Stderr`
//! frames carry container output, `Stdin` frames input, `StdinEof` closes the input side.
//!
//! ```text
//! daemon ── control socketpair (made at spawn, passed through the zygote) ──▶ monitor
//!          ◀── Started{pid} | Failed{..} ... Exited{..}, ExecExited{..}
//! daemon ── connect(monitor.sock) ─▶ Hello            (re-attach after a daemon restart)
//!                                 ─▶ Attach{..}       then output/stdin frames
//!                                 ─▶ Exec{..}         then ExecStarted, frames, ExecExited
//!                                 ─▶ Resize / ExecResize
//! ```

use std::io::{self, Read, Write};

use oci_spec::runtime::Process;
use serde::{Deserialize, Serialize};

/// Frame kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Json = 0,
    Stdout = 1,
    Stderr = 2,
    Stdin = 3,
    StdinEof = 4,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Json,
            1 => Self::Stdout,
            2 => Self::Stderr,
            3 => Self::Stdin,
            4 => Self::StdinEof,
            _ => return None,
        })
    }
}

/// Frames larger than this are a protocol error.
pub const MAX_FRAME: usize = 1 << 20;

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub payload: Vec<u8>,
}

/// Requests from the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Become the control connection (after a daemon restart); answered with `State`.
    Hello,
    /// Stream the container's output (and take its input) on this connection.
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Which output the control connection carries (the daemon has attached clients).
    Forward { stdout: bool, stderr: bool },
    /// Resize the container's terminal.
    Resize { height: u16, width: u16 },
    /// Run a process in the container; this connection becomes its stream.
    Exec {
        exec_id: String,
        process: Box<Process>,
        stdin: bool,
    },
    /// Resize an exec'd process's terminal.
    ExecResize {
        exec_id: String,
        height: u16,
        width: u16,
    },
}

/// How a container (or exec'd process) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// Exit code as a shell reports it (128+n for signal n).
    pub code: i32,
    pub oom_killed: bool,
    /// Unix time in nanoseconds.
    pub finished_at_ns: i64,
}

/// Events from the monitor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Event {
    /// The container's init runs the user's program.
    Started {
        pid: i32,
        started_at_ns: i64,
    },
    /// The container could not be started; the monitor exits. `code` is Docker's: 126 for
    /// "cannot execute", 127 for "not found", else 128.
    Failed {
        message: String,
        code: i32,
    },
    /// Answer to `Hello`.
    State {
        pid: i32,
        started_at_ns: i64,
        exited: Option<ExitInfo>,
    },
    /// The container ended; its cgroups and runtime state are gone.
    Exited(ExitInfo),
    ExecStarted {
        exec_id: String,
        pid: i32,
    },
    ExecFailed {
        exec_id: String,
        message: String,
        code: i32,
    },
    ExecExited {
        exec_id: String,
        code: i32,
    },
    /// A request could not be served.
    Error {
        message: String,
    },
}

/// Encodes a frame.
pub fn encode(kind: Kind, payload: &[u8], out: &mut Vec<u8>) {
    out.push(kind as u8);
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Encodes a JSON message frame.
pub fn encode_json<T: Serialize>(msg: &T, out: &mut Vec<u8>) {
    let payload = serde_json::to_vec(msg).unwrap_or_default();
    encode(Kind::Json, &payload, out);
}

/// Incremental decoder over a byte buffer (non-blocking readers feed it).
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if any.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let kind = Kind::from_u8(self.buf[0])
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unknown frame kind"))?;
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame too large",
            ));
        }
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        let payload = self.buf[5..5 + len].to_vec();
        self.buf.drain(..5 + len);
        Ok(Some(Frame { kind, payload }))
    }
}

/// Blocking read of one frame (used where blocking is fine: tests, the zygote handshake).
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let kind = Kind::from_u8(head[0])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unknown frame kind"))?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some(Frame { kind, payload }))
}

/// Blocking write of one JSON frame.
pub fn write_json<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    let mut out = Vec::new();
    encode_json(msg, &mut out);
    w.write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_pieces() {
        let mut bytes = Vec::new();
        encode_json(
            &Request::Resize {
                height: 24,
                width: 80,
            },
            &mut bytes,
        );
        encode(Kind::Stdout, b"hello", &mut bytes);
        let mut d = Decoder::default();
        for chunk in bytes.chunks(3) {
            d.push(chunk);
        }
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!(f.kind, Kind::Json);
        let req: Request = serde_json::from_slice(&f.payload).unwrap();
        assert!(matches!(
            req,
            Request::Resize {
                height: 24,
                width: 80
            }
        ));
        assert_eq!(
            d.next_frame().unwrap(),
            Some(Frame {
                kind: Kind::Stdout,
                payload: b"hello".to_vec()
            })
        );
        assert_eq!(d.next_frame().unwrap(), None);
    }

    #[test]
    fn rejects_garbage() {
        let mut d = Decoder::default();
        d.push(&[9, 0, 0, 0, 0]);
        assert!(d.next_frame().is_err());
        let mut d = Decoder::default();
        d.push(&[1, 0xff, 0xff, 0xff, 0xff]);
        assert!(d.next_frame().is_err());
    }
}
