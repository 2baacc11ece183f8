//! `berth daemon`: the order of start-up matters.
//!
//! 1. parse flags, set up logging;
//! 2. re-execute from the read-only copy of the binary (CVE-2019-5736), once;
//! 3. fork the zygote while the process is still single-threaded;
//! 4. take the pid file (after the fork, so only the daemon holds its lock);
//! 5. only then start the async runtime, open the engine and serve the API.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::daemon_args::DaemonArgs;

pub(crate) fn main(args: Vec<OsString>) -> i32 {
    let args = match DaemonArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 125 } else { 0 };
        }
    };
    init_logging(&args);
    match run(args) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("berth daemon: {e:#}");
            1
        }
    }
}

fn init_logging(args: &DaemonArgs) {
    let level = if args.debug {
        "debug"
    } else {
        args.log_level.as_str()
    };
    let level = if level == "fatal" { "error" } else { level };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Holds the pid file's lock for the daemon's lifetime: a second daemon on the same pid file
/// fails instead of fighting over the same state.
struct PidFile {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

fn take_pidfile(path: &Path) -> Result<PidFile> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .read(true)
        .open(path)
        .with_context(|| format!("opening pid file {}", path.display()))?;
    let mut lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .with_context(|| {
            format!(
                "pid file {} is locked: is another berth daemon running with it?",
                path.display()
            )
        })?;
    lock.set_len(0)?;
    write!(lock, "{}", std::process::id())?;
    lock.sync_all()?;
    let _ = lock.as_fd();
    Ok(PidFile { _lock: lock })
}

fn run(args: DaemonArgs) -> Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!("berth daemon needs root (it creates namespaces, cgroups, mounts and bridges)");
    }
    berth_runtime::exe_guard::ensure_protected(Path::new(berth_runtime::exe_guard::DEFAULT_STORE))
        .context("running from a read-only copy of the berth binary")?;
    match berth_runtime::cgroups::Hierarchy::detect()
        .and_then(|h| berth_runtime::cgroups::favor_dynamic_mods(&h))
    {
        Ok(true) => tracing::info!(
            "cgroup2 remounted with favordynmods: moving a process into a cgroup no longer waits for an RCU grace period"
        ),
        Ok(false) => {}
        Err(e) => tracing::warn!("could not set favordynmods on the cgroup2 hierarchy: {e}"),
    }
    let zygote = berth_engine::monitor::zygote::Zygote::start().context("starting the zygote")?;
    // After the fork: the zygote and the monitors it forks must not inherit the pid file's
    // lock, or a killed daemon could not be restarted while containers run.
    let _pid = take_pidfile(&args.pidfile)?;
    let cfg = crate::daemon_config::engine_config(&args)?;
    let listeners = crate::daemon_config::listeners(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("berthd")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let engine = berth_engine::Engine::open(cfg, zygote)
            .await
            .context("opening the engine")?;
        tracing::info!(pid = std::process::id(), "berth daemon ready");
        berth_api::serve(listeners, engine, shutdown_signal())
            .await
            .context("serving the API")
    })
}

/// SIGINT/SIGTERM end the daemon; containers keep running (live restore).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down; containers keep running");
}
