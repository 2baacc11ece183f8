//! The daemon's side of a running container's monitor: the control connection, output fanned
//! out to attached clients, input passed on, and the exit that ends it all.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

use crate::engine::{Ctr, Engine};
use crate::monitor::protocol::{self, Decoder, Event, ExitInfo, Kind, Request};

/// Output chunks as attached clients receive them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
}

/// Bounded per-client queue: a client that stops reading is dropped, never the container.
const ATTACH_QUEUE: usize = 256;

#[derive(Debug)]
pub(crate) struct Attacher {
    pub(crate) stdout: bool,
    pub(crate) stderr: bool,
    pub(crate) tx: mpsc::Sender<Output>,
}

/// The clients attached to a container (before or after it started).
#[derive(Debug, Default)]
pub(crate) struct Attachers {
    list: Mutex<Vec<Attacher>>,
}

impl Attachers {
    pub(crate) fn add(&self, stdout: bool, stderr: bool) -> mpsc::Receiver<Output> {
        let (tx, rx) = mpsc::channel(ATTACH_QUEUE);
        self.lock().push(Attacher { stdout, stderr, tx });
        rx
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Attacher>> {
        self.list
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Which streams anyone wants.
    pub(crate) fn wants(&self) -> (bool, bool) {
        let l = self.lock();
        (
            l.iter().any(|a| a.stdout && !a.tx.is_closed()),
            l.iter().any(|a| a.stderr && !a.tx.is_closed()),
        )
    }

    fn deliver(&self, out: &Output) {
        let mut l = self.lock();
        l.retain(|a| {
            let wanted = match out {
                Output::Stdout(_) => a.stdout,
                Output::Stderr(_) => a.stderr,
            };
            !wanted || a.tx.try_send(out.clone()).is_ok()
        });
    }

    /// The container ended: every attached stream ends.
    pub(crate) fn close_all(&self) {
        self.lock().clear();
    }
}

/// A running container's monitor connection.
#[derive(Debug)]
pub(crate) struct Live {
    tx: mpsc::UnboundedSender<Vec<u8>>,
}

impl Live {
    pub(crate) fn request(&self, req: &Request) {
        let mut buf = Vec::new();
        protocol::encode_json(req, &mut buf);
        let _ = self.tx.send(buf);
    }

    pub(crate) fn stdin(&self, data: &[u8]) {
        let mut buf = Vec::new();
        protocol::encode(Kind::Stdin, data, &mut buf);
        let _ = self.tx.send(buf);
    }

    pub(crate) fn stdin_eof(&self) {
        let mut buf = Vec::new();
        protocol::encode(Kind::StdinEof, &[], &mut buf);
        let _ = self.tx.send(buf);
    }
}

/// Takes over a monitor's control connection: returns the handle, and the first event (the
/// monitor's `Started`/`Failed`, or `State` after `Hello`), and spawns the tasks that write
/// requests and read events until the container exits. One reader sees every byte, so
/// output that follows the first event at once is not lost.
pub(crate) fn adopt(
    engine: &Engine,
    ctr: &Arc<Ctr>,
    monitor_pid: i32,
    stream: UnixStream,
) -> (Arc<Live>, oneshot::Receiver<Event>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let (first_tx, first_rx) = oneshot::channel();
    let _ = monitor_pid;
    let live = Arc::new(Live { tx });
    let (mut rd, mut wr) = stream.into_split();
    tokio::spawn(async move {
        while let Some(buf) = rx.recv().await {
            if wr.write_all(&buf).await.is_err() {
                break;
            }
        }
    });
    let (engine, ctr) = (engine.clone(), ctr.clone());
    tokio::spawn(async move {
        let mut first = Some(first_tx);
        let mut dec = Decoder::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            dec.push(&buf[..n]);
            while let Ok(Some(frame)) = dec.next_frame() {
                match frame.kind {
                    Kind::Stdout => ctr
                        .attachers
                        .deliver(&Output::Stdout(Bytes::from(frame.payload))),
                    Kind::Stderr => ctr
                        .attachers
                        .deliver(&Output::Stderr(Bytes::from(frame.payload))),
                    Kind::Json => {
                        let Ok(ev) = serde_json::from_slice::<Event>(&frame.payload) else {
                            continue;
                        };
                        if let Some(tx) = first.take() {
                            let failed = matches!(ev, Event::Failed { .. });
                            let _ = tx.send(ev);
                            if failed {
                                return;
                            }
                        } else if handle_event(&engine, &ctr, ev).await {
                            return;
                        }
                    }
                    Kind::Stdin | Kind::StdinEof => {}
                }
            }
        }
        if first.is_some() {
            return; // never started: the starter sees the channel close
        }
        // The connection ended without an exit event: the monitor died (or was killed).
        let info = lost_monitor_exit(&engine, &ctr);
        engine.on_exit(&ctr, info).await;
    });
    (live, first_rx)
}

/// Handles one event; true when the container exited.
async fn handle_event(engine: &Engine, ctr: &Arc<Ctr>, ev: Event) -> bool {
    match ev {
        Event::Exited(info) => {
            engine.on_exit(ctr, info).await;
            true
        }
        Event::ExecExited { exec_id, code } => {
            engine.on_exec_exit(&exec_id, code);
            false
        }
        _ => false,
    }
}

/// What to record when the monitor vanished: its exit file if it wrote one, else Docker's
/// 255 for a task lost with its shim.
fn lost_monitor_exit(engine: &Engine, ctr: &Ctr) -> ExitInfo {
    let path = engine.inner.cfg.run_dir(&ctr.id).join("exit.json");
    crate::monitor::read_exit(&path).unwrap_or(ExitInfo {
        code: 255,
        oom_killed: false,
        finished_at_ns: crate::monitor::now_ns(),
    })
}

/// Wraps the daemon's end of a fresh control socketpair.
pub(crate) fn control_stream(fd: OwnedFd) -> std::io::Result<UnixStream> {
    let std = std::os::unix::net::UnixStream::from(fd);
    std.set_nonblocking(true)?;
    UnixStream::from_std(std)
}
