//! Restart policies and Docker's back-off: 100 ms, doubling per consecutive restart, capped
//! at one minute, reset once a run lasted at least ten seconds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `--restart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Policy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// With a maximum retry count (0 = unlimited).
    OnFailure(u32),
}

impl Policy {
    /// Parses Docker's `RestartPolicy {Name, MaximumRetryCount}`.
    pub fn from_docker(name: &str, max_retry: i64) -> Result<Self, String> {
        let max = u32::try_from(max_retry.max(0)).unwrap_or(u32::MAX);
        match name {
            "" | "no" => {
                if max_retry > 0 {
                    return Err("invalid restart policy: maximum retry count can only be used with 'on-failure'".into());
                }
                Ok(Self::No)
            }
            "always" | "unless-stopped" if max_retry > 0 => Err(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                    .into(),
            ),
            "always" => Ok(Self::Always),
            "unless-stopped" => Ok(Self::UnlessStopped),
            "on-failure" => Ok(Self::OnFailure(max)),
            other => Err(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            )),
        }
    }

    /// Whether an exit with `code` leads to a restart. `manually_stopped`: the user stopped or
    /// killed it; `restarts`: restarts so far.
    pub fn should_restart(self, code: i32, manually_stopped: bool, restarts: u32) -> bool {
        if manually_stopped {
            return false;
        }
        match self {
            Self::No => false,
            Self::Always | Self::UnlessStopped => true,
            Self::OnFailure(max) => code != 0 && (max == 0 || restarts < max),
        }
    }

    /// Whether the daemon starts it again when it comes up.
    pub fn restart_on_daemon_start(self, manually_stopped: bool) -> bool {
        match self {
            Self::Always => true,
            Self::UnlessStopped => !manually_stopped,
            _ => false,
        }
    }
}

const INITIAL: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_secs(60);
const STABLE_RUN: Duration = Duration::from_secs(10);

/// The delay before the next restart, given the previous delay and how long the last run
/// lasted.
pub fn next_delay(previous: Option<Duration>, ran_for: Duration) -> Duration {
    match previous {
        _ if ran_for >= STABLE_RUN => INITIAL,
        None => INITIAL,
        Some(d) => (d * 2).min(MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_policies() {
        assert_eq!(Policy::from_docker("", 0), Ok(Policy::No));
        assert_eq!(
            Policy::from_docker("on-failure", 3),
            Ok(Policy::OnFailure(3))
        );
        assert!(Policy::from_docker("always", 2).is_err());
        assert!(
            Policy::from_docker("sometimes", 0)
                .unwrap_err()
                .contains("unknown policy")
        );
    }

    #[test]
    fn decisions() {
        assert!(Policy::Always.should_restart(0, false, 100));
        assert!(!Policy::Always.should_restart(1, true, 0));
        assert!(Policy::OnFailure(2).should_restart(1, false, 1));
        assert!(!Policy::OnFailure(2).should_restart(1, false, 2));
        assert!(!Policy::OnFailure(0).should_restart(0, false, 0));
        assert!(Policy::UnlessStopped.restart_on_daemon_start(false));
        assert!(!Policy::UnlessStopped.restart_on_daemon_start(true));
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let short = Duration::from_millis(5);
        let d1 = next_delay(None, short);
        let d2 = next_delay(Some(d1), short);
        assert_eq!(
            (d1, d2),
            (Duration::from_millis(100), Duration::from_millis(200))
        );
        assert_eq!(next_delay(Some(Duration::from_secs(50)), short), MAX);
        assert_eq!(
            next_delay(Some(Duration::from_secs(50)), Duration::from_secs(11)),
            INITIAL
        );
    }
}
