//! `docker exec`: instances are created, then started on a new connection to the
//! container's monitor, which runs the process and streams its output until it exits.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use oci_spec::runtime::{Process, Spec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch};

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::live::Output;
use crate::monitor::protocol::{self, Decoder, Event, Kind, Request};

/// What `docker exec` asked for.
#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub privileged: bool,
    pub detach_keys: Option<String>,
    pub console_size: Option<(u16, u16)>,
}

/// The live part of an exec instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecState {
    pub running: bool,
    pub pid: i32,
    pub exit_code: Option<i32>,
    pub started: bool,
}

/// The exit code dockerd records for an exec whose process could not be started.
const EXEC_FAILED: i32 = 126;

#[derive(Debug)]
pub struct ExecInstance {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    state: Mutex<ExecState>,
    done: watch::Sender<bool>,
}

impl ExecInstance {
    pub fn state(&self) -> ExecState {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, f: impl FnOnce(&mut ExecState)) {
        f(&mut self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

/// The streams of a started exec.
#[derive(Debug)]
pub struct ExecStreams {
    pub output: mpsc::Receiver<Output>,
    /// Input, when the exec attached stdin; dropping it closes the process's stdin.
    pub stdin: Option<mpsc::Sender<Bytes>>,
    pub tty: bool,
}

fn new_id() -> String {
    let mut b = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Engine {
    pub fn exec_create(&self, key: &str, config: ExecConfig) -> Result<String> {
        let ctr = self.lookup(key)?;
        let rec = ctr.snapshot();
        if rec.state.status == crate::container::state::Status::Paused {
            return Err(EngineError::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                rec.id
            )));
        }
        if !rec.is_running() {
            return Err(EngineError::NotRunning(rec.id));
        }
        if config.cmd.is_empty() {
            return Err(EngineError::InvalidArgument(
                "No exec command specified".into(),
            ));
        }
        let id = new_id();
        let inst = Arc::new(ExecInstance {
            id: id.clone(),
            container_id: rec.id.clone(),
            config,
            state: Mutex::new(ExecState::default()),
            done: watch::channel(false).0,
        });
        self.inner
            .execs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone(), inst);
        ctr.update(|r| r.exec_ids.push(id.clone()));
        self.container_event(&rec, "exec_create", &[("execID", id.clone())]);
        Ok(id)
    }

    pub fn exec_get(&self, id: &str) -> Result<Arc<ExecInstance>> {
        self.inner
            .execs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NoSuchExec(id.to_owned()))
    }

    /// The OCI process for an exec: the container's, with the exec's command, env, user,
    /// working directory and terminal.
    fn exec_process(&self, inst: &ExecInstance) -> Result<Process> {
        let run_dir = self.inner.cfg.run_dir(&inst.container_id);
        let spec: Spec = serde_json::from_slice(
            &std::fs::read(run_dir.join("config.json"))
                .map_err(|e| EngineError::internal("reading the container's spec", e))?,
        )
        .map_err(|e| EngineError::internal("parsing the container's spec", e))?;
        let mut p = spec.process().clone().unwrap_or_default();
        let c = &inst.config;
        p.set_args(Some(c.cmd.clone()));
        p.set_terminal(Some(c.tty));
        let mut env = p.env().clone().unwrap_or_default();
        for kv in &c.env {
            let key = kv.split('=').next().unwrap_or_default();
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        p.set_env(Some(env));
        if let Some(w) = c.working_dir.as_deref().filter(|w| !w.is_empty()) {
            p.set_cwd(w.into());
        }
        if let Some(u) = c.user.as_deref().filter(|u| !u.is_empty()) {
            let id = crate::ocispec::user::resolve(&run_dir.join("rootfs"), u, &[])
                .map_err(|e| EngineError::from_lib(&e))?;
            let user = oci_spec::runtime::UserBuilder::default()
                .uid(id.uid)
                .gid(id.gid)
                .additional_gids(id.additional_gids)
                .build()
                .map_err(|e| EngineError::internal("building the exec user", e))?;
            p.set_user(user);
        }
        if c.privileged {
            let all: oci_spec::runtime::Capabilities = caps::all()
                .iter()
                .filter_map(|c| c.to_string().trim_start_matches("CAP_").parse().ok())
                .collect();
            let mut lc = oci_spec::runtime::LinuxCapabilities::default();
            lc.set_bounding(Some(all.clone()));
            lc.set_effective(Some(all.clone()));
            lc.set_permitted(Some(all));
            p.set_capabilities(Some(lc));
        }
        if let Some((h, w)) = c.console_size {
            let b = oci_spec::runtime::BoxBuilder::default()
                .height(u64::from(h))
                .width(u64::from(w))
                .build()
                .map_err(|e| EngineError::internal("console size", e))?;
            p.set_console_size(Some(b));
        }
        Ok(p)
    }

    /// Starts an exec; with `detach` the process runs on and the streams are empty.
    pub async fn exec_start(&self, id: &str, detach: bool) -> Result<ExecStreams> {
        let inst = self.exec_get(id)?;
        {
            let st = inst.state();
            if st.started {
                return Err(EngineError::Conflict(format!(
                    "Error: Exec command {id} has already run"
                )));
            }
        }
        let rec = self.container(&inst.container_id)?;
        if !rec.is_running() {
            return Err(EngineError::NotRunning(rec.id));
        }
        inst.set(|s| s.started = true);
        let started = self.exec_launch(&inst, &rec, id, detach).await;
        if started.is_err() {
            // Docker's code for a process that could not be started: exec inspect shows it
            // and the CLI exits with it.
            inst.set(|s| {
                s.running = false;
                s.exit_code = s.exit_code.or(Some(126));
            });
            let _ = inst.done.send(true);
        }
        started
    }

    async fn exec_launch(
        &self,
        inst: &Arc<ExecInstance>,
        rec: &crate::container::record::ContainerRecord,
        id: &str,
        detach: bool,
    ) -> Result<ExecStreams> {
        let process = self.exec_process(inst)?;
        let sock = self.inner.cfg.monitor_socket(&rec.id);
        let mut stream = UnixStream::connect(&sock).await.map_err(|e| {
            EngineError::internal(format!("connecting to the monitor of {}", rec.id), e)
        })?;
        let want_stdin = inst.config.attach_stdin && !detach;
        let mut buf = Vec::new();
        protocol::encode_json(
            &Request::Exec {
                exec_id: id.to_owned(),
                process: Box::new(process),
                stdin: want_stdin,
            },
            &mut buf,
        );
        stream
            .write_all(&buf)
            .await
            .map_err(|e| EngineError::internal("sending the exec request", e))?;
        let (out_tx, out_rx) = mpsc::channel(256);
        let (in_tx, in_rx) = mpsc::channel::<Bytes>(64);
        let (rd, wr) = stream.into_split();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(exec_reader(
            self.clone(),
            inst.clone(),
            rd,
            out_tx,
            started_tx,
        ));
        // The write half stays open until the process is done: closing it early would look
        // like a client that went away.
        let done = inst.done.subscribe();
        if want_stdin {
            tokio::spawn(exec_writer(wr, in_rx, done));
        } else {
            drop(in_rx);
            tokio::spawn(async move {
                let _keep = wr;
                let mut done = done;
                until_done(&mut done).await;
            });
        }
        match started_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(EngineError::internal(
                    "starting the exec",
                    std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                ));
            }
        }
        self.container_event(rec, "exec_start", &[("execID", id.to_owned())]);
        Ok(ExecStreams {
            output: out_rx,
            stdin: want_stdin.then_some(in_tx),
            tty: inst.config.tty,
        })
    }

    /// Resizes an exec's terminal.
    pub fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let inst = self.exec_get(id)?;
        let ctr = self.lookup(&inst.container_id)?;
        match ctr.live() {
            Some(l) => {
                l.request(&Request::ExecResize {
                    exec_id: id.to_owned(),
                    height,
                    width,
                });
                Ok(())
            }
            None => Err(EngineError::NotRunning(inst.container_id.clone())),
        }
    }

    /// Recorded from the control connection (detached execs) or the exec stream.
    pub(crate) fn on_exec_exit(&self, id: &str, code: i32) {
        if let Ok(inst) = self.exec_get(id) {
            inst.set(|s| {
                s.running = false;
                s.exit_code = Some(code);
            });
            let _ = inst.done.send(true);
            self.drop_exec_id(&inst);
            if let Ok(rec) = self.container(&inst.container_id) {
                self.container_event(
                    &rec,
                    "exec_die",
                    &[("execID", id.to_owned()), ("exitCode", code.to_string())],
                );
            }
        }
    }

    /// An exec that could not start: dockerd's exit code 126, whatever the cause.
    pub(crate) fn on_exec_failed(&self, inst: &ExecInstance) {
        inst.set(|s| s.exit_code = Some(EXEC_FAILED));
        let _ = inst.done.send(true);
        self.drop_exec_id(inst);
    }

    /// A container's `ExecIDs` lists its execs until they end, as dockerd's does (the exec
    /// itself stays inspectable).
    fn drop_exec_id(&self, inst: &ExecInstance) {
        if let Ok(ctr) = self.lookup(&inst.container_id) {
            ctr.update(|r| r.exec_ids.retain(|x| *x != inst.id));
        }
    }

    /// Waits until the exec has exited; returns its exit code.
    pub async fn exec_wait(&self, id: &str) -> Result<i32> {
        let inst = self.exec_get(id)?;
        let mut rx = inst.done.subscribe();
        let _ = rx.wait_for(|d| *d).await;
        Ok(inst.state().exit_code.unwrap_or(-1))
    }

    /// Exec instances of a container (for cleanup when it is removed).
    pub(crate) fn forget_execs(&self, container_id: &str) {
        let mut execs = self
            .inner
            .execs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        execs.retain(|_, e| e.container_id != container_id);
    }
}

async fn exec_reader(
    engine: Engine,
    inst: Arc<ExecInstance>,
    mut rd: tokio::net::unix::OwnedReadHalf,
    out: mpsc::Sender<Output>,
    started: tokio::sync::oneshot::Sender<Result<()>>,
) {
    let mut started = Some(started);
    let mut dec = Decoder::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        dec.push(&buf[..n]);
        while let Ok(Some(f)) = dec.next_frame() {
            match f.kind {
                Kind::Stdout => {
                    let _ = out.send(Output::Stdout(Bytes::from(f.payload))).await;
                }
                Kind::Stderr => {
                    let _ = out.send(Output::Stderr(Bytes::from(f.payload))).await;
                }
                Kind::Json => match serde_json::from_slice::<Event>(&f.payload) {
                    Ok(Event::ExecStarted { pid, .. }) => {
                        inst.set(|s| {
                            s.running = true;
                            s.pid = pid;
                        });
                        if let Some(tx) = started.take() {
                            let _ = tx.send(Ok(()));
                        }
                    }
                    Ok(Event::ExecFailed { message, code, .. }) => {
                        engine.on_exec_failed(&inst);
                        if let Some(tx) = started.take() {
                            let _ = tx.send(Err(EngineError::StartFailed { message, code }));
                        }
                        return;
                    }
                    Ok(Event::ExecExited { code, .. }) => {
                        engine.on_exec_exit(&inst.id, code);
                        return;
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    if let Some(tx) = started.take() {
        let _ = tx.send(Err(EngineError::internal(
            "the monitor closed the exec stream",
            std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
        )));
    }
    // The container went away under the exec: nobody will report its end.
    let _ = inst.done.send(true);
}

async fn exec_writer(
    mut wr: tokio::net::unix::OwnedWriteHalf,
    mut rx: mpsc::Receiver<Bytes>,
    mut done: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            data = rx.recv() => {
                let mut buf = Vec::new();
                let eof = data.is_none();
                match data {
                    Some(d) => protocol::encode(Kind::Stdin, &d, &mut buf),
                    None => protocol::encode(Kind::StdinEof, &[], &mut buf),
                }
                if wr.write_all(&buf).await.is_err() || eof {
                    break;
                }
            }
            () = until_done(&mut done) => return,
        }
    }
    until_done(&mut done).await;
}

/// Waits until `done` turns true (or its sender is gone), holding no borrow across awaits.
async fn until_done(done: &mut watch::Receiver<bool>) {
    loop {
        if *done.borrow() {
            return;
        }
        if done.changed().await.is_err() {
            return;
        }
    }
}
