//! Finding the program to exec, with the container's PATH, and runc's error wording (which
//! Docker turns into exit codes 126/127).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::error::InitError;

/// Docker's and runc's default PATH when the process environment has none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Resolves `arg0` like Go's exec.LookPath (what runc uses), inside the current root.
pub(crate) fn look_path(arg0: &str, env: &[String]) -> Result<CString, InitError> {
    let step = || format!("exec: \"{arg0}\"");
    let not_found =
        || InitError::msg(step(), "executable file not found in $PATH").of_program(Errno::ENOENT);
    if arg0.is_empty() {
        return Err(not_found());
    }
    if arg0.contains('/') {
        return check(Path::new(arg0)).map_err(|(why, errno)| {
            InitError::msg(step(), format!("stat {arg0}: {why}")).of_program(errno)
        });
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = PathBuf::from(dir).join(arg0);
        if let Ok(c) = check(&candidate) {
            return Ok(c);
        }
    }
    Err(not_found())
}

/// The program at `path`, or why it cannot run (runc's words, and the errno behind them).
fn check(path: &Path) -> Result<CString, (String, Errno)> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let errno = e.raw_os_error().map_or(Errno::ENOENT, Errno::from_raw);
        match e.kind() {
            std::io::ErrorKind::NotFound => ("no such file or directory".to_owned(), errno),
            std::io::ErrorKind::PermissionDenied => ("permission denied".to_owned(), errno),
            _ => (e.to_string(), errno),
        }
    })?;
    if meta.is_dir() {
        return Err(("is a directory".into(), Errno::EISDIR));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(("permission denied".into(), Errno::EACCES));
    }
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| ("path contains a NUL byte".into(), Errno::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path_and_reports_like_runc() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_owned()];
        assert!(look_path("sh", &env).is_ok());
        let err = look_path("no-such-program-berth", &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "exec: \"no-such-program-berth\": executable file not found in $PATH"
        );
        let err = look_path("/no/such", &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "exec: \"/no/such\": stat /no/such: no such file or directory"
        );
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("not-executable");
        std::fs::write(&plain, "x").unwrap();
        let err = look_path(plain.to_str().unwrap(), &env).unwrap_err();
        assert!(err.to_string().ends_with("permission denied"), "{err}");
    }
}
