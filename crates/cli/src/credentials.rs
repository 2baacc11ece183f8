//! Registry credentials kept as the docker CLI keeps them: `$DOCKER_CONFIG/config.json`
//! (default `~/.docker/config.json`), `auths` entries of base64 `user:password`, or a
//! credential helper (`credsStore`, per-registry `credHelpers`) speaking the
//! `docker-credential-*` protocol. What berth writes is mode 0600, replaced atomically, and
//! keeps every key it does not know.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// One registry's credentials (the API's AuthConfig).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Auth {
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) identity_token: String,
    pub(crate) server: String,
}

impl Auth {
    /// The `X-Registry-Auth` header value (base64url of the JSON).
    pub(crate) fn header(&self) -> String {
        let v = json!({
            "username": self.username,
            "password": self.password,
            "serveraddress": self.server,
            "identitytoken": self.identity_token,
        });
        base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
    }
}

/// Docker Hub's key in `auths`.
pub(crate) const HUB: &str = "https://index.docker.io/v1/";

/// The `auths` key of a registry host (`docker.io` → Docker Hub's URL).
pub(crate) fn server_key(host: &str) -> String {
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => HUB.to_owned(),
        h => h
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned(),
    }
}

/// The registry host of an image reference (`busybox` → `docker.io`).
pub(crate) fn host_of(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.to_owned(),
        _ => "docker.io".to_owned(),
    }
}

pub(crate) fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return d.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

fn config_path() -> PathBuf {
    config_dir().join("config.json")
}

fn load() -> Result<Map<String, Value>> {
    let p = config_path();
    match std::fs::read(&p) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(Value::Object(m)) => Ok(m),
            _ => bail!("{} is not a JSON object; fix or remove it", p.display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// `config.json` as a JSON object (empty if there is none).
pub(crate) fn load_config() -> Result<Map<String, Value>> {
    load()
}

/// Replaces `config.json`, keeping what the caller kept of it.
pub(crate) fn save_config(cfg: &Map<String, Value>) -> Result<()> {
    save(cfg)
}

/// Writes the config: temp file (0600) in the same directory, fsync, rename.
fn save(cfg: &Map<String, Value>) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = config_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    let mut data = serde_json::to_vec_pretty(&Value::Object(cfg.clone()))?;
    data.push(b'\n');
    f.write_all(&data)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, config_path())
        .with_context(|| format!("writing {}", config_path().display()))?;
    Ok(())
}

/// The helper for `server` (`credHelpers` first, then `credsStore`).
fn helper_for(cfg: &Map<String, Value>, server: &str) -> Option<String> {
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    cfg.get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|h| h.get(server).or_else(|| h.get(host)))
        .or_else(|| cfg.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Runs `docker-credential-<helper> <action>` with `input` on stdin.
fn run_helper(helper: &str, action: &str, input: &str) -> Result<(bool, String)> {
    let bin = format!("docker-credential-{helper}");
    let mut child = Command::new(&bin)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "running {bin} (credsStore/credHelpers in {})",
                config_path().display()
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((out.status.success(), text))
}

/// The stored credentials for a registry host (empty when none).
pub(crate) fn get(host: &str) -> Result<Auth> {
    let server = server_key(host);
    let cfg = load()?;
    if let Some(helper) = helper_for(&cfg, &server) {
        let (ok, out) = run_helper(&helper, "get", &server)?;
        if !ok {
            // "credentials not found in native keychain": anonymous.
            return Ok(Auth {
                server,
                ..Auth::default()
            });
        }
        let v: Value =
            serde_json::from_str(&out).context("parsing the credential helper's answer")?;
        let user = v["Username"].as_str().unwrap_or("").to_owned();
        let secret = v["Secret"].as_str().unwrap_or("").to_owned();
        // Docker's convention: the user "<token>" means the secret is an identity token.
        return Ok(if user == "<token>" {
            Auth {
                identity_token: secret,
                server,
                ..Auth::default()
            }
        } else {
            Auth {
                username: user,
                password: secret,
                server,
                ..Auth::default()
            }
        });
    }
    let entry = cfg.get("auths").and_then(Value::as_object).and_then(|a| {
        a.get(&server)
            .or_else(|| a.get(&format!("https://{server}")))
            .or_else(|| a.get(&format!("http://{server}")))
    });
    let Some(entry) = entry else {
        return Ok(Auth {
            server,
            ..Auth::default()
        });
    };
    let mut out = Auth {
        server,
        identity_token: entry["identitytoken"].as_str().unwrap_or("").to_owned(),
        ..Auth::default()
    };
    if let Some(a) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a)
            .context("decoding an auths entry of the docker config")?;
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (u, p) = raw.split_once(':').unwrap_or((&raw, ""));
        out.username = u.to_owned();
        out.password = p.to_owned();
    }
    Ok(out)
}

/// Stores credentials (through the helper when one is configured).
pub(crate) fn store(auth: &Auth) -> Result<()> {
    let mut cfg = load()?;
    let server = server_key(&auth.server);
    if let Some(helper) = helper_for(&cfg, &server) {
        let (user, secret) = if auth.identity_token.is_empty() {
            (auth.username.as_str(), auth.password.as_str())
        } else {
            ("<token>", auth.identity_token.as_str())
        };
        let input = json!({"ServerURL": server, "Username": user, "Secret": secret}).to_string();
        let (ok, out) = run_helper(&helper, "store", &input)?;
        if !ok {
            bail!("error storing credentials - err: docker-credential-{helper}: {out}");
        }
        // The docker CLI leaves an empty entry in auths so `docker info`-like tools list it.
        auths_mut(&mut cfg).insert(server, json!({}));
        return save(&cfg);
    }
    let mut entry = Map::new();
    if auth.identity_token.is_empty() {
        let raw = format!("{}:{}", auth.username, auth.password);
        entry.insert(
            "auth".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(raw)),
        );
    } else {
        entry.insert("identitytoken".into(), json!(auth.identity_token));
    }
    auths_mut(&mut cfg).insert(server, Value::Object(entry));
    save(&cfg)
}

/// Forgets a registry's credentials; false when there were none.
pub(crate) fn erase(host: &str) -> Result<bool> {
    let mut cfg = load()?;
    let server = server_key(host);
    if let Some(helper) = helper_for(&cfg, &server) {
        let _ = run_helper(&helper, "erase", &server)?;
    }
    let removed = auths_mut(&mut cfg).remove(&server).is_some();
    if removed {
        save(&cfg)?;
    }
    Ok(removed)
}

fn auths_mut(cfg: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let v = cfg.entry("auths").or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    v.as_object_mut()
        .unwrap_or_else(|| unreachable!("just made an object"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_hosts_like_docker() {
        assert_eq!(server_key("docker.io"), HUB);
        assert_eq!(server_key("localhost:5000"), "localhost:5000");
        assert_eq!(host_of("busybox"), "docker.io");
        assert_eq!(host_of("user/app"), "docker.io");
        assert_eq!(host_of("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000");
        assert_eq!(host_of("localhost/x"), "localhost");
    }
}
