//! Which daemon to talk to, and starting berth's own daemon when it is not running.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::client::Client;

/// berth's own daemon socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth.sock";
const DAEMON_LOG: &str = "/var/log/berth.log";

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `host:port` for plain HTTP.
    Tcp(String),
}

/// `-H`, else `BERTH_HOST`, else `DOCKER_HOST`, else berth's default socket.
pub fn select(flag: Option<&str>) -> String {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    flag.map(String::from)
        .or_else(|| env("BERTH_HOST"))
        .or_else(|| env("DOCKER_HOST"))
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

pub fn parse(host: &str) -> Result<Endpoint> {
    if let Some(p) = host.strip_prefix("unix://") {
        return Ok(Endpoint::Unix(PathBuf::from(p)));
    }
    if host.starts_with('/') {
        return Ok(Endpoint::Unix(PathBuf::from(host)));
    }
    for scheme in ["tcp://", "http://"] {
        if let Some(a) = host.strip_prefix(scheme) {
            let a = a.trim_end_matches('/');
            let a = if a.contains(':') {
                a.to_string()
            } else {
                format!("{a}:2375")
            };
            return Ok(Endpoint::Tcp(a));
        }
    }
    bail!("unsupported host {host:?}: expected unix:///path or tcp://host:port")
}

/// Connects (starting berth's daemon if that is the default and it is down) and negotiates the
/// API version.
pub async fn connect(host: &str) -> Result<Client> {
    let endpoint = parse(host)?;
    if let Err(e) = crate::client::probe(&endpoint).await {
        if should_autostart(host, &e) {
            if let Endpoint::Unix(path) = &endpoint {
                start_daemon(path).await?;
            }
        } else {
            return Err(cannot_connect(host));
        }
    }
    let client = Client::new(host, endpoint)?;
    client.negotiate().await.map_err(|_| cannot_connect(host))
}

fn cannot_connect(host: &str) -> anyhow::Error {
    crate::StatusError::new(
        1,
        format!("Cannot connect to the Docker daemon at {host}. Is the docker daemon running?"),
    )
    .into()
}

fn should_autostart(host: &str, e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    host == DEFAULT_HOST
        && nix::unistd::geteuid().is_root()
        && matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused)
}

async fn start_daemon(socket: &Path) -> Result<()> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe()?;
    let (out, log) = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(DAEMON_LOG)
    {
        Ok(f) => (Stdio::from(f), DAEMON_LOG),
        Err(_) => (Stdio::null(), "/dev/null"),
    };
    let err = match std::fs::OpenOptions::new().append(true).open(log) {
        Ok(f) => Stdio::from(f),
        Err(_) => Stdio::null(),
    };
    // A process group of its own keeps terminal signals (ctrl-c on this client) away from the
    // daemon; the daemon outlives us and is reparented to init when we exit.
    Command::new(exe)
        .arg("daemon")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()?;
    eprintln!("berth: started the daemon (log: {log})");
    let endpoint = Endpoint::Unix(socket.to_path_buf());
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if crate::client::ping(&endpoint).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(cannot_connect(&format!("unix://{}", socket.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        assert_eq!(
            parse("unix:///run/berth.sock").ok(),
            Some(Endpoint::Unix("/run/berth.sock".into()))
        );
        assert_eq!(
            parse("tcp://1.2.3.4:2375").ok(),
            Some(Endpoint::Tcp("1.2.3.4:2375".into()))
        );
        assert_eq!(parse("tcp://h").ok(), Some(Endpoint::Tcp("h:2375".into())));
        assert!(parse("ssh://x").is_err());
        assert_eq!(select(Some("unix:///x")), "unix:///x");
    }
}
