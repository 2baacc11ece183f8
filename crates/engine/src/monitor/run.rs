//! The monitor's event loop: one per running container, single-threaded, poll(2)-driven.
//!
//! It owns the container's stdio, copies output to the json-file log and to attached clients,
//! feeds input, runs and reaps exec'd processes, and when init exits records the exit status
//! (`exit.json`), removes the container's cgroups and runtime state, tells the daemon, and
//! exits.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use berth_runtime::{Container, ExecRequest};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::conn::{Conn, Role};
use super::logfile::{JsonFileWriter, Stream};
use super::protocol::{Event, ExitInfo, Frame, Kind, Request};
use super::{MonitorConfig, now_ns, stdio};

/// After init exits, how long output may keep coming (from processes that inherited stdout)
/// before the monitor stops waiting for end-of-file.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Whose output a source carries.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Container,
    Exec(String),
}

#[derive(Debug)]
struct Source {
    fd: OwnedFd,
    stream: Stream,
    owner: Owner,
}

#[derive(Debug)]
struct ExecProc {
    exec_id: String,
    pid: Pid,
    /// Input side: the stdin pipe, or a dup of the pty master.
    stdin: Option<OwnedFd>,
    /// The pty master, for resizes.
    master: Option<OwnedFd>,
    exit_code: Option<i32>,
}

/// What a poll slot refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Signals,
    Listener,
    Conn(usize),
    Source(usize),
    Stdin,
}

pub(super) struct Monitor {
    pub(super) cfg: MonitorConfig,
    pub(super) container: Container,
    pub(super) started_at_ns: i64,
    pub(super) signals: SignalFd,
    pub(super) listener: UnixListener,
    pub(super) conns: Vec<Conn>,
    sources: Vec<Source>,
    /// The container's input: stdin pipe, or a dup of the pty master.
    pub(super) stdin: Option<OwnedFd>,
    stdin_buf: Vec<u8>,
    close_stdin_when_flushed: bool,
    /// The container's pty master, for resizes.
    pub(super) master: Option<OwnedFd>,
    pub(super) log: Option<JsonFileWriter>,
    execs: Vec<ExecProc>,
    exit: Option<(ExitInfo, Instant)>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("id", &self.cfg.id)
            .field("pid", &self.container.pid())
            .finish_non_exhaustive()
    }
}

impl Monitor {
    pub(super) fn new(parts: super::Started) -> Self {
        let mut sources = Vec::new();
        for (fd, stream) in parts.outputs {
            sources.push(Source {
                fd,
                stream,
                owner: Owner::Container,
            });
        }
        Self {
            cfg: parts.cfg,
            container: parts.container,
            started_at_ns: parts.started_at_ns,
            signals: parts.signals,
            listener: parts.listener,
            conns: vec![parts.control],
            sources,
            stdin: parts.stdin,
            stdin_buf: Vec::new(),
            close_stdin_when_flushed: false,
            master: parts.master,
            log: parts.log,
            execs: Vec::new(),
            exit: None,
        }
    }

    /// Runs until the container has exited and everything is recorded; returns the exit code
    /// of the monitor process.
    pub(super) fn serve(mut self) -> i32 {
        loop {
            if let Some((info, since)) = self.exit {
                let drained = !self.sources.iter().any(|s| s.owner == Owner::Container);
                if drained || since.elapsed() > DRAIN_GRACE {
                    return self.finish(info);
                }
            }
            if let Err(e) = self.turn() {
                tracing::error!(container = %self.cfg.id, error = %e, "monitor poll failed");
                if let Some((info, _)) = self.exit {
                    return self.finish(info);
                }
            }
        }
    }

    fn slots(&self) -> Vec<(Slot, BorrowedFd<'_>, PollFlags)> {
        let mut v = vec![
            (Slot::Signals, self.signals.as_fd(), PollFlags::POLLIN),
            (Slot::Listener, self.listener.as_fd(), PollFlags::POLLIN),
        ];
        for (i, c) in self.conns.iter().enumerate() {
            let mut f = PollFlags::POLLIN;
            if c.wants_output() {
                f |= PollFlags::POLLOUT;
            }
            v.push((Slot::Conn(i), c.stream.as_fd(), f));
        }
        for (i, s) in self.sources.iter().enumerate() {
            v.push((Slot::Source(i), s.fd.as_fd(), PollFlags::POLLIN));
        }
        if let (Some(fd), false) = (&self.stdin, self.stdin_buf.is_empty()) {
            v.push((Slot::Stdin, fd.as_fd(), PollFlags::POLLOUT));
        }
        v
    }

    /// One poll round.
    fn turn(&mut self) -> Result<(), Errno> {
        let timeout = if self.exit.is_some() {
            PollTimeout::from(100u16)
        } else {
            PollTimeout::NONE
        };
        let ready: Vec<(Slot, PollFlags)> = {
            let slots = self.slots();
            let mut fds: Vec<PollFd<'_>> = slots
                .iter()
                .map(|(_, fd, f)| PollFd::new(*fd, *f))
                .collect();
            match poll(&mut fds, timeout) {
                Err(Errno::EINTR) => return Ok(()),
                other => other?,
            };
            slots
                .iter()
                .zip(fds.iter())
                .filter_map(|((slot, _, _), fd)| {
                    fd.revents().filter(|r| !r.is_empty()).map(|r| (*slot, r))
                })
                .collect()
        };
        let mut dead_sources = Vec::new();
        for (slot, revents) in ready {
            match slot {
                Slot::Signals => self.reap()?,
                Slot::Listener => self.accept(),
                Slot::Conn(i) => self.on_conn(i, revents),
                Slot::Source(i) => {
                    if !self.pump(i) {
                        dead_sources.push(i);
                    }
                }
                Slot::Stdin => self.flush_stdin(),
            }
        }
        dead_sources.sort_unstable();
        for i in dead_sources.into_iter().rev() {
            self.sources.remove(i);
        }
        if let Some(log) = &mut self.log
            && self.exit.is_some()
            && !self.sources.iter().any(|s| s.owner == Owner::Container)
        {
            let _ = log.flush_partial();
        }
        self.report_finished_execs();
        self.conns.retain(|c| !c.closed);
        Ok(())
    }

    /// Reads one chunk from output source `i`; false when it reached its end.
    fn pump(&mut self, i: usize) -> bool {
        let mut buf = [0u8; 32 * 1024];
        let n = match nix::unistd::read(self.sources[i].fd.as_fd(), &mut buf) {
            Ok(0) | Err(Errno::EIO) => return false, // EIO: the pty's last slave fd closed
            Ok(n) => n,
            Err(Errno::EAGAIN | Errno::EINTR) => return true,
            Err(_) => return false,
        };
        let data = &buf[..n];
        let (stream, owner) = (self.sources[i].stream, self.sources[i].owner.clone());
        let kind = match stream {
            Stream::Stdout => Kind::Stdout,
            Stream::Stderr => Kind::Stderr,
        };
        match owner {
            Owner::Container => {
                if let Some(log) = &mut self.log
                    && let Err(e) = log.write(stream, data)
                {
                    tracing::warn!(container = %self.cfg.id, error = %e, "writing the container log");
                }
                for c in &mut self.conns {
                    let wanted = match c.role {
                        Role::Control { stdout, stderr } | Role::Attach { stdout, stderr } => {
                            if stream == Stream::Stdout {
                                stdout
                            } else {
                                stderr
                            }
                        }
                        _ => false,
                    };
                    if wanted {
                        c.send_output(kind, data);
                        c.flush();
                    }
                }
            }
            Owner::Exec(id) => {
                if let Some(c) = self.conns.iter_mut().find(|c| {
                    c.role
                        == Role::Exec {
                            exec_id: id.clone(),
                        }
                }) {
                    c.send_output(kind, data);
                    c.flush();
                }
            }
        }
        true
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            match Conn::new(stream, Role::Pending) {
                Ok(c) => self.conns.push(c),
                Err(e) => tracing::warn!(error = %e, "accepting a monitor connection"),
            }
        }
    }

    fn on_conn(&mut self, i: usize, revents: PollFlags) {
        if revents.contains(PollFlags::POLLOUT) {
            self.conns[i].flush();
        }
        if !revents.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            return;
        }
        let frames = self.conns[i].read_frames();
        for f in frames {
            self.on_frame(i, f);
        }
        if self.conns[i].closed && self.cfg.stdin_once && self.conns[i].role != Role::Pending {
            self.input_ended(i);
        }
    }

    fn on_frame(&mut self, i: usize, f: Frame) {
        match f.kind {
            Kind::Json => match serde_json::from_slice::<Request>(&f.payload) {
                Ok(req) => self.on_request(i, req),
                Err(e) => self.conns[i].send_event(&Event::Error {
                    message: format!("bad request: {e}"),
                }),
            },
            Kind::Stdin => self.input(i, &f.payload),
            Kind::StdinEof => self.input_ended(i),
            Kind::Stdout | Kind::Stderr => {}
        }
    }

    fn on_request(&mut self, i: usize, req: Request) {
        match req {
            Request::Hello => {
                for c in &mut self.conns {
                    if matches!(c.role, Role::Control { .. }) {
                        c.role = Role::Attach {
                            stdout: false,
                            stderr: false,
                        };
                        c.closed = true;
                    }
                }
                self.conns[i].role = Role::Control {
                    stdout: false,
                    stderr: false,
                };
                // A new daemon: the old control connection (if any) is gone for good.
                let state = Event::State {
                    pid: self.container.pid(),
                    started_at_ns: self.started_at_ns,
                    exited: self.exit.map(|e| e.0),
                };
                self.conns[i].send_event(&state);
            }
            Request::Attach { stdout, stderr, .. } => {
                self.conns[i].role = Role::Attach { stdout, stderr }
            }
            Request::Forward { stdout, stderr } => {
                if matches!(self.conns[i].role, Role::Control { .. }) {
                    self.conns[i].role = Role::Control { stdout, stderr };
                }
            }
            Request::Resize { height, width } => {
                if let Some(m) = &self.master {
                    super::resize(m.as_fd(), height, width);
                }
            }
            Request::Exec {
                exec_id,
                process,
                stdin,
            } => self.exec(i, exec_id, *process, stdin),
            Request::ExecResize {
                exec_id,
                height,
                width,
            } => {
                if let Some(m) = self
                    .execs
                    .iter()
                    .find(|e| e.exec_id == exec_id)
                    .and_then(|e| e.master.as_ref())
                {
                    super::resize(m.as_fd(), height, width);
                }
            }
        }
    }

    /// Input from connection `i`: to an exec'd process if `i` is its stream, else to the
    /// container.
    fn input(&mut self, i: usize, data: &[u8]) {
        if let Role::Exec { exec_id } = &self.conns[i].role {
            if let Some(fd) = self
                .execs
                .iter()
                .find(|e| &e.exec_id == exec_id)
                .and_then(|e| e.stdin.as_ref())
            {
                let _ = nix::unistd::write(fd, data);
            }
            return;
        }
        if self.stdin.is_some() {
            self.stdin_buf.extend_from_slice(data);
            self.flush_stdin();
        }
    }

    fn input_ended(&mut self, i: usize) {
        if let Role::Exec { exec_id } = &self.conns[i].role {
            let id = exec_id.clone();
            if let Some(e) = self
                .execs
                .iter_mut()
                .find(|e| e.exec_id == id && e.master.is_none())
            {
                e.stdin = None;
            }
            return;
        }
        if self.cfg.stdin_once && self.master.is_none() {
            self.close_stdin_when_flushed = true;
            self.flush_stdin();
        }
    }

    fn flush_stdin(&mut self) {
        if let Some(fd) = &self.stdin {
            while !self.stdin_buf.is_empty() {
                match nix::unistd::write(fd, &self.stdin_buf) {
                    Ok(n) => {
                        self.stdin_buf.drain(..n);
                    }
                    Err(Errno::EAGAIN) => return,
                    Err(Errno::EINTR) => {}
                    Err(_) => {
                        self.stdin_buf.clear();
                        self.stdin = None;
                        return;
                    }
                }
            }
        }
        if self.close_stdin_when_flushed && self.stdin_buf.is_empty() {
            self.stdin = None;
        }
    }

    fn exec(
        &mut self,
        i: usize,
        exec_id: String,
        process: oci_spec::runtime::Process,
        want_stdin: bool,
    ) {
        let tty = process.terminal().unwrap_or(false);
        let result = stdio::for_exec(tty, want_stdin).and_then(|io| {
            let mut req = ExecRequest::new(process);
            req.stdio = io.child_stdio;
            req.console_socket = io.console_theirs;
            let pid = self
                .container
                .exec(req)
                .map_err(|e| stdio::StdioError::Exec(Box::new(e)))?;
            Ok((pid, io.parent))
        });
        self.conns[i].role = Role::Exec {
            exec_id: exec_id.clone(),
        };
        match result {
            Ok((pid, parent)) => {
                let parent = match parent.finish() {
                    Ok(p) => p,
                    Err(e) => {
                        self.conns[i].send_event(&Event::ExecFailed {
                            exec_id,
                            message: e.to_string(),
                            code: 126,
                        });
                        return;
                    }
                };
                for (fd, stream) in parent.outputs {
                    self.sources.push(Source {
                        fd,
                        stream,
                        owner: Owner::Exec(exec_id.clone()),
                    });
                }
                self.execs.push(ExecProc {
                    exec_id: exec_id.clone(),
                    pid,
                    stdin: parent.stdin,
                    master: parent.master,
                    exit_code: None,
                });
                self.conns[i].send_event(&Event::ExecStarted {
                    exec_id,
                    pid: pid.as_raw(),
                });
            }
            Err(e) => {
                let message = e.to_string();
                let code = match &e {
                    stdio::StdioError::Exec(r) => super::exit_code_for(r),
                    stdio::StdioError::Sys(..) => 128,
                };
                self.conns[i].send_event(&Event::ExecFailed {
                    exec_id,
                    message,
                    code,
                });
            }
        }
    }

    /// Reaps children: init, exec'd processes.
    fn reap(&mut self) -> Result<(), Errno> {
        while self.signals.read_signal()?.is_some() {}
        loop {
            let (pid, code) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, 128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(()),
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
            };
            if pid.as_raw() == self.container.pid() && self.exit.is_none() {
                let oom_killed = self.container.state().cgroup.oom_kill_count().unwrap_or(0) > 0;
                let info = ExitInfo {
                    code,
                    oom_killed,
                    finished_at_ns: now_ns(),
                };
                self.exit = Some((info, Instant::now()));
            } else if let Some(e) = self.execs.iter_mut().find(|e| e.pid == pid) {
                e.exit_code = Some(code);
            }
        }
    }

    /// Tells exec streams whose process exited and whose output is drained.
    fn report_finished_execs(&mut self) {
        let mut done = Vec::new();
        for (idx, e) in self.execs.iter().enumerate() {
            let Some(code) = e.exit_code else { continue };
            if self
                .sources
                .iter()
                .any(|s| s.owner == Owner::Exec(e.exec_id.clone()))
            {
                continue;
            }
            done.push(idx);
            let ev = Event::ExecExited {
                exec_id: e.exec_id.clone(),
                code,
            };
            for c in &mut self.conns {
                let mine = c.role
                    == Role::Exec {
                        exec_id: e.exec_id.clone(),
                    };
                if mine || matches!(c.role, Role::Control { .. }) {
                    c.send_event(&ev);
                    if mine {
                        c.drain_blocking();
                        c.closed = true;
                    }
                }
            }
        }
        for idx in done.into_iter().rev() {
            self.execs.remove(idx);
        }
    }

    /// Records the exit, cleans up, tells everyone, and returns the monitor's exit code.
    fn finish(mut self, mut info: ExitInfo) -> i32 {
        if let Some(log) = &mut self.log {
            let _ = log.flush_partial();
        }
        if let Ok(n) = self.container.state().cgroup.oom_kill_count() {
            info.oom_killed |= n > 0;
        }
        let id = self.cfg.id.clone();
        if let Err(e) = self.container.delete(true) {
            tracing::warn!(container = %id, error = %berth_errdefs::chain(&e), "removing the container's runtime state");
        }
        if let Err(e) = super::write_exit(&self.cfg.exit_file, &info) {
            tracing::error!(container = %id, error = %e, "recording the exit status");
        }
        let _ = std::fs::remove_file(&self.cfg.socket);
        for c in &mut self.conns {
            c.send_event(&Event::Exited(info));
            c.drain_blocking();
        }
        0
    }
}
