//! Network namespaces bind-mounted on a file (`/run/berth/netns/<id>`), like `ip netns add`,
//! so the network exists before the container's process and can be torn down by dropping it.

use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};

use crate::error::{NetError, Result};

/// A bind-mounted network namespace.
#[derive(Debug)]
pub struct Netns;

impl Netns {
    /// Creates a new network namespace and bind-mounts it on `path`. A dedicated thread
    /// unshares and exits afterwards, so no other thread ever changes namespace.
    pub fn create(path: &Path) -> Result<Self> {
        std::fs::File::create(path)
            .map_err(NetError::io(format!("creating {}", path.display())))?;
        let p = path.to_path_buf();
        let result = std::thread::spawn(move || -> Result<()> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| NetError::Io {
                what: "unsharing a network namespace".into(),
                source: e.into(),
            })?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &p,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| NetError::Io {
                what: format!("bind-mounting the namespace on {}", p.display()),
                source: e.into(),
            })
        })
        .join()
        .unwrap_or_else(|_| Err(NetError::Invalid("netns thread panicked".into())));
        if let Err(e) = result {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Ok(Self)
    }

    /// Drops the namespace: the kernel tears down its interfaces (and their veth peers) once
    /// nothing holds it any more — faster than deleting the links one by one.
    pub fn remove(path: &Path) -> Result<()> {
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
            Err(e) => {
                return Err(NetError::Io {
                    what: format!("unmounting {}", path.display()),
                    source: e.into(),
                });
            }
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(NetError::io(format!("removing {}", path.display()))(e))
            }
            _ => Ok(()),
        }
    }
}
