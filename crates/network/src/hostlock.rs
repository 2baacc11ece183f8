//! A host-wide lock around "pick a free subnet, then give a bridge that address": two berth
//! daemons (a test suite runs several) starting at once would otherwise both see the same
//! subnet as free, since it only becomes taken when the bridge's route appears.

use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{NetError, Result};

/// Held while a subnet is chosen and configured; released on drop.
#[derive(Debug)]
pub(crate) struct SubnetLock {
    _lock: Flock<std::fs::File>,
}

const PATH: &str = "/run/berth-ipam.lock";

impl SubnetLock {
    /// Blocks until no other berth daemon on this host is choosing a subnet.
    pub(crate) fn acquire() -> Result<Self> {
        Self::acquire_at(Path::new(PATH))
    }

    fn acquire_at(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(NetError::io(format!("opening {}", path.display())))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| {
            NetError::io(format!("locking {}", path.display()))(std::io::Error::from(e))
        })?;
        Ok(Self { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive_between_holders() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        let held = SubnetLock::acquire_at(&p).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        assert!(Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err());
        drop(held);
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        assert!(Flock::lock(f, FlockArg::LockExclusiveNonblock).is_ok());
    }
}
