//! `attach`: a client gets the container's output (from now on, optionally preceded by its
//! log) and may feed its stdin. Clients may attach before the container starts, as
//! `docker run` does; the monitor is then told at spawn to forward output from the first byte.

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::engine::Engine;
use crate::error::Result;
use crate::live::Output;
use crate::logs::{self, LogQuery};
use crate::monitor::logfile::Stream;
use crate::monitor::protocol::Request;

/// What to attach to.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Replay what the log already holds first.
    pub logs: bool,
    /// Follow live output.
    pub stream: bool,
}

/// An attached client's streams.
#[derive(Debug)]
pub struct AttachStreams {
    pub output: mpsc::Receiver<Output>,
    /// Input; dropping it ends the client's input (and, with StdinOnce, the container's).
    pub stdin: Option<mpsc::Sender<Bytes>>,
    pub tty: bool,
}

impl Engine {
    pub async fn attach(&self, key: &str, opts: AttachOptions) -> Result<AttachStreams> {
        let ctr = self.lookup(key)?;
        let rec = ctr.snapshot();
        let tty = rec.config.tty.unwrap_or(false);
        let (tx, rx) = mpsc::channel(256);
        if opts.logs
            && let Some(path) = &rec.log_path
        {
            let q = LogQuery {
                stdout: opts.stdout,
                stderr: opts.stderr,
                ..LogQuery::default()
            };
            let _ = logs::read(path, 1, &q, |e| {
                let out = match e.stream {
                    Stream::Stdout => Output::Stdout(Bytes::from(e.line)),
                    Stream::Stderr => Output::Stderr(Bytes::from(e.line)),
                };
                let _ = tx.try_send(out);
                true
            });
        }
        let output = if opts.stream {
            let live_rx = ctr.attachers.add(opts.stdout, opts.stderr);
            if let Some(live) = ctr.live() {
                let (stdout, stderr) = ctr.attachers.wants();
                live.request(&Request::Forward { stdout, stderr });
            }
            forward(live_rx, tx);
            rx
        } else {
            drop(tx);
            rx
        };
        let stdin = if opts.stdin && rec.config.open_stdin.unwrap_or(false) {
            let (in_tx, in_rx) = mpsc::channel::<Bytes>(64);
            tokio::spawn(pump_stdin(self.clone(), rec.id.clone(), in_rx));
            Some(in_tx)
        } else {
            None
        };
        self.container_event(&rec, "attach", &[]);
        Ok(AttachStreams { output, stdin, tty })
    }

    /// Resizes the container's terminal.
    pub fn resize(&self, key: &str, height: u16, width: u16) -> Result<()> {
        let ctr = self.lookup(key)?;
        match ctr.live() {
            Some(l) => {
                l.request(&Request::Resize { height, width });
                Ok(())
            }
            None => Err(crate::error::EngineError::NotRunning(ctr.id.clone())),
        }
    }
}

/// Chains the live output after the replayed log into the client's channel.
fn forward(mut live: mpsc::Receiver<Output>, tx: mpsc::Sender<Output>) {
    tokio::spawn(async move {
        while let Some(o) = live.recv().await {
            if tx.send(o).await.is_err() {
                return;
            }
        }
    });
}

/// Feeds a client's input to the container once it runs; the client's end of input is
/// passed on as end-of-input.
async fn pump_stdin(engine: Engine, id: String, mut rx: mpsc::Receiver<Bytes>) {
    let Ok(mut watch) = engine.watch(&id) else {
        return;
    };
    if watch
        .wait_for(|s| s.status.is_live() || s.removed || s.exits > 0)
        .await
        .is_err()
    {
        return;
    }
    let Ok(ctr) = engine.lookup(&id) else { return };
    while let Some(data) = rx.recv().await {
        match ctr.live() {
            Some(l) => l.stdin(&data),
            None => return,
        }
    }
    if let Some(l) = ctr.live() {
        l.stdin_eof();
    }
}
