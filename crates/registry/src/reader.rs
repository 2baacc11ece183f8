//! A blocking reader over a blob streamed by [`crate::Repo::stream_blob`], for the store's
//! synchronous unpacker (run on a blocking thread).

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use tokio::sync::mpsc;

/// Reads the chunks a download task sends; an error from the task ends the stream with it.
#[derive(Debug)]
pub struct BlobReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
}

impl BlobReader {
    /// A channel pair: give the sender to `stream_blob`, read the reader on a blocking thread.
    pub fn channel(depth: usize) -> (mpsc::Sender<io::Result<Bytes>>, Self) {
        let (tx, rx) = mpsc::channel(depth);
        (
            tx,
            Self {
                rx,
                cur: Bytes::new(),
            },
        )
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chunks_then_the_error() {
        let (tx, mut r) = BlobReader::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"ab"))).unwrap();
        tx.try_send(Ok(Bytes::from_static(b"cd"))).unwrap();
        tx.try_send(Err(io::Error::other("broke"))).unwrap();
        let mut buf = [0u8; 3];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"cd");
        assert_eq!(r.read(&mut buf).unwrap_err().to_string(), "broke");
    }
}
