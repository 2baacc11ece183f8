//! Volumes with the `local` driver: a directory under `<data-root>/volumes/<name>/_data`,
//! metadata in `<data-root>/volumes/<name>/volume.json` (written atomically), all of it held
//! in memory for listing.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use berth_errdefs::{ErrorKind, HasKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Label Docker puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("get {0}: no such volume")]
    NotFound(String),
    #[error(
        "create {0}: {0:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )]
    InvalidName(String),
    #[error("remove {name}: volume is in use - [{users}]")]
    InUse { name: String, users: String },
    /// Any driver but `local` would be a plugin, and berth has none.
    #[error(
        "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
    )]
    Driver { name: String, driver: String },
    #[error("local volume option {0:?} is not supported")]
    Option(String),
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Record(#[from] berth_fsutil::record::RecordError),
}

impl HasKind for VolumeError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) | Self::Driver { .. } => ErrorKind::NotFound,
            Self::InvalidName(_) | Self::Option(_) => ErrorKind::InvalidArgument,
            Self::InUse { .. } => ErrorKind::Conflict,
            Self::Io { .. } | Self::Record(_) => ErrorKind::Internal,
        }
    }
}

type Result<T> = std::result::Result<T, VolumeError>;

/// A volume's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: PathBuf,
    pub created_at: DateTime<Utc>,
    pub labels: HashMap<String, String>,
    pub options: HashMap<String, String>,
}

impl Volume {
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// The volumes of one data root.
#[derive(Debug)]
pub struct VolumeStore {
    root: PathBuf,
    /// The index, and the lock every write of a volume's record is made under.
    volumes: RwLock<BTreeMap<String, Volume>>,
    warnings: Vec<String>,
}

fn is_empty_or_missing(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

fn valid_name(n: &str) -> bool {
    // A name shaped like a moved-aside directory would be skipped at the next start.
    crate::container::names::is_valid(n)
        && !n.starts_with('/')
        && !berth_fsutil::record::is_quarantined(std::ffi::OsStr::new(n))
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError {
    let path = path.to_path_buf();
    move |source| VolumeError::Io { what, path, source }
}

impl berth_fsutil::record::Record for Volume {
    const KIND: &'static str = "volume record";
    const SCHEMA_VERSION: u32 = 1;
}

/// Prefix of a volume directory being removed (renamed first, so a crash leaves no
/// half-deleted volume that still looks like one).
const REMOVING: &str = ".removing-";

impl VolumeStore {
    /// Loads `<root>` (usually `<data-root>/volumes`). A directory whose `volume.json` does
    /// not parse, or that has data but no record, is moved aside (`<name>.corrupt-<time>`)
    /// and reported; one that cannot be read stops the load.
    pub fn open(root: PathBuf) -> Result<Self> {
        use berth_fsutil::record::{self, Loaded};
        std::fs::create_dir_all(&root).map_err(io("creating", &root))?;
        let mut volumes = BTreeMap::new();
        let mut warnings = Vec::new();
        for entry in std::fs::read_dir(&root).map_err(io("reading", &root))? {
            let entry = entry.map_err(io("reading", &root))?;
            let (dir, name) = (entry.path(), entry.file_name());
            if record::is_quarantined(&name) {
                warnings.push(format!(
                    "volume moved aside by an earlier start: {}",
                    dir.display()
                ));
                continue;
            }
            if name.to_string_lossy().starts_with('.') {
                // A remove (or a create) that a crash interrupted.
                std::fs::remove_dir_all(&dir).map_err(io("removing", &dir))?;
                continue;
            }
            let why = match record::load::<Volume>(&dir.join("volume.json"))? {
                Loaded::Record(v) if *name == *v.name => {
                    volumes.insert(v.name.clone(), v);
                    continue;
                }
                Loaded::Record(v) => format!("it holds the record of volume {}", v.name),
                Loaded::Corrupt(why) => format!("its volume.json does not parse ({why})"),
                Loaded::Missing if is_empty_or_missing(&dir.join("_data")) => {
                    // A create that crashed before its record was written.
                    std::fs::remove_dir_all(&dir).map_err(io("removing", &dir))?;
                    continue;
                }
                Loaded::Missing => "it has data but no volume.json".to_owned(),
            };
            let to = record::quarantine(&dir)?;
            let msg = format!(
                "volume {} {why}: moved aside to {}",
                dir.display(),
                to.display()
            );
            tracing::error!("{msg}");
            warnings.push(msg);
        }
        Ok(Self {
            root,
            volumes: RwLock::new(volumes),
            warnings,
        })
    }

    /// What open found wrong and moved aside, for `/info`.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Volume>> {
        self.volumes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Volume>> {
        self.volumes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates a volume, or returns the existing one of that name (Docker's behaviour).
    /// `name: None` makes an anonymous volume.
    pub fn create(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        labels: HashMap<String, String>,
        options: HashMap<String, String>,
    ) -> Result<Volume> {
        if let Some(d) = driver.filter(|d| !d.is_empty() && *d != "local") {
            return Err(VolumeError::Driver {
                name: name.unwrap_or_default().to_owned(),
                driver: d.to_owned(),
            });
        }
        if let Some(k) = options.keys().next() {
            return Err(VolumeError::Option(k.clone()));
        }
        let (name, labels) = match name.filter(|n| !n.is_empty()) {
            Some(n) if !valid_name(n) => return Err(VolumeError::InvalidName(n.to_owned())),
            Some(n) => (n.to_owned(), labels),
            None => {
                let mut l = labels;
                l.insert(ANONYMOUS_LABEL.into(), String::new());
                (random_hex(), l)
            }
        };
        // Held until the record is written: one writer per volume, and two creates of one
        // name make one volume.
        let mut volumes = self.write();
        if let Some(v) = volumes.get(&name) {
            return Ok(v.clone());
        }
        let dir = self.root.join(&name);
        let data = dir.join("_data");
        std::fs::create_dir_all(&data).map_err(io("creating", &data))?;
        let v = Volume {
            name: name.clone(),
            driver: "local".into(),
            mountpoint: data,
            created_at: Utc::now(),
            labels,
            options,
        };
        berth_fsutil::record::save(&dir.join("volume.json"), &v)?;
        volumes.insert(name, v.clone());
        Ok(v)
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        self.read()
            .get(name)
            .cloned()
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))
    }

    pub fn list(&self) -> Vec<Volume> {
        self.read().values().cloned().collect()
    }

    /// Removes a volume; `users` are the containers using it (refused unless empty).
    pub fn remove(&self, name: &str, users: &[String]) -> Result<()> {
        let mut volumes = self.write();
        if !volumes.contains_key(name) {
            return Err(VolumeError::NotFound(name.to_owned()));
        }
        if !users.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_owned(),
                users: users.join(", "),
            });
        }
        let dir = self.root.join(name);
        // Renamed first: a crash mid-way leaves a `.removing-*` directory `open` finishes
        // removing, never a volume with half its data.
        let doomed = self.root.join(format!("{REMOVING}{name}"));
        std::fs::rename(&dir, &doomed).map_err(io("removing", &dir))?;
        volumes.remove(name);
        drop(volumes);
        std::fs::remove_dir_all(&doomed).map_err(io("removing", &doomed))
    }

    /// Disk usage of a volume's data, in bytes (for `system df`).
    pub fn size(&self, name: &str) -> u64 {
        self.read().get(name).map_or(0, |v| dir_size(&v.mountpoint))
    }
}

fn dir_size(p: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Copies the image's content at `path` (inside the mounted `rootfs`) into an empty volume
/// directory, keeping modes and owners: Docker's "populate on first use". The source is
/// resolved inside the rootfs and the walk never follows symlinks, so an image cannot make
/// the daemon copy host files.
pub fn populate(rootfs: &Path, path: &str, volume_dir: &Path) -> std::io::Result<()> {
    if std::fs::read_dir(volume_dir)?.next().is_some() {
        return Ok(());
    }
    let root = std::fs::File::open(rootfs)?;
    let src = match berth_runtime::fsutil::open_in_root(
        root.as_fd(),
        Path::new(path),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY,
    ) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let src_path = berth_runtime::fsutil::fd_path(src.as_fd());
    let meta = std::fs::metadata(&src_path)?;
    std::fs::set_permissions(
        volume_dir,
        std::fs::Permissions::from_mode(meta.mode() & 0o7777),
    )?;
    std::os::unix::fs::lchown(volume_dir, Some(meta.uid()), Some(meta.gid()))?;
    copy_tree(&src_path, volume_dir)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        } else {
            continue; // devices, fifos and sockets are not copied into volumes
        }
        std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_list_remove() {
        let d = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(d.path().to_path_buf()).unwrap();
        let v = s
            .create(Some("data"), None, HashMap::new(), HashMap::new())
            .unwrap();
        assert!(v.mountpoint.ends_with("data/_data") && v.mountpoint.is_dir());
        assert_eq!(
            s.create(Some("data"), Some("local"), HashMap::new(), HashMap::new())
                .unwrap(),
            v
        );
        let anon = s
            .create(None, None, HashMap::new(), HashMap::new())
            .unwrap();
        assert!(anon.is_anonymous() && anon.name.len() == 64);
        assert_eq!(s.list().len(), 2);
        let e = s.remove("data", &["web".into()]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        s.remove("data", &[]).unwrap();
        assert_eq!(s.get("data").unwrap_err().kind(), ErrorKind::NotFound);
        // Reopening sees what is on disk.
        let s2 = VolumeStore::open(d.path().to_path_buf()).unwrap();
        assert_eq!(s2.list().len(), 1);
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/testdata/records")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn records_of_every_format_load_and_the_broken_are_moved_aside() {
        let d = tempfile::tempdir().unwrap();
        for (name, file) in [("fxvol", "volume-v0.json"), ("v1", "volume-v1.json")] {
            std::fs::create_dir_all(d.path().join(name).join("_data")).unwrap();
            let mut v: serde_json::Value = serde_json::from_slice(&fixture(file)).unwrap();
            v["name"] = name.into();
            std::fs::write(d.path().join(name).join("volume.json"), v.to_string()).unwrap();
        }
        // Data without a parsable record: kept, moved aside, reported.
        std::fs::create_dir_all(d.path().join("broken/_data")).unwrap();
        std::fs::write(d.path().join("broken/_data/keep"), b"x").unwrap();
        std::fs::write(d.path().join("broken/volume.json"), b"{").unwrap();
        std::fs::create_dir_all(d.path().join("norecord/_data")).unwrap();
        std::fs::write(d.path().join("norecord/_data/keep"), b"x").unwrap();
        // A create that crashed before its record, and a remove that crashed half-way.
        std::fs::create_dir_all(d.path().join("halfmade/_data")).unwrap();
        std::fs::create_dir_all(d.path().join(".removing-old/_data/x")).unwrap();
        let s = VolumeStore::open(d.path().to_path_buf()).unwrap();
        let names: Vec<String> = s.list().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["fxvol", "v1"]);
        assert_eq!(s.warnings().len(), 2, "{:?}", s.warnings());
        assert!(!d.path().join("halfmade").exists());
        assert!(!d.path().join(".removing-old").exists());
        let moved = berth_fsutil::record::quarantined_in(d.path());
        assert_eq!(moved.len(), 2);
        assert!(moved.iter().all(|m| m.join("_data/keep").exists()));
        // A name shaped like a moved-aside directory is refused.
        let shaped = "x.corrupt-20260101T000000Z";
        let e = s.create(Some(shaped), None, HashMap::new(), HashMap::new());
        assert_eq!(e.unwrap_err().kind(), ErrorKind::InvalidArgument);
        let unreadable = d.path().join("unreadable");
        std::fs::create_dir_all(unreadable.join("volume.json")).unwrap();
        assert!(VolumeStore::open(d.path().to_path_buf()).is_err());
    }

    #[test]
    fn bad_input() {
        let d = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(d.path().to_path_buf()).unwrap();
        assert!(
            s.create(Some("../x"), None, HashMap::new(), HashMap::new())
                .is_err()
        );
        assert_eq!(
            s.create(Some("x1"), Some("nfs"), HashMap::new(), HashMap::new())
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        assert!(s.list().is_empty());
    }

    #[test]
    fn populate_copies_image_content_once() {
        let d = tempfile::tempdir().unwrap();
        let rootfs = d.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("data/sub")).unwrap();
        std::fs::write(rootfs.join("data/sub/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", rootfs.join("data/link")).unwrap();
        let vol = d.path().join("vol");
        std::fs::create_dir(&vol).unwrap();
        populate(&rootfs, "/data", &vol).unwrap();
        assert_eq!(std::fs::read_to_string(vol.join("sub/f")).unwrap(), "x");
        assert_eq!(
            std::fs::read_link(vol.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        std::fs::write(rootfs.join("data/new"), "y").unwrap();
        populate(&rootfs, "/data", &vol).unwrap();
        assert!(
            !vol.join("new").exists(),
            "a non-empty volume is left alone"
        );
    }
}
