//! A monitor-side connection: non-blocking socket, frame decoder, bounded output buffer.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

use super::protocol::{Decoder, Event, Frame, Kind, encode, encode_json};

/// Output a slow reader may have queued before the monitor drops it (the container must never
/// block on an attached client).
const MAX_QUEUED: usize = 8 << 20;

/// What a connection is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Role {
    /// Connected, first request not yet read.
    Pending,
    /// The daemon's control connection; `attach` says which output it also carries.
    Control {
        stdout: bool,
        stderr: bool,
    },
    Attach {
        stdout: bool,
        stderr: bool,
    },
    Exec {
        exec_id: String,
    },
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) stream: UnixStream,
    pub(super) role: Role,
    decoder: Decoder,
    out: Vec<u8>,
    pub(super) closed: bool,
}

impl Conn {
    pub(super) fn new(stream: UnixStream, role: Role) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        Ok(Self {
            stream,
            role,
            decoder: Decoder::default(),
            out: Vec::new(),
            closed: false,
        })
    }

    pub(super) fn wants_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Reads what is available; returns complete frames. Marks the connection closed at EOF
    /// or on a protocol error.
    pub(super) fn read_frames(&mut self) -> Vec<Frame> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.closed = true;
                    break;
                }
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.closed = true;
                    break;
                }
            }
        }
        let mut frames = Vec::new();
        loop {
            match self.decoder.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(_) => {
                    self.closed = true;
                    break;
                }
            }
        }
        frames
    }

    pub(super) fn send_event(&mut self, ev: &Event) {
        encode_json(ev, &mut self.out);
        self.flush();
    }

    pub(super) fn send_output(&mut self, kind: Kind, data: &[u8]) {
        if self.out.len() > MAX_QUEUED {
            self.closed = true;
            return;
        }
        encode(kind, data, &mut self.out);
    }

    /// Writes as much queued output as the socket takes.
    pub(super) fn flush(&mut self) {
        while !self.out.is_empty() && !self.closed {
            match self.stream.write(&self.out) {
                Ok(0) => self.closed = true,
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.closed = true,
            }
        }
    }

    /// Last words before the monitor exits: block (briefly) until everything is written.
    pub(super) fn drain_blocking(&mut self) {
        let _ = self.stream.set_nonblocking(false);
        let _ = self
            .stream
            .set_write_timeout(Some(std::time::Duration::from_secs(1)));
        if !self.closed {
            let _ = self.stream.write_all(&self.out);
        }
        self.out.clear();
    }
}
