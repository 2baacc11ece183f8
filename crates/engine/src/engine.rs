//! The engine facade: the daemon's state and the lookups every operation starts with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use crate::config::EngineConfig;
use crate::container::record::ContainerRecord;
use crate::container::state::Status;
use crate::error::{EngineError, Result};
use crate::events::EventBus;
use crate::live::Live;
use crate::monitor::zygote::Zygote;
use crate::volumes::VolumeStore;

/// What waiters watch: the status, how many times the container exited, and whether it is
/// gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub status: Status,
    pub exit_code: i32,
    pub exits: u64,
    pub removed: bool,
}

/// One container as the daemon holds it.
#[derive(Debug)]
pub(crate) struct Ctr {
    pub(crate) id: String,
    pub(crate) record: Mutex<ContainerRecord>,
    /// Serialises start, stop, restart and remove of this container.
    pub(crate) lifecycle: tokio::sync::Mutex<()>,
    pub(crate) watch: watch::Sender<Snapshot>,
    /// The monitor connection while the container runs.
    pub(crate) live: Mutex<Option<Arc<Live>>>,
    /// Clients attached to the container's output (they may attach before it starts).
    pub(crate) attachers: crate::live::Attachers,
    /// Held while the record is written: one writer per record (`Ctr::persist`).
    pub(crate) disk: Mutex<()>,
}

impl Ctr {
    pub(crate) fn new(record: ContainerRecord) -> Arc<Self> {
        let snap = Snapshot {
            status: record.state.status,
            exit_code: record.state.exit_code,
            exits: 0,
            removed: false,
        };
        Arc::new(Self {
            id: record.id.clone(),
            record: Mutex::new(record),
            lifecycle: tokio::sync::Mutex::new(()),
            watch: watch::channel(snap).0,
            live: Mutex::new(None),
            attachers: crate::live::Attachers::default(),
            disk: Mutex::new(()),
        })
    }

    /// A copy of the record.
    pub(crate) fn snapshot(&self) -> ContainerRecord {
        self.record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Changes the record under its lock and returns what `f` returns.
    pub(crate) fn update<T>(&self, f: impl FnOnce(&mut ContainerRecord) -> T) -> T {
        let mut r = self
            .record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let out = f(&mut r);
        let (status, code) = (r.state.status, r.state.exit_code);
        drop(r);
        self.watch.send_modify(|s| {
            s.status = status;
            s.exit_code = code;
        });
        out
    }

    pub(crate) fn live(&self) -> Option<Arc<Live>> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The daemon's engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) cfg: EngineConfig,
    pub(crate) images: berth_image::ImageStore,
    pub(crate) registry: berth_registry::Registry,
    pub(crate) network: berth_network::NetworkController,
    pub(crate) volumes: VolumeStore,
    pub(crate) events: EventBus,
    pub(crate) zygote: Zygote,
    pub(crate) runtime: berth_runtime::Runtime,
    pub(crate) containers: RwLock<HashMap<String, Arc<Ctr>>>,
    /// Container name → id.
    pub(crate) names: RwLock<HashMap<String, String>>,
    pub(crate) execs: RwLock<HashMap<String, Arc<crate::exec::ExecInstance>>>,
    /// The last back-off delay of each container restarted by its policy.
    pub(crate) restart_delays: Mutex<HashMap<String, std::time::Duration>>,
    pub(crate) started_at: chrono::DateTime<chrono::Utc>,
    /// Records the start could not load and moved aside (see `store`).
    pub(crate) warnings: Vec<String>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Engine {
    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    pub fn images(&self) -> &berth_image::ImageStore {
        &self.inner.images
    }

    pub fn network(&self) -> &berth_network::NetworkController {
        &self.inner.network
    }

    pub fn volumes(&self) -> &VolumeStore {
        &self.inner.volumes
    }

    /// Finds a container by full id, name (with or without `/`), or unique id prefix, as
    /// Docker does.
    pub(crate) fn lookup(&self, key: &str) -> Result<Arc<Ctr>> {
        let containers = read(&self.inner.containers);
        if let Some(c) = containers.get(key) {
            return Ok(c.clone());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(id) = read(&self.inner.names).get(name)
            && let Some(c) = containers.get(id)
        {
            return Ok(c.clone());
        }
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = containers.iter().filter(|(id, _)| id.starts_with(key));
            if let (Some((_, c)), None) = (found.next(), found.next()) {
                return Ok(c.clone());
            }
        }
        Err(EngineError::NoSuchContainer(key.to_owned()))
    }

    /// The record of a container, by any of its names.
    pub fn container(&self, key: &str) -> Result<ContainerRecord> {
        self.lookup(key).map(|c| c.snapshot())
    }

    /// Calls `f` with every container's record under that record's lock, without copying it,
    /// and keeps what it returns (`ps` of hundreds of containers spent most of its time
    /// cloning whole records to read a few fields). `f` must not lock container records.
    pub fn map_containers<T>(&self, mut f: impl FnMut(&ContainerRecord) -> Option<T>) -> Vec<T> {
        let ctrs: Vec<Arc<Ctr>> = read(&self.inner.containers).values().cloned().collect();
        ctrs.iter()
            .filter_map(|c| {
                let rec = c
                    .record
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                f(&rec)
            })
            .collect()
    }

    /// All containers' records.
    pub fn containers(&self) -> Vec<ContainerRecord> {
        read(&self.inner.containers)
            .values()
            .map(|c| c.snapshot())
            .collect()
    }

    /// Subscribes to a container's state changes (for `wait`).
    pub fn watch(&self, key: &str) -> Result<watch::Receiver<Snapshot>> {
        self.lookup(key).map(|c| c.watch.subscribe())
    }

    pub(crate) fn insert(&self, ctr: Arc<Ctr>) {
        let name = ctr.snapshot().name;
        write(&self.inner.names).insert(name, ctr.id.clone());
        write(&self.inner.containers).insert(ctr.id.clone(), ctr);
    }

    /// Reserves `name` for `id`; Docker's conflict error if taken.
    pub(crate) fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let mut names = write(&self.inner.names);
        if let Some(other) = names.get(name) {
            return Err(EngineError::NameInUse {
                name: name.to_owned(),
                id: other.clone(),
            });
        }
        names.insert(name.to_owned(), id.to_owned());
        Ok(())
    }

    pub(crate) fn release_name(&self, name: &str) {
        write(&self.inner.names).remove(name);
    }

    pub(crate) fn forget(&self, id: &str) {
        if let Some(c) = write(&self.inner.containers).remove(id) {
            let name = c.snapshot().name;
            let mut names = write(&self.inner.names);
            if names.get(&name).is_some_and(|i| i == id) {
                names.remove(&name);
            }
        }
    }

    /// Publishes a container event with Docker's attributes (name, image, labels).
    pub(crate) fn container_event(
        &self,
        rec: &ContainerRecord,
        action: &str,
        extra: &[(&str, String)],
    ) {
        let mut attrs: HashMap<String, String> = rec.config.labels.clone().unwrap_or_default();
        attrs.insert("name".into(), rec.name.clone());
        attrs.insert("image".into(), rec.image.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_owned(), v.clone());
        }
        self.inner
            .events
            .publish("container", action, &rec.id, attrs);
    }
}
