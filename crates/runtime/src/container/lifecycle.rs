//! start, kill, delete, pause, resume, update, ps: verbs on an existing container.

use std::io::Read;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::create::cgroup_err;
use super::state::hook_state_json;
use super::{Container, EXEC_FIFO, STATE_FILE, Status};
use crate::error::{Result, RuntimeError};
use crate::fsutil;
use crate::hooks::{self, HookKind};

/// How long delete waits for a killed init to disappear.
const EXIT_WAIT: Duration = Duration::from_secs(10);

impl Container {
    /// Releases a created container's init to exec the user's program.
    pub fn start(&self) -> Result<()> {
        let status = self.status();
        if status != Status::Created {
            return Err(self.bad_state(status, "start"));
        }
        let fifo_path = self.dir.join(EXEC_FIFO);
        // Non-blocking open: it succeeds at once and unblocks init's open for writing.
        let fifo = nix::fcntl::open(
            &fifo_path,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(self.sys_err("opening the exec fifo"))?;
        let mut file = std::fs::File::from(fifo);
        loop {
            let mut pfd = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
            match poll(&mut pfd, PollTimeout::from(100u16)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => {}
                Ok(_) => {
                    let mut byte = [0u8; 1];
                    match file.read(&mut byte) {
                        Ok(1) => break,
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => {
                            return Err(RuntimeError::Io {
                                id: self.id().into(),
                                what: "reading the exec fifo".into(),
                                source: e,
                            });
                        }
                    }
                }
                Err(e) => return Err(self.sys_err("waiting on the exec fifo")(e)),
            }
            if !self.state.init_alive() {
                return Err(RuntimeError::Init(crate::process::error::InitError::msg(
                    format!("starting container {}", self.id()),
                    "init exited before it was started",
                )));
            }
        }
        let _ = std::fs::remove_file(&fifo_path);
        self.run_poststart_hooks();
        Ok(())
    }

    pub(crate) fn run_poststart_hooks(&self) {
        let state = hook_state_json(
            self.id(),
            "running",
            self.pid(),
            &self.state.bundle,
            &self.state.config,
        );
        if let Err(f) = hooks::run(hooks::of(&self.state.config, HookKind::Poststart), &state) {
            tracing::warn!(container = self.id(), hook = f.index, path = %f.path, "poststart hook failed: {}", f.detail);
        }
    }

    /// Sends `signal` to init, or with `all` to every process of the container.
    pub fn kill(&self, signal: Signal, all: bool) -> Result<()> {
        let status = self.status();
        if status == Status::Stopped && !all {
            return Err(self.bad_state(status, "signal"));
        }
        if all {
            self.state
                .cgroup
                .kill_all(signal)
                .map_err(|e| cgroup_err(self.id(), e))?;
        } else {
            kill(Pid::from_raw(self.pid()), signal)
                .map_err(self.sys_err(format!("sending {signal}")))?;
        }
        // A frozen process only acts on SIGKILL once thawed.
        if status == Status::Paused && signal == Signal::SIGKILL {
            self.state
                .cgroup
                .thaw()
                .map_err(|e| cgroup_err(self.id(), e))?;
        }
        Ok(())
    }

    /// Deletes the container. A created or stopped container is always deletable; a running
    /// or paused one only with `force` (its processes are killed first).
    pub fn delete(self, force: bool) -> Result<()> {
        let status = self.status();
        match status {
            Status::Stopped => {}
            Status::Created | Status::Creating => self.kill_and_wait()?,
            Status::Running | Status::Paused if force => self.kill_and_wait()?,
            Status::Running | Status::Paused => return Err(self.bad_state(status, "delete")),
        }
        self.destroy_cgroup()?;
        let state = hook_state_json(
            self.id(),
            "stopped",
            0,
            &self.state.bundle,
            &self.state.config,
        );
        if let Err(f) = hooks::run(hooks::of(&self.state.config, HookKind::Poststop), &state) {
            tracing::warn!(container = self.id(), hook = f.index, path = %f.path, "poststop hook failed: {}", f.detail);
        }
        std::fs::remove_dir_all(&self.dir).map_err(|e| RuntimeError::Io {
            id: self.id().into(),
            what: format!("removing {}", self.dir.display()),
            source: e,
        })
    }

    fn kill_and_wait(&self) -> Result<()> {
        let cg = &self.state.cgroup;
        cg.kill_all(Signal::SIGKILL)
            .map_err(|e| cgroup_err(self.id(), e))?;
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGKILL);
        let _ = cg.thaw();
        let deadline = Instant::now() + EXIT_WAIT;
        // init may not be our child (the shim reaps it): poll until it is gone or a zombie.
        while self.state.init_alive() {
            if Instant::now() > deadline {
                return Err(RuntimeError::Sys {
                    id: self.id().into(),
                    what: "waiting for init to exit after SIGKILL".into(),
                    source: nix::errno::Errno::ETIMEDOUT,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Removes the cgroups, killing stragglers (processes that escaped init's death) first.
    fn destroy_cgroup(&self) -> Result<()> {
        let cg = &self.state.cgroup;
        if cg.pids().is_ok_and(|p| !p.is_empty()) {
            cg.kill_all(Signal::SIGKILL)
                .map_err(|e| cgroup_err(self.id(), e))?;
            let _ = cg.thaw();
        }
        cg.destroy().map_err(|e| cgroup_err(self.id(), e))
    }

    pub fn pause(&self) -> Result<()> {
        match self.status() {
            Status::Running | Status::Created => self
                .state
                .cgroup
                .freeze()
                .map_err(|e| cgroup_err(self.id(), e)),
            s => Err(self.bad_state(s, "pause")),
        }
    }

    pub fn resume(&self) -> Result<()> {
        match self.status() {
            Status::Paused => self
                .state
                .cgroup
                .thaw()
                .map_err(|e| cgroup_err(self.id(), e)),
            s => Err(self.bad_state(s, "resume")),
        }
    }

    /// Changes the container's resource limits live and records them in its state.
    pub fn update(&mut self, resources: &LinuxResources) -> Result<()> {
        let status = self.status();
        if status == Status::Stopped {
            return Err(self.bad_state(status, "update"));
        }
        self.state
            .cgroup
            .apply(resources)
            .map_err(|e| cgroup_err(self.id(), e))?;
        if let Some(linux) = self.state.config.linux_mut() {
            linux.set_resources(Some(resources.clone()));
        }
        self.save()
    }

    /// Host pids of every process in the container.
    pub fn processes(&self) -> Result<Vec<i32>> {
        self.state
            .cgroup
            .pids()
            .map_err(|e| cgroup_err(self.id(), e))
    }

    /// Resource usage read from the container's cgroups.
    pub fn stats(&self) -> Result<crate::cgroups::Stats> {
        self.state
            .cgroup
            .stats()
            .map_err(|e| cgroup_err(self.id(), e))
    }

    fn save(&self) -> Result<()> {
        let path = self.dir.join(STATE_FILE);
        let json = self.state.encode(&path)?;
        fsutil::replace(&path, &json).map_err(|source| RuntimeError::State {
            id: self.id().into(),
            path,
            source,
        })
    }
}
