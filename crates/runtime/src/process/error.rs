//! Errors raised inside a container's init (or exec) process before it execs.
//!
//! They cross the process boundary as messages, so they are plain data: the step that failed
//! (naming the object it failed on) and the OS error.

use std::fmt;

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

/// A failed step in init, e.g. `mounting proc on /proc: EPERM: Operation not permitted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitError {
    /// What init was doing, and on what.
    pub step: String,
    /// The errno, when the failure came from a system call.
    pub errno: Option<i32>,
    /// Further detail when there is no errno (or to add to it).
    pub detail: Option<String>,
    /// Why the user's program itself could not run (not found, not executable): the data
    /// callers turn into Docker's exit codes 127 and 126, whatever the message says.
    #[serde(default)]
    pub program_errno: Option<i32>,
}

impl InitError {
    pub(crate) fn sys(step: impl Into<String>, errno: Errno) -> Self {
        Self {
            step: step.into(),
            errno: Some(errno as i32),
            detail: None,
            program_errno: None,
        }
    }

    pub(crate) fn msg(step: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            step: step.into(),
            errno: None,
            detail: Some(detail.into()),
            program_errno: None,
        }
    }

    /// Marks the failure as the user's program failing to run, for `errno`.
    pub(crate) fn of_program(mut self, errno: Errno) -> Self {
        self.program_errno = Some(errno as i32);
        self
    }

    /// Docker's exit code for a program that could not be started: 127 when it does not
    /// exist, 126 when it cannot be executed; `None` when the failure is not the program's.
    pub fn program_exit_code(&self) -> Option<i32> {
        match Errno::from_raw(self.program_errno?) {
            Errno::ENOENT | Errno::ENOTDIR => Some(127),
            _ => Some(126),
        }
    }

    /// The errno as a typed value.
    pub fn errno(&self) -> Option<Errno> {
        self.errno.map(Errno::from_raw)
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.step)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(e) = self.errno() {
            write!(f, ": {}", e.desc().to_lowercase())?;
        }
        Ok(())
    }
}

impl std::error::Error for InitError {}

/// Attaches a step description to an errno result.
pub(crate) trait Step<T> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, InitError>;
}

impl<T> Step<T> for Result<T, Errno> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, InitError> {
        self.map_err(|e| InitError::sys(what(), e))
    }
}

impl<T> Step<T> for std::io::Result<T> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, InitError> {
        self.map_err(|e| match e.raw_os_error() {
            Some(n) => InitError::sys(what(), Errno::from_raw(n)),
            None => InitError::msg(what(), e.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_step_and_errno() {
        let e = InitError::sys("mounting proc on /proc", Errno::EPERM);
        assert_eq!(
            e.to_string(),
            "mounting proc on /proc: operation not permitted"
        );
        let e = InitError::msg("exec: \"nope\"", "executable file not found in $PATH");
        assert_eq!(
            e.to_string(),
            "exec: \"nope\": executable file not found in $PATH"
        );
    }

    #[test]
    fn the_program_exit_code_is_data_not_text() {
        let e = InitError::msg("exec: \"x\"", "whatever the words").of_program(Errno::ENOENT);
        assert_eq!(e.program_exit_code(), Some(127));
        let e = InitError::msg("exec: \"x\"", "no such file").of_program(Errno::EACCES);
        assert_eq!(e.program_exit_code(), Some(126));
        let e = InitError::sys("mounting proc", Errno::ENOENT);
        assert_eq!(e.program_exit_code(), None);
    }
}
