//! Health checks (`--health-*`, image HEALTHCHECK): the probe settings and the state Docker
//! reports (`starting` → `healthy` / `unhealthy`, failing streak, the last five results).

use std::time::Duration;

use bollard_stubs::models::HealthConfig;
use serde::{Deserialize, Serialize};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
const KEPT_RESULTS: usize = 5;
/// Output kept per probe, as Docker.
pub const MAX_OUTPUT: usize = 4096;

/// A usable probe configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
}

fn dur(ns: Option<i64>, default: Duration) -> Duration {
    match ns {
        Some(n) if n > 0 => Duration::from_nanos(u64::try_from(n).unwrap_or(0)),
        _ => default,
    }
}

impl Probe {
    /// `None` when there is no check (no config, or `NONE`).
    pub fn from_config(c: &HealthConfig) -> Option<Self> {
        let test = c.test.clone().unwrap_or_default();
        let argv = match test.first().map(String::as_str) {
            Some("CMD") => test[1..].to_vec(),
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
            _ => return None,
        };
        if argv.is_empty() {
            return None;
        }
        Some(Self {
            argv,
            interval: dur(c.interval, DEFAULT_INTERVAL),
            timeout: dur(c.timeout, DEFAULT_TIMEOUT),
            retries: c
                .retries
                .and_then(|r| u32::try_from(r).ok())
                .filter(|r| *r > 0)
                .unwrap_or(DEFAULT_RETRIES),
            start_period: dur(c.start_period, Duration::ZERO),
        })
    }
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// What `docker inspect` shows under State.Health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthState {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<ProbeResult>,
}

impl Default for HealthState {
    fn default() -> Self {
        Self {
            status: "starting".into(),
            failing_streak: 0,
            log: Vec::new(),
        }
    }
}

impl HealthState {
    /// Records a probe; failures inside the start period do not count unless the container
    /// was already healthy. Returns true when the status changed.
    pub fn record(&mut self, result: ProbeResult, retries: u32, in_start_period: bool) -> bool {
        let before = self.status.clone();
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = "healthy".into();
        } else if !in_start_period || self.status == "healthy" {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = "unhealthy".into();
            }
        }
        self.log.push(result);
        if self.log.len() > KEPT_RESULTS {
            self.log.remove(0);
        }
        before != self.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(code: i64) -> ProbeResult {
        ProbeResult {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn parses_probe_forms() {
        let c = HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), "true".into()]),
            interval: Some(1_000_000_000),
            ..Default::default()
        };
        let p = Probe::from_config(&c).unwrap();
        assert_eq!(p.argv, ["/bin/sh", "-c", "true"]);
        assert_eq!((p.interval, p.retries), (Duration::from_secs(1), 3));
        assert!(
            Probe::from_config(&HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..Default::default()
            })
            .is_none()
        );
    }

    #[test]
    fn streaks_and_start_period() {
        let mut h = HealthState::default();
        assert!(
            !h.record(res(1), 2, true),
            "start period failures do not count"
        );
        assert_eq!(h.failing_streak, 0);
        assert!(h.record(res(0), 2, true));
        assert_eq!(h.status, "healthy");
        h.record(res(1), 2, false);
        assert_eq!(h.status, "healthy");
        assert!(h.record(res(1), 2, false));
        assert_eq!(h.status, "unhealthy");
        for _ in 0..10 {
            h.record(res(1), 2, false);
        }
        assert_eq!(h.log.len(), 5);
    }
}
