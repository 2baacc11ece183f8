//! `start`: root filesystem, network, volumes, /etc files and the OCI spec are prepared (the
//! independent ones concurrently), then the zygote forks the container's monitor, which
//! creates the container. Any failure undoes what was prepared.

use std::sync::Arc;

use crate::container::record::ContainerRecord;
use crate::container::state::{Action, Status, transition};
use crate::engine::{Ctr, Engine};
use crate::error::{EngineError, Result};
use crate::live;
use crate::monitor::MonitorConfig;
use crate::monitor::logfile::LogConfig;
use crate::monitor::protocol::Event;
use crate::ocispec::{self, SpecInputs};
use crate::{netsetup, rootfs, volumes};

impl Engine {
    /// Starts a created or stopped container.
    pub async fn start(&self, key: &str) -> Result<()> {
        let ctr = self.lookup(key)?;
        let result = {
            let _guard = ctr.lifecycle.lock().await;
            ctr.update(|r| r.state.manually_stopped = false);
            self.start_locked(&ctr).await
        };
        let rec = ctr.snapshot();
        if result.is_err()
            && rec.host_config.auto_remove.unwrap_or(false)
            && !rec.is_running()
            && rec.state.status != Status::Restarting
        {
            // `--rm`: a container that could not start is removed, as Docker does (the CLI
            // waits for the removal).
            let opts = crate::lifecycle::remove::RemoveOptions {
                force: true,
                volumes: true,
                link: false,
            };
            if let Err(e) = self.remove(&rec.id, opts).await {
                tracing::warn!(container = %rec.id, "removing after a failed start: {e}");
            }
        }
        result
    }

    /// Starts `ctr`; the caller holds its lifecycle lock.
    pub(crate) async fn start_locked(&self, ctr: &Arc<Ctr>) -> Result<()> {
        let rec = ctr.snapshot();
        if rec.state.status == Status::Paused {
            return Err(EngineError::Conflict(
                "cannot start a paused container, try unpause instead".into(),
            ));
        }
        transition(rec.state.status, Action::Start).map_err(|source| EngineError::State {
            id: rec.id.clone(),
            source,
        })?;
        super::refuse::at_start(&rec.host_config)?;
        if rec.host_config.runtime.as_deref().is_none_or(str::is_empty) {
            // dockerd records the runtime a container runs with when it first starts.
            ctr.update(|r| r.host_config.runtime = Some(super::refuse::DEFAULT_RUNTIME.into()));
        }
        let run_dir = self.inner.cfg.run_dir(&rec.id);
        std::fs::create_dir_all(&run_dir)
            .map_err(|e| EngineError::internal(format!("creating {}", run_dir.display()), e))?;
        let prepared = match self.prepare(&rec).await {
            Ok(p) => p,
            Err(e) => {
                self.teardown(&rec).await;
                self.record_start_failure(ctr, &e.to_string(), 128);
                return Err(e);
            }
        };
        ctr.update(|r| {
            r.net = prepared.net.clone();
            r.mounts = prepared.mounts.clone();
        });
        self.spawn_monitor(ctr, &rec).await
    }

    async fn spawn_monitor(&self, ctr: &Arc<Ctr>, rec: &ContainerRecord) -> Result<()> {
        let mcfg = self.monitor_config(ctr, rec);
        let spawned = self
            .inner
            .zygote
            .spawn(&mcfg)
            .map_err(|e| EngineError::from_lib(&e));
        let (monitor_pid, fd) = match spawned {
            Ok(v) => v,
            Err(e) => {
                self.teardown(rec).await;
                return Err(e);
            }
        };
        let stream = live::control_stream(fd)
            .map_err(|e| EngineError::internal("adopting the monitor connection", e))?;
        let (handle, first) = live::adopt(self, ctr, monitor_pid.as_raw(), stream);
        *ctr.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handle);
        match first.await {
            Ok(Event::Started { pid, started_at_ns }) => {
                let rec = ctr.update(|r| {
                    r.state.status = Status::Running;
                    r.state.pid = pid;
                    r.state.monitor_pid = monitor_pid.as_raw();
                    r.state.started_at =
                        Some(chrono::DateTime::from_timestamp_nanos(started_at_ns));
                    r.state.error.clear();
                    r.state.exit_code = 0;
                    r.state.oom_killed = false;
                    r.state.health = crate::health::initial_state(r);
                    r.clone()
                });
                ctr.persist(&self.inner.cfg.containers_dir())?;
                self.container_event(&rec, "start", &[]);
                crate::health::spawn_checks(self, ctr);
                Ok(())
            }
            Ok(Event::Failed { message, code }) => {
                *ctr.live
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                self.teardown(rec).await;
                self.record_start_failure(ctr, &message, code);
                Err(EngineError::StartFailed { message, code })
            }
            other => {
                *ctr.live
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                self.teardown(rec).await;
                let message = format!(
                    "the monitor of container {} did not report a start ({other:?})",
                    rec.id
                );
                self.record_start_failure(ctr, &message, 128);
                Err(EngineError::StartFailed { message, code: 128 })
            }
        }
    }

    fn record_start_failure(&self, ctr: &Ctr, message: &str, code: i32) {
        let rec = ctr.update(|r| {
            r.state.error = message.to_owned();
            r.state.exit_code = code;
            r.clone()
        });
        if let Err(e) = ctr.persist(&self.inner.cfg.containers_dir()) {
            tracing::warn!(container = %rec.id, error = %e, "recording a start failure");
        }
    }

    fn monitor_config(&self, ctr: &Ctr, rec: &ContainerRecord) -> MonitorConfig {
        let run_dir = self.inner.cfg.run_dir(&rec.id);
        let (attach_stdout, attach_stderr) = ctr.attachers.wants();
        MonitorConfig {
            id: rec.id.clone(),
            bundle: run_dir.clone(),
            runtime_root: self.inner.cfg.runtime_root(),
            socket: self.inner.cfg.monitor_socket(&rec.id),
            exit_file: run_dir.join("exit.json"),
            log: log_config(rec),
            tty: rec.config.tty.unwrap_or(false),
            open_stdin: rec.config.open_stdin.unwrap_or(false),
            stdin_once: rec.config.stdin_once.unwrap_or(false),
            attach_stdout,
            attach_stderr,
        }
    }

    /// Everything before the process: rootfs and network concurrently, then volumes, /etc
    /// files and the spec.
    async fn prepare(&self, rec: &ContainerRecord) -> Result<Prepared> {
        let (rootfs, net) = tokio::join!(rootfs::mount(self, rec), netsetup::setup(self, rec));
        let rootfs = rootfs?;
        let net = net?;
        let (extra_mounts, mounts) = volumes_for(self, rec, &rootfs)?;
        let etc_files = netsetup::write_etc_files(rec, &net)?;
        let mut config = rec.config.clone();
        let link_env = crate::links::env(self, rec)?;
        if !link_env.is_empty() {
            let mut env = link_env;
            env.extend(config.env.take().unwrap_or_default());
            config.env = Some(env);
        }
        let inputs = SpecInputs {
            id: rec.id.clone(),
            config,
            host: rec.host_config.clone(),
            rootfs: rootfs.clone(),
            net: net.ns.clone(),
            pid: self.ns_mode(rec.host_config.pid_mode.as_deref(), "pid")?,
            ipc: self.ns_mode(rec.host_config.ipc_mode.as_deref(), "ipc")?,
            uts: self.ns_mode(rec.host_config.uts_mode.as_deref(), "uts")?,
            etc_files,
            extra_mounts,
            // Only a container run with --init gets docker-init: its bind mount (and the
            // mount point it leaves in the writable layer) are not every container's.
            init_path: if rec.host_config.init.unwrap_or(false) {
                self.inner.cfg.init_path.clone().or_else(default_init_path)
            } else {
                None
            },
        };
        let spec = ocispec::build(&inputs).map_err(|e| EngineError::from_lib(&e))?;
        let json = serde_json::to_vec(&spec)
            .map_err(|e| EngineError::internal("encoding the OCI spec", e))?;
        let path = self.inner.cfg.run_dir(&rec.id).join("config.json");
        std::fs::write(&path, json)
            .map_err(|e| EngineError::internal(format!("writing {}", path.display()), e))?;
        Ok(Prepared {
            net: net.record,
            mounts,
        })
    }

    /// `--pid/--ipc/--uts`: "" (private), "host", "container:<name|id>".
    fn ns_mode(&self, mode: Option<&str>, kind: &str) -> Result<ocispec::NsMode> {
        match mode.unwrap_or("") {
            "" | "private" | "shareable" => Ok(ocispec::NsMode::Private),
            "host" => Ok(ocispec::NsMode::Host),
            other => match other.strip_prefix("container:") {
                Some(target) => {
                    let t = self.lookup(target)?.snapshot();
                    if !t.is_running() {
                        return Err(EngineError::Conflict(format!(
                            "cannot join {kind} namespace of a non running container: {}",
                            t.id
                        )));
                    }
                    Ok(ocispec::NsMode::Path(
                        format!("/proc/{}/ns/{kind}", t.state.pid).into(),
                    ))
                }
                None => Err(EngineError::InvalidArgument(format!(
                    "invalid {kind} mode: {other}"
                ))),
            },
        }
    }

    /// Undoes `prepare` (after a failed start, or when the container exited).
    pub(crate) async fn teardown(&self, rec: &ContainerRecord) {
        self.teardown_id(&rec.id).await;
    }

    /// [`Self::teardown`] by id: also for state whose record is gone or never said it started.
    pub(crate) async fn teardown_id(&self, id: &str) {
        netsetup::teardown(self, id).await;
        rootfs::unmount(self, id);
        rootfs::remove_run_dir(&self.inner.cfg.run_dir(id));
    }
}

/// What start records on the container once prepared.
struct Prepared {
    net: crate::container::record::NetRecord,
    mounts: Vec<crate::container::record::MountRecord>,
}

/// The json-file log configuration (`--log-driver`, `--log-opt max-size/max-file`).
fn log_config(rec: &ContainerRecord) -> Option<LogConfig> {
    let lc = rec.host_config.log_config.clone().unwrap_or_default();
    if let Some("none") = lc.typ.as_deref() {
        return None;
    }
    let opts = lc.config.unwrap_or_default();
    let max_size = opts
        .get("max-size")
        .and_then(|s| crate::units::parse_size(s).ok());
    let max_file = opts
        .get("max-file")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    rec.log_path.clone().map(|path| LogConfig {
        path,
        max_size,
        max_file,
    })
}

fn default_init_path() -> Option<std::path::PathBuf> {
    [
        "/usr/bin/docker-init",
        "/usr/libexec/docker/docker-init",
        "/usr/bin/tini-static",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists())
}

/// Volumes and binds → spec mounts and inspect records; named and anonymous volumes are
/// populated from the image on first use.
fn volumes_for(
    engine: &Engine,
    rec: &ContainerRecord,
    rootfs: &std::path::Path,
) -> Result<(
    Vec<ocispec::ExtraMount>,
    Vec<crate::container::record::MountRecord>,
)> {
    let mut extra = Vec::new();
    let run_dir = engine.inner.cfg.run_dir(&rec.id);
    for (i, m) in rec.mounts.iter().enumerate() {
        let source = match &m.subpath {
            Some(sub) => rootfs::stage_subpath(
                &m.source,
                sub,
                &run_dir.join("subpaths").join(i.to_string()),
            )?,
            None => m.source.clone(),
        };
        if m.kind == "volume" && m.subpath.is_none() {
            let nocopy = m.mode.contains("nocopy");
            if !nocopy {
                volumes::populate(rootfs, &m.destination, &m.source).map_err(|e| {
                    EngineError::internal(
                        format!(
                            "populating volume {} at {}",
                            m.name.clone().unwrap_or_default(),
                            m.destination
                        ),
                        e,
                    )
                })?;
            }
        }
        if m.kind == "bind" && !m.source.exists() {
            std::fs::create_dir_all(&m.source).map_err(|e| {
                EngineError::internal(format!("creating bind source {}", m.source.display()), e)
            })?;
        }
        extra.push(ocispec::ExtraMount {
            destination: m.destination.clone(),
            source,
            readonly: !m.rw,
            propagation: Some(m.propagation.clone()).filter(|p| !p.is_empty()),
            tmpfs: m.tmpfs_options.clone().filter(|_| m.kind == "tmpfs"),
        });
    }
    Ok((extra, rec.mounts.clone()))
}
