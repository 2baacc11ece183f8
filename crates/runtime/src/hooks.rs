//! OCI hooks: host programs run at fixed points of the lifecycle with the container's state
//! on stdin.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks, Spec};

/// The lifecycle points, named as in the runtime spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl HookKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Prestart => "prestart",
            Self::CreateRuntime => "createRuntime",
            Self::CreateContainer => "createContainer",
            Self::StartContainer => "startContainer",
            Self::Poststart => "poststart",
            Self::Poststop => "poststop",
        }
    }

    fn select(self, hooks: &Hooks) -> Option<&Vec<Hook>> {
        #[allow(deprecated)]
        match self {
            Self::Prestart => hooks.prestart().as_ref(),
            Self::CreateRuntime => hooks.create_runtime().as_ref(),
            Self::CreateContainer => hooks.create_container().as_ref(),
            Self::StartContainer => hooks.start_container().as_ref(),
            Self::Poststart => hooks.poststart().as_ref(),
            Self::Poststop => hooks.poststop().as_ref(),
        }
    }
}

/// The hooks of `kind` in `spec`, possibly none.
pub(crate) fn of(spec: &Spec, kind: HookKind) -> &[Hook] {
    spec.hooks()
        .as_ref()
        .and_then(|h| kind.select(h))
        .map_or(&[], Vec::as_slice)
}

/// A failed hook: its index, path and what went wrong.
#[derive(Debug)]
pub(crate) struct HookFailure {
    pub(crate) index: usize,
    pub(crate) path: String,
    pub(crate) detail: String,
}

/// Runs each hook in order, stopping at the first failure.
pub(crate) fn run(hooks: &[Hook], state_json: &[u8]) -> Result<(), HookFailure> {
    for (index, hook) in hooks.iter().enumerate() {
        run_one(hook, state_json).map_err(|detail| HookFailure {
            index,
            path: hook.path().display().to_string(),
            detail,
        })?;
    }
    Ok(())
}

fn run_one(hook: &Hook, state_json: &[u8]) -> Result<(), String> {
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some((arg0, rest)) = args.split_first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, arg0);
        cmd.args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("starting: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state_json);
    }
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(u64::try_from(t.max(1)).unwrap_or(1)));
    loop {
        match child.try_wait().map_err(|e| format!("waiting: {e}"))? {
            Some(status) if status.success() => return Ok(()),
            Some(status) => {
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                return Err(format!(
                    "{status}, stdout: {}, stderr: {}",
                    String::from_utf8_lossy(&out.stdout).trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            None if deadline.is_some_and(|d| Instant::now() >= d) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("timed out".into());
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn hook_gets_state_on_stdin_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {} && echo $X >> {}"],"env":["X=42"]}}"#,
            out.display(),
            out.display()
        ));
        run(&[h], b"{\"id\":\"c\"}\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(out).unwrap(),
            "{\"id\":\"c\"}\n42\n"
        );
    }

    #[test]
    fn failing_and_slow_hooks_are_reported() {
        let fail = hook(r#"{"path":"/bin/sh","args":["sh","-c","echo oops >&2; exit 3"]}"#);
        let err = run(&[fail], b"{}").unwrap_err();
        assert_eq!(err.index, 0);
        assert!(err.detail.contains("oops"), "{}", err.detail);
        let slow = hook(r#"{"path":"/bin/sleep","args":["sleep","5"],"timeout":1}"#);
        assert_eq!(run(&[slow], b"{}").unwrap_err().detail, "timed out");
    }
}
