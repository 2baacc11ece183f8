//! Progress of pulls and pushes as Docker's JSON messages (`status`, `id`, `progressDetail`,
//! `aux`), sent to whoever asked (the API's stream, the builder's output, or nobody).

use tokio::sync::mpsc;

/// `progressDetail`: absent, `{}`, or `{current, total}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    None,
    Empty,
    Bytes { current: u64, total: u64 },
}

/// One JSON message of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: Option<String>,
    pub status: String,
    pub detail: Detail,
    pub aux: Option<serde_json::Value>,
}

/// Where messages go; [`Progress::none`] drops them.
#[derive(Debug, Clone, Default)]
pub struct Progress(Option<mpsc::UnboundedSender<Message>>);

impl Progress {
    pub fn none() -> Self {
        Self(None)
    }

    /// A sink and the receiving end.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Message>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(Some(tx)), rx)
    }

    fn send(&self, m: Message) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(m);
        }
    }

    /// A message without id (`Digest: ...`, `Status: ...`).
    pub(crate) fn status(&self, status: impl Into<String>) {
        self.send(Message {
            id: None,
            status: status.into(),
            detail: Detail::None,
            aux: None,
        });
    }

    /// `Pulling from library/busybox` with the tag as id (no progressDetail).
    pub(crate) fn header(&self, id: &str, status: impl Into<String>) {
        self.send(Message {
            id: Some(id.to_owned()),
            status: status.into(),
            detail: Detail::None,
            aux: None,
        });
    }

    /// A layer's state (`Pulling fs layer`, `Pull complete`, ...).
    pub(crate) fn layer(&self, id: &str, status: &str) {
        self.send(Message {
            id: Some(id.to_owned()),
            status: status.to_owned(),
            detail: Detail::Empty,
            aux: None,
        });
    }

    /// A layer's bytes so far (`Downloading`, `Extracting`, `Pushing`).
    pub(crate) fn bytes(&self, id: &str, status: &str, current: u64, total: u64) {
        self.send(Message {
            id: Some(id.to_owned()),
            status: status.to_owned(),
            detail: Detail::Bytes { current, total },
            aux: None,
        });
    }

    pub(crate) fn aux(&self, aux: serde_json::Value) {
        self.send(Message {
            id: None,
            status: String::new(),
            detail: Detail::Empty,
            aux: Some(aux),
        });
    }
}

/// The 12 hex digits Docker shows for a layer.
pub(crate) fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex[..12.min(hex.len())].to_owned()
}

/// Counts bytes read and reports them every 512 KiB and at the end.
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) progress: Progress,
    pub(crate) id: String,
    pub(crate) status: &'static str,
    pub(crate) total: u64,
    pub(crate) count: u64,
    pub(crate) reported: u64,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count - self.reported >= 512 * 1024 || (n > 0 && self.count >= self.total) {
            self.reported = self.count;
            self.progress.bytes(
                &self.id,
                self.status,
                self.count,
                self.total.max(self.count),
            );
        }
        Ok(n)
    }
}
