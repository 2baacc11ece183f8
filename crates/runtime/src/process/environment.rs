//! The process environment and working directory.

use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::OFlag;

use super::error::{InitError, Step};
use crate::fsutil;

/// Adds HOME from the container's /etc/passwd when the spec's env lacks it (as runc does),
/// falling back to `/`.
pub(crate) fn with_home(mut env: Vec<String>, uid: u32) -> Vec<String> {
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return env;
    }
    let home = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| home_of(&passwd, uid))
        .unwrap_or_else(|| "/".to_owned());
    env.push(format!("HOME={home}"));
    env
}

fn home_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_owned())
    })
}

/// Enters the process's cwd, resolved inside the (new) root without magic links — so a cwd
/// such as `/proc/self/fd/7` cannot reach a leaked host directory (CVE-2024-21626) — and
/// checks the result is reachable from the root.
pub(crate) fn enter_cwd(cwd: &Path) -> Result<(), InitError> {
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .step(|| "opening /".into())?;
    let dir = fsutil::open_in_root(root.as_fd(), cwd, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .step(|| format!("resolving the working directory {}", cwd.display()))?;
    nix::unistd::fchdir(dir.as_fd())
        .step(|| format!("entering the working directory {}", cwd.display()))?;
    let now = nix::unistd::getcwd().step(|| "reading the working directory".into())?;
    if !now.is_absolute() || now.starts_with("(unreachable)") {
        return Err(InitError::msg(
            format!("checking the working directory {}", cwd.display()),
            "it is outside the container's root",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_comes_from_passwd() {
        let passwd =
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
        assert_eq!(home_of(passwd, 0).as_deref(), Some("/root"));
        assert_eq!(home_of(passwd, 65534).as_deref(), Some("/nonexistent"));
        assert_eq!(home_of(passwd, 1000), None);
        let env = with_home(vec!["HOME=/x".into()], 0);
        assert_eq!(env, vec!["HOME=/x".to_owned()]);
    }
}
