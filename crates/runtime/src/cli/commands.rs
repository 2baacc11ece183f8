//! One function per runc command.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::signal::Signal;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use super::args::{
    Command, CreateArgs, ExecArgs, KillArgs, ListArgs, PsArgs, RunArgs, RuntimeCli, SpecArgs,
    UpdateArgs,
};
use super::{CliError, foreground, processes};
use crate::container::{CreateRequest, ExecRequest, Runtime, StartMode};
use crate::error::RuntimeError;
use crate::exe_guard;

type Result<T> = std::result::Result<T, CliError>;

pub(crate) fn dispatch(cli: &RuntimeCli) -> Result<i32> {
    let rt = Runtime::new(&cli.root);
    match &cli.command {
        Command::Spec(a) => spec(a).map(|()| 0),
        Command::Create(a) => create(&rt, a, StartMode::OnStart).map(|_| 0),
        Command::Start(a) => rt.load(&a.id)?.start().map(|()| 0).map_err(Into::into),
        Command::Run(a) => run(&rt, a),
        Command::State(a) => print_json(&rt.load(&a.id)?.oci_state()).map(|()| 0),
        Command::Kill(a) => kill(&rt, a).map(|()| 0),
        Command::Delete(a) => delete(&rt, &a.id, a.force).map(|()| 0),
        Command::Exec(a) => exec(&rt, a),
        Command::Ps(a) => ps(&rt, a).map(|()| 0),
        Command::List(a) => list(&rt, a).map(|()| 0),
        Command::Pause(a) => rt.load(&a.id)?.pause().map(|()| 0).map_err(Into::into),
        Command::Resume(a) => rt.load(&a.id)?.resume().map(|()| 0).map_err(Into::into),
        Command::Update(a) => update(&rt, a).map(|()| 0),
        Command::Features => print_json(&crate::features::features()).map(|()| 0),
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|source| CliError::Io {
        what: "writing to",
        path: "stdout".into(),
        source,
    })
}

fn spec(a: &SpecArgs) -> Result<()> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        return Err(CliError::Usage(format!(
            "{} exists; remove it first",
            path.display()
        )));
    }
    let spec = crate::spec::default_spec(&crate::spec::SpecOptions {
        rootless: a.rootless,
        ..Default::default()
    });
    let json = serde_json::to_vec_pretty(&spec).map_err(|e| CliError::Usage(e.to_string()))?;
    crate::fsutil::atomic_write(&path, &json).map_err(|source| CliError::Io {
        what: "writing",
        path,
        source,
    })
}

fn connect_console(path: &Path) -> Result<OwnedFd> {
    let stream = UnixStream::connect(path).map_err(|source| CliError::Io {
        what: "connecting to console socket",
        path: path.into(),
        source,
    })?;
    Ok(OwnedFd::from(stream))
}

fn create(rt: &Runtime, a: &CreateArgs, mode: StartMode) -> Result<crate::Container> {
    exe_guard::ensure_protected(Path::new(exe_guard::DEFAULT_STORE))?;
    let mut req = CreateRequest::new(&a.id, &a.bundle);
    let spec = crate::container::load_spec(
        &std::path::absolute(&a.bundle).unwrap_or_else(|_| a.bundle.clone()),
    )?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    req.spec = Some(spec);
    req.pid_file = a.pid_file.clone();
    req.no_pivot = a.no_pivot;
    req.preserve_fds = a.preserve_fds;
    req.start = mode;
    match (&a.console_socket, terminal) {
        (Some(path), true) => req.console_socket = Some(connect_console(path)?),
        (None, true) if mode == StartMode::OnStart => {
            return Err(CliError::Usage(
                "cannot allocate a tty without --console-socket when the runtime detaches".into(),
            ));
        }
        (Some(_), false) => {
            return Err(CliError::Usage(
                "--console-socket given but the process has no terminal".into(),
            ));
        }
        _ => {}
    }
    Ok(rt.create(req)?)
}

fn run(rt: &Runtime, a: &RunArgs) -> Result<i32> {
    if a.detach {
        create(rt, &a.create, StartMode::Immediately)?;
        return Ok(0);
    }
    let signals = foreground::block_signals().map_err(|source| CliError::Sys {
        what: "blocking signals".into(),
        source,
    })?;
    let spec = crate::container::load_spec(
        &std::path::absolute(&a.create.bundle).unwrap_or_else(|_| a.create.bundle.clone()),
    )?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let (console, ours) = local_console(terminal && a.create.console_socket.is_none())?;
    exe_guard::ensure_protected(Path::new(exe_guard::DEFAULT_STORE))?;
    let mut req = CreateRequest::new(&a.create.id, &a.create.bundle);
    req.spec = Some(spec);
    req.pid_file = a.create.pid_file.clone();
    req.no_pivot = a.create.no_pivot;
    req.preserve_fds = a.create.preserve_fds;
    req.start = StartMode::Immediately;
    req.console_socket = match &a.create.console_socket {
        Some(path) => Some(connect_console(path)?),
        None => console,
    };
    let container = rt.create(req)?;
    let pty = receive_pty(ours)?;
    let code = foreground::supervise(nix::unistd::Pid::from_raw(container.pid()), &signals, pty)
        .map_err(|source| CliError::Sys {
            what: "waiting for the container".into(),
            source,
        })?;
    if !a.keep {
        container.delete(true)?;
    }
    Ok(code)
}

/// A socketpair standing in for a console socket, when the runtime relays the terminal.
fn local_console(needed: bool) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    if !needed {
        return Ok((None, None));
    }
    let (theirs, ours) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|source| CliError::Sys {
        what: "creating a console socket pair".into(),
        source,
    })?;
    Ok((Some(theirs), Some(ours)))
}

fn receive_pty(ours: Option<OwnedFd>) -> Result<Option<OwnedFd>> {
    let Some(sock) = ours else { return Ok(None) };
    let (fd, _name) = crate::sys::fd::recv_fd(sock.as_fd()).map_err(|source| CliError::Sys {
        what: "receiving the pty master".into(),
        source,
    })?;
    Ok(Some(fd))
}

fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| CliError::Signal(s.to_owned()));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse().map_err(|_| CliError::Signal(s.to_owned()))
}

fn kill(rt: &Runtime, a: &KillArgs) -> Result<()> {
    let sig = parse_signal(&a.signal)?;
    Ok(rt.load(&a.id)?.kill(sig, a.all)?)
}

fn delete(rt: &Runtime, id: &str, force: bool) -> Result<()> {
    match rt.load(id) {
        Ok(c) => Ok(c.delete(force)?),
        // A create that died before writing its state leaves a bare directory: --force
        // removes it, as runc does.
        Err(RuntimeError::NotFound(_)) if force => {
            crate::container::validate_id(id)?;
            let _ = std::fs::remove_dir_all(rt.root().join(id));
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn exec(rt: &Runtime, a: &ExecArgs) -> Result<i32> {
    let container = rt.load(&a.id)?;
    let base = container
        .state()
        .config
        .process()
        .clone()
        .unwrap_or_default();
    let process = processes::exec_process(&base, a)?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && a.detach && a.console_socket.is_none() {
        return Err(CliError::Usage(
            "cannot allocate a tty without --console-socket when the runtime detaches".into(),
        ));
    }
    let signals = if a.detach {
        None
    } else {
        Some(foreground::block_signals().map_err(|source| CliError::Sys {
            what: "blocking signals".into(),
            source,
        })?)
    };
    let (console, ours) = local_console(terminal && a.console_socket.is_none())?;
    exe_guard::ensure_protected(Path::new(exe_guard::DEFAULT_STORE))?;
    let mut req = ExecRequest::new(process);
    req.pid_file = a.pid_file.clone();
    req.preserve_fds = a.preserve_fds;
    req.console_socket = match (&a.console_socket, terminal) {
        (Some(path), true) => Some(connect_console(path)?),
        _ => console,
    };
    let pid = container.exec(req)?;
    let Some(signals) = signals else { return Ok(0) };
    let pty = receive_pty(ours)?;
    foreground::supervise(pid, &signals, pty).map_err(|source| CliError::Sys {
        what: "waiting for the process".into(),
        source,
    })
}

fn ps(rt: &Runtime, a: &PsArgs) -> Result<()> {
    let pids = rt.load(&a.id)?.processes()?;
    if a.format == "json" {
        return print_json(&pids);
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_owned()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|source| CliError::Io {
            what: "running",
            path: "ps".into(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| CliError::Usage("ps output has no PID column".into()))?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            let _ = writeln!(stdout, "{line}");
        }
    }
    Ok(())
}

fn list(rt: &Runtime, a: &ListArgs) -> Result<()> {
    let containers = rt.list()?;
    if a.quiet {
        let mut out = std::io::stdout().lock();
        for c in &containers {
            let _ = writeln!(out, "{}", c.id());
        }
        return Ok(());
    }
    let states: Vec<_> = containers.iter().map(crate::Container::oci_state).collect();
    if a.format == "json" {
        return print_json(&states);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<20} {:<8} {:<10} {:<40} {:<32} OWNER",
        "ID", "PID", "STATUS", "BUNDLE", "CREATED"
    );
    for s in states {
        let _ = writeln!(
            out,
            "{:<20} {:<8} {:<10} {:<40} {:<32} root",
            s.id,
            s.pid,
            s.status.as_str(),
            s.bundle.display(),
            s.created.to_rfc3339()
        );
    }
    Ok(())
}

fn update(rt: &Runtime, a: &UpdateArgs) -> Result<()> {
    let mut container = rt.load(&a.id)?;
    let current = container
        .state()
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let resources = super::update::resources(current, a)?;
    Ok(container.update(&resources)?)
}
