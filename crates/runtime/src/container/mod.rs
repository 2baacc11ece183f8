//! Containers: create, start, state, kill, delete, exec, pause/resume, update, ps.
//!
//! A [`Runtime`] owns a state root (runc's `--root`); each container has a directory there
//! with `state.json` and, between create and start, `exec.fifo`. Each verb lives in its own
//! file as an `impl Container` block.

mod create;
mod exec;
mod lifecycle;
pub mod state;

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

pub(crate) use create::load_spec;
pub use exec::ExecRequest;
pub use state::{ContainerState, OciState, Status};

use crate::error::{Result, RuntimeError};
use crate::fsutil;

pub(crate) const EXEC_FIFO: &str = "exec.fifo";
pub(crate) const STATE_FILE: &str = "state.json";

/// A state root holding containers.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
}

/// When init runs the user's program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// `create`: init waits on the exec fifo until `start`.
    OnStart,
    /// `run` (and the engine): init execs as soon as it is ready; `create` returns after the
    /// exec succeeded, or with the reason it failed.
    Immediately,
}

/// Everything `create` needs.
#[derive(Debug)]
pub struct CreateRequest {
    pub id: String,
    pub bundle: PathBuf,
    /// The spec; read from `<bundle>/config.json` when `None`.
    pub spec: Option<Spec>,
    /// Connected console socket; required when the process has a terminal.
    pub console_socket: Option<OwnedFd>,
    /// stdin, stdout, stderr for init; `None` inherits the caller's.
    pub stdio: Option<[OwnedFd; 3]>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    /// Number of fds after stdio (3, 4, ...) that init keeps open.
    pub preserve_fds: i32,
    pub start: StartMode,
}

impl CreateRequest {
    /// A request with defaults: spec from the bundle, inherited stdio, wait for start.
    pub fn new(id: impl Into<String>, bundle: impl Into<PathBuf>) -> Self {
        Self {
            id: id.into(),
            bundle: bundle.into(),
            spec: None,
            console_socket: None,
            stdio: None,
            pid_file: None,
            no_pivot: false,
            preserve_fds: 0,
            start: StartMode::OnStart,
        }
    }
}

/// A container known to a [`Runtime`].
#[derive(Debug)]
pub struct Container {
    dir: PathBuf,
    state: ContainerState,
}

/// Valid ids: what runc accepts, which also keeps ids safe as path components.
pub(crate) fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidId(id.to_owned()))
    }
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Where compiled seccomp filters are cached, shared by all containers of this root.
    pub(crate) fn seccomp_cache(&self) -> PathBuf {
        self.root.join(".cache").join("seccomp")
    }

    /// Loads an existing container.
    pub fn load(&self, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = self.dir(id);
        let path = dir.join(STATE_FILE);
        let data = fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RuntimeError::NotFound(id.to_owned()),
            _ => RuntimeError::State {
                id: id.to_owned(),
                path: path.clone(),
                source: e,
            },
        })?;
        let bad = |why: String| RuntimeError::State {
            id: id.to_owned(),
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, why),
        };
        let state = match fsutil::record::decode::<ContainerState>(&path, &data) {
            Ok(fsutil::record::Loaded::Record(s)) => s,
            Ok(fsutil::record::Loaded::Corrupt(why)) => return Err(bad(why)),
            Ok(fsutil::record::Loaded::Missing) => {
                return Err(RuntimeError::NotFound(id.to_owned()));
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        Ok(Container { dir, state })
    }

    /// All containers of this root, in id order. Directories without a readable state (a
    /// create in progress) are skipped.
    pub fn list(&self) -> Result<Vec<Container>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(RuntimeError::Io {
                    id: String::new(),
                    what: format!("listing {}", self.root.display()),
                    source: e,
                });
            }
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        ids.sort();
        Ok(ids.iter().filter_map(|id| self.load(id).ok()).collect())
    }
}

impl Container {
    pub fn id(&self) -> &str {
        &self.state.id
    }

    pub fn pid(&self) -> i32 {
        self.state.pid
    }

    pub fn state(&self) -> &ContainerState {
        &self.state
    }

    pub fn status(&self) -> Status {
        self.state.status(&self.dir)
    }

    pub fn oci_state(&self) -> OciState {
        self.state.oci_state(self.status())
    }

    fn sys_err(
        &self,
        what: impl Into<String>,
    ) -> impl FnOnce(nix::errno::Errno) -> RuntimeError + '_ {
        let what = what.into();
        move |source| RuntimeError::Sys {
            id: self.state.id.clone(),
            what,
            source,
        }
    }

    fn bad_state(&self, status: Status, op: &'static str) -> RuntimeError {
        RuntimeError::BadState {
            id: self.state.id.clone(),
            status: status.to_string(),
            op,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_path_safe() {
        for ok in ["abc", "a-b_c.d+e", "0123456789abcdef"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "../x", "x\0"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_container_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime::new(dir.path());
        assert!(matches!(rt.load("nope"), Err(RuntimeError::NotFound(_))));
        assert!(rt.list().unwrap().is_empty());
    }
}
