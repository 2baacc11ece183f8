//! Opening the engine: load the stores, and reconcile every container record with reality.
//! Containers kept running while the daemon was down are re-adopted through their monitor's
//! socket; exits that happened meanwhile are read from `exit.json` and processed; after a
//! reboot (a new boot id) everything under the exec-root is stale.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use crate::config::EngineConfig;
use crate::container::state::Status;
use crate::engine::{Ctr, Engine, Inner};
use crate::error::{EngineError, Result};
use crate::events::EventBus;
use crate::monitor::protocol::{self, Event, ExitInfo, Request};
use crate::monitor::zygote::Zygote;
use crate::volumes::VolumeStore;
use crate::{live, store};

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// After a reboot nothing under the exec-root is alive: clear it (mounts first).
fn clean_stale_exec_root(exec_root: &Path) -> Result<()> {
    let marker = exec_root.join("boot_id");
    let current = boot_id();
    let previous = std::fs::read_to_string(&marker).unwrap_or_default();
    if previous.trim() != current {
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") {
            let prefix = exec_root.display().to_string();
            for line in mounts.lines().rev() {
                if let Some(mp) = line.split(' ').nth(4).filter(|m| m.starts_with(&prefix)) {
                    let _ = nix::mount::umount2(mp, nix::mount::MntFlags::MNT_DETACH);
                }
            }
        }
        for sub in ["containers", "netns", "runtime"] {
            let _ = std::fs::remove_dir_all(exec_root.join(sub));
        }
    }
    std::fs::create_dir_all(exec_root)
        .map_err(|e| EngineError::internal(format!("creating {}", exec_root.display()), e))?;
    berth_runtime::fsutil::atomic_write(&marker, current.as_bytes())
        .map_err(|e| EngineError::internal("recording the boot id", e))
}

/// Docker's modes (CVE-2021-41091): no host user but root may traverse the data root or the
/// exec root, where containers' writable layers and mounted root filesystems live — a
/// setuid binary that container root made there must not be reachable from the host.
/// Applied at every start, so a data root made by an older berth is fixed too.
fn restrict_roots(cfg: &EngineConfig) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for d in [&cfg.data_root, &cfg.exec_root] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(ROOT_MODE))
            .map_err(|e| EngineError::internal(format!("restricting {}", d.display()), e))?;
    }
    Ok(())
}

/// Writable layers of containers that have no record: a create that crashed between making
/// the layer and writing the record (the record is the commit point). The layer of a
/// container whose record was moved aside stays with it.
fn remove_orphan_layers(
    images: &berth_image::ImageStore,
    cfg: &EngineConfig,
    records: &[crate::container::record::ContainerRecord],
) -> Result<()> {
    let moved_aside: Vec<String> = berth_fsutil::record::quarantined_in(&cfg.containers_dir())
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for id in images.container_layer_ids() {
        let known = records.iter().any(|r| r.id == id);
        if !known && !moved_aside.iter().any(|m| m.starts_with(&id)) {
            tracing::info!(container = %id, "removing the writable layer of a create that crashed");
            images.remove(&id).map_err(|e| EngineError::from_lib(&e))?;
        }
    }
    Ok(())
}

/// rwx for root, x for root's group, nothing for others (Docker: 0710).
const ROOT_MODE: u32 = 0o710;

impl Engine {
    /// Opens the engine over `cfg`'s directories with an already-started zygote.
    pub async fn open(cfg: EngineConfig, zygote: Zygote) -> Result<Self> {
        for d in [
            &cfg.data_root,
            &cfg.containers_dir(),
            &cfg.netns_dir(),
            &cfg.runtime_root(),
        ] {
            std::fs::create_dir_all(d)
                .map_err(|e| EngineError::internal(format!("creating {}", d.display()), e))?;
        }
        clean_stale_exec_root(&cfg.exec_root)?;
        restrict_roots(&cfg)?;
        // Uploads being spooled when a previous daemon died (`load`, `import`).
        let _ = std::fs::remove_dir_all(cfg.data_root.join("tmp"));
        let images = berth_image::ImageStore::open(cfg.data_root.join("image"))
            .map_err(|e| EngineError::from_lib(&e))?;
        crate::build::clean_stale(&cfg, &images);
        let volumes = VolumeStore::open(cfg.data_root.join("volumes"))
            .map_err(|e| EngineError::from_lib(&e))?;
        let store::LoadedRecords { records, warnings } = store::load_all(&cfg.containers_dir())?;
        remove_orphan_layers(&images, &cfg, &records)?;
        let alive: Vec<String> = records
            .iter()
            .filter(|r| r.is_running() && cfg.monitor_socket(&r.id).exists())
            .map(|r| r.id.clone())
            .collect();
        let network =
            berth_network::NetworkController::start(crate::netconfig::network_config(&cfg), &alive)
                .await
                .map_err(|e| EngineError::from_lib(&e))?;
        let warnings: Vec<String> = [
            images.warnings(),
            volumes.warnings(),
            warnings,
            network.warnings(),
        ]
        .concat();
        let engine = Engine {
            inner: Arc::new(Inner {
                runtime: berth_runtime::Runtime::new(cfg.runtime_root()),
                registry: berth_registry::Registry::new(cfg.registry.clone()),
                cfg,
                images,
                network,
                volumes,
                events: EventBus::default(),
                zygote,
                containers: RwLock::new(HashMap::new()),
                names: RwLock::new(HashMap::new()),
                execs: RwLock::new(HashMap::new()),
                restart_delays: Mutex::new(HashMap::new()),
                started_at: chrono::Utc::now(),
                warnings,
            }),
        };
        for rec in records {
            engine.insert(Ctr::new(rec));
        }
        engine.reconcile_all().await;
        Ok(engine)
    }

    async fn reconcile_all(&self) {
        let ctrs: Vec<Arc<Ctr>> = self
            .inner
            .containers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        // `--rm` containers found stopped are removed, as dockerd removes them (their records
        // are not fsynced). Those that exited while the daemon was down are removed by their
        // exit, below.
        let stopped_rm: Vec<String> = ctrs
            .iter()
            .map(|c| c.snapshot())
            .filter(|r| {
                r.host_config.auto_remove.unwrap_or(false)
                    && !matches!(
                        r.state.status,
                        Status::Running | Status::Paused | Status::Restarting
                    )
            })
            .map(|r| r.id)
            .collect();
        self.sweep_run_state(&ctrs).await;
        for ctr in &ctrs {
            if let Err(e) = self.reconcile(ctr).await {
                tracing::warn!(container = %ctr.id, error = %e, "reconciling after restart");
            }
        }
        for id in &stopped_rm {
            let opts = crate::lifecycle::remove::RemoveOptions {
                force: true,
                volumes: true,
                link: false,
            };
            if let Err(e) = self.remove(id, opts).await {
                tracing::warn!(container = %id, error = %e, "removing a stopped --rm container at start");
            }
        }
        // Restart policies that apply when the daemon comes up.
        for ctr in ctrs {
            let rec = ctr.snapshot();
            if stopped_rm.contains(&rec.id) {
                continue;
            }
            let rp = rec.host_config.restart_policy.clone().unwrap_or_default();
            let name = rp.name.map(|n| n.to_string()).unwrap_or_default();
            let policy = crate::container::restart::Policy::from_docker(
                &name,
                rp.maximum_retry_count.unwrap_or(0),
            )
            .unwrap_or_default();
            if !rec.is_running()
                && matches!(rec.state.status, Status::Exited | Status::Restarting)
                && policy.restart_on_daemon_start(rec.state.manually_stopped)
            {
                let _guard = ctr.lifecycle.lock().await;
                ctr.update(|r| r.state.status = Status::Exited);
                if let Err(e) = self.start_locked(&ctr).await {
                    tracing::warn!(container = %rec.id, error = %e, "restart on daemon start");
                }
            }
        }
    }

    /// Run directories and netns files that no reconcile will look at: a daemon killed while
    /// it started a container (the record never said Running) or removed one (the record is
    /// gone) leaves them, mounts and all. Runs before any reconcile, so nothing is starting;
    /// records that say the container runs are left to `reconcile`, which adopts or tears down.
    async fn sweep_run_state(&self, ctrs: &[Arc<Ctr>]) {
        let live: std::collections::HashSet<&str> = ctrs
            .iter()
            .filter(|c| {
                matches!(
                    c.snapshot().state.status,
                    Status::Running | Status::Paused | Status::Restarting
                )
            })
            .map(|c| c.id.as_str())
            .collect();
        let mut stale = std::collections::BTreeSet::new();
        for dir in [self.inner.cfg.run_dirs(), self.inner.cfg.netns_dir()] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if !live.contains(id.as_str()) {
                    stale.insert(id);
                }
            }
        }
        // A start cut after the monitor created the task: its record never said Running, so
        // the task is killed (the client was told nothing started) and its cgroup removed.
        let tasks = self.inner.runtime.list().unwrap_or_default();
        for task in tasks {
            let id = task.id().to_owned();
            if live.contains(id.as_str()) {
                continue;
            }
            tracing::info!(container = %id, "killing the task of a start that did not finish");
            if let Err(e) = task.delete(true) {
                tracing::warn!(container = %id, error = %e, "removing the task of an unfinished start");
            }
            stale.insert(id);
        }
        for id in stale {
            tracing::info!(container = %id, "removing the run state of a container that is not running");
            self.teardown_id(&id).await;
        }
    }

    /// Brings one record in line with the container's real state.
    async fn reconcile(&self, ctr: &Arc<Ctr>) -> Result<()> {
        let rec = ctr.snapshot();
        if !matches!(
            rec.state.status,
            Status::Running | Status::Paused | Status::Restarting | Status::Removing
        ) {
            return Ok(());
        }
        if rec.state.status == Status::Removing {
            ctr.update(|r| r.state.status = Status::Dead);
            return Ok(());
        }
        let sock = self.inner.cfg.monitor_socket(&rec.id);
        match UnixStream::connect(&sock).await {
            Ok(mut stream) => {
                let mut buf = Vec::new();
                protocol::encode_json(&Request::Hello, &mut buf);
                stream
                    .write_all(&buf)
                    .await
                    .map_err(|e| EngineError::internal("greeting a monitor", e))?;
                let (handle, first) = live::adopt(self, ctr, rec.state.monitor_pid, stream);
                *ctr.live
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handle);
                match first.await {
                    Ok(Event::State { exited: None, .. }) => {
                        self.sync_pause(ctr);
                        crate::health::spawn_checks(self, ctr);
                        Ok(())
                    }
                    Ok(Event::State {
                        exited: Some(info), ..
                    }) => {
                        self.on_exit(ctr, info).await;
                        Ok(())
                    }
                    _ => {
                        self.on_exit(ctr, self.exit_while_down(&rec.id)).await;
                        Ok(())
                    }
                }
            }
            Err(_) => {
                self.on_exit(ctr, self.exit_while_down(&rec.id)).await;
                Ok(())
            }
        }
    }

    /// Brings a live container's paused/running status in line with its freezer: a
    /// container frozen by a commit the previous daemon did not finish runs again, and a
    /// pause or unpause cut between the record and the freezer reads as what it is.
    fn sync_pause(&self, ctr: &Arc<Ctr>) {
        let rec = ctr.snapshot();
        if !matches!(rec.state.status, Status::Running | Status::Paused) {
            return;
        }
        let Ok(rt) = self.inner.runtime.load(&rec.id) else {
            return;
        };
        let frozen = rt.status() == berth_runtime::Status::Paused;
        if frozen && rec.state.paused_for_commit {
            if let Err(e) = rt.resume() {
                tracing::warn!(container = %rec.id, error = %e, "thawing after an unfinished commit");
                return;
            }
            tracing::info!(container = %rec.id, "thawed after an unfinished commit");
        }
        let status = if frozen && !rec.state.paused_for_commit {
            Status::Paused
        } else {
            Status::Running
        };
        if rec.state.status == status && !rec.state.paused_for_commit {
            return;
        }
        let rec = ctr.update(|r| {
            r.state.status = status;
            r.state.paused_for_commit = false;
            r.clone()
        });
        if let Err(e) = ctr.persist(&self.inner.cfg.containers_dir()) {
            tracing::warn!(container = %rec.id, error = %e, "recording the paused state");
        }
    }

    /// The exit status recorded by a monitor that finished while the daemon was down, or
    /// 255 (a task lost with its monitor, as Docker reports it).
    fn exit_while_down(&self, id: &str) -> ExitInfo {
        crate::monitor::read_exit(&self.inner.cfg.run_dir(id).join("exit.json")).unwrap_or(
            ExitInfo {
                code: 255,
                oom_killed: false,
                finished_at_ns: crate::monitor::now_ns(),
            },
        )
    }

    /// What the start found wrong on disk and moved aside (for /info `Warnings`).
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// How long the daemon has been up (for /info).
    pub fn started_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.started_at
    }
}
