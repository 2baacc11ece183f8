//! The per-container monitor (berth's conmon / containerd-shim) and the zygote that forks it.
//!
//! See ARCHITECTURE.md, "Process model". The monitor is forked from the zygote, so it shares
//! the zygote's pages and costs only what it touches; it is single-threaded and drives
//! everything from one poll(2) loop ([`run`]).

mod conn;
pub mod logfile;
pub mod protocol;
mod run;
mod stdio;
pub mod zygote;

use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use berth_runtime::{Container, CreateRequest, Runtime, StartMode};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use serde::{Deserialize, Serialize};

use conn::{Conn, Role};
use logfile::{JsonFileWriter, LogConfig, Stream};
use protocol::{Event, ExitInfo};

/// Everything a monitor needs, sent through the zygote as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorConfig {
    pub id: String,
    /// OCI bundle: `config.json` and the rootfs mount point.
    pub bundle: PathBuf,
    pub runtime_root: PathBuf,
    /// Where the monitor listens (`<exec-root>/m/<id[..16]>.sock`).
    pub socket: PathBuf,
    /// Where the exit status is recorded.
    pub exit_file: PathBuf,
    /// json-file log; `None` for the `none` driver.
    pub log: Option<LogConfig>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    /// Output the control connection carries from the first byte (for clients that attached
    /// before start, as `docker run` does).
    pub attach_stdout: bool,
    pub attach_stderr: bool,
}

/// Unix time in nanoseconds.
pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

/// Docker's exit code for a process the runtime could not start: 127 or 126 when the
/// program itself could not run (the runtime says which, as data), else 128.
pub fn exit_code_for(e: &berth_runtime::RuntimeError) -> i32 {
    e.program_exit_code().unwrap_or(128)
}

pub(crate) fn write_exit(path: &Path, info: &ExitInfo) -> std::io::Result<()> {
    let json = berth_fsutil::record::encode(info).map_err(std::io::Error::other)?;
    berth_runtime::fsutil::replace(path, &json)
}

impl berth_fsutil::record::Record for ExitInfo {
    const KIND: &'static str = "exit status";
    const SCHEMA_VERSION: u32 = 1;
}

/// Reads a recorded exit status. One that is missing or does not parse is no exit status
/// (boot-scoped, the monitor's own: the caller reports the exit as lost).
pub fn read_exit(path: &Path) -> Option<ExitInfo> {
    match berth_fsutil::record::load::<ExitInfo>(path) {
        Ok(berth_fsutil::record::Loaded::Record(i)) => Some(i),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %berth_errdefs::chain(&e), "reading an exit status");
            None
        }
    }
}

fn resize(master: BorrowedFd<'_>, height: u16, width: u16) {
    let size = nix::pty::Winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let _ = berth_runtime::sys::tty::set_window_size(master, &size);
}

/// What `start` hands to the event loop.
struct Started {
    cfg: MonitorConfig,
    container: Container,
    started_at_ns: i64,
    signals: SignalFd,
    listener: UnixListener,
    control: Conn,
    outputs: Vec<(OwnedFd, Stream)>,
    stdin: Option<OwnedFd>,
    master: Option<OwnedFd>,
    log: Option<JsonFileWriter>,
}

/// The monitor process's body: creates the container and serves it until it exits. Called in
/// the freshly forked monitor; returns the process exit code.
pub fn main(cfg: MonitorConfig, control: OwnedFd) -> i32 {
    let _ = nix::sys::prctl::set_name(c"berth-mon");
    let role = Role::Control {
        stdout: cfg.attach_stdout,
        stderr: cfg.attach_stderr,
    };
    let Ok(control) = Conn::new(UnixStream::from(control), role) else {
        return 1;
    };
    match start(cfg, control) {
        Ok(started) => run::Monitor::new(started).serve(),
        Err(mut control) => {
            control.drain_blocking();
            1
        }
    }
}

/// Reports a start failure that is not the user program's (exit code 128).
fn fail(control: Conn, message: String) -> Conn {
    fail_with(control, message, 128)
}

fn fail_with(mut control: Conn, message: String, code: i32) -> Conn {
    control.send_event(&Event::Failed { message, code });
    control
}

fn start(cfg: MonitorConfig, control: Conn) -> Result<Started, Conn> {
    // SIGCHLD arrives through a signalfd: block it before init exists so no exit is missed.
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None) {
        return Err(fail(control, format!("blocking SIGCHLD: {e}")));
    }
    let signals = match SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) {
        Ok(s) => s,
        Err(e) => return Err(fail(control, format!("creating a signalfd: {e}"))),
    };
    let log = match cfg.log.clone().map(JsonFileWriter::open).transpose() {
        Ok(l) => l,
        Err(e) => return Err(fail(control, format!("opening the container log: {e}"))),
    };
    let io = match stdio::for_container(cfg.tty, cfg.open_stdin) {
        Ok(io) => io,
        Err(e) => return Err(fail(control, e.to_string())),
    };
    // The socket first: once the container exists, nothing may fail without killing it.
    let _ = std::fs::remove_file(&cfg.socket);
    if let Some(dir) = cfg.socket.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let listener =
        match UnixListener::bind(&cfg.socket).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
            Ok(l) => l,
            Err(e) => {
                return Err(fail(
                    control,
                    format!("listening on {}: {e}", cfg.socket.display()),
                ));
            }
        };
    let mut req = CreateRequest::new(&cfg.id, &cfg.bundle);
    req.start = StartMode::Immediately;
    req.stdio = io.child_stdio;
    req.console_socket = io.console_theirs;
    let container = match Runtime::new(&cfg.runtime_root).create(req) {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&cfg.socket);
            return Err(fail_with(
                control,
                berth_errdefs::chain(&e),
                exit_code_for(&e),
            ));
        }
    };
    let started_at_ns = now_ns();
    let parent = match io.parent.finish() {
        Ok(p) => p,
        Err(e) => {
            let _ = container.kill(Signal::SIGKILL, true);
            let _ = container.delete(true);
            let _ = std::fs::remove_file(&cfg.socket);
            return Err(fail(control, e.to_string()));
        }
    };
    let mut control = control;
    control.send_event(&Event::Started {
        pid: container.pid(),
        started_at_ns,
    });
    Ok(Started {
        cfg,
        container,
        started_at_ns,
        signals,
        listener,
        control,
        outputs: parent.outputs,
        stdin: parent.stdin,
        master: parent.master,
        log,
    })
}
