//! The bearer-token flow against CNCF distribution's `auth: token:` realm, with a small test
//! token server that checks basic credentials and signs RS256 JWTs (openssl) with a key whose
//! certificate is the registry's rootcertbundle.
#![allow(clippy::unwrap_used)] // tests: a panic is the report

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::daemon::Daemon;
use common::registry::free_port;
use common::{require_root, stderr, stdout};

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn openssl(args: &[&str]) {
    let o = Command::new("openssl").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The signing key and the DER of its certificate.
struct Signer {
    key: PathBuf,
    cert_der: Vec<u8>,
}

impl Signer {
    fn new(dir: &Path) -> (Self, PathBuf) {
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=berth test token issuer",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ]);
        let der = dir.join("token.der");
        openssl(&[
            "x509",
            "-in",
            cert.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            der.to_str().unwrap(),
        ]);
        (
            Self {
                key,
                cert_der: std::fs::read(der).unwrap(),
            },
            cert,
        )
    }

    fn jwt(&self, subject: &str, access: &serde_json::Value) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({
            "typ": "JWT", "alg": "RS256",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.cert_der)],
        });
        let claims = serde_json::json!({
            "iss": "berth-test-issuer", "sub": subject, "aud": "berth-test-registry",
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{subject}"),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(signing_input.as_bytes())
            .unwrap();
        let sig = child.wait_with_output().unwrap().stdout;
        format!("{signing_input}.{}", b64(&sig))
    }
}

fn query_param(query: &str, key: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves `GET /token`: basic credentials `alice:tok3n` get every scope they ask for;
/// anonymous requests get an empty grant; wrong credentials a 401.
fn token_server(signer: Signer, seen: Arc<Mutex<Vec<String>>>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let good = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:tok3n")
    );
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = vec![0u8; 16384];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let target = req.split_whitespace().nth(1).unwrap_or("").to_owned();
            let query = target.split_once('?').map_or("", |(_, q)| q).to_owned();
            let auth = req
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Authorization: ")
                        .or_else(|| l.strip_prefix("authorization: "))
                })
                .map(str::trim)
                .map(str::to_owned);
            let scopes = query_param(&query, "scope");
            seen.lock().unwrap().extend(scopes.iter().cloned());
            let (status, body) = match auth.as_deref() {
                Some(a) if a != good => (
                    "401 Unauthorized",
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#
                        .to_owned(),
                ),
                a => {
                    let access: Vec<serde_json::Value> = if a.is_some() {
                        scopes
                            .iter()
                            .filter_map(|s| {
                                let mut p = s.splitn(3, ':');
                                let (t, name, actions) = (p.next()?, p.next()?, p.next()?);
                                Some(serde_json::json!({"type": t, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let token = signer.jwt(
                        if a.is_some() { "alice" } else { "" },
                        &serde_json::json!(access),
                    );
                    (
                        "200 OK",
                        serde_json::json!({"token": token, "expires_in": 300}).to_string(),
                    )
                }
            };
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

struct TokenRegistry {
    _dir: tempfile::TempDir,
    port: u16,
    child: std::process::Child,
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(bundle: &Path, token_port: u16) -> TokenRegistry {
    let dir = tempfile::Builder::new()
        .prefix("berth-treg-")
        .tempdir_in("/tmp")
        .unwrap();
    let port = free_port();
    let yml = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: berth-test-registry\n    issuer: berth-test-issuer\n    rootcertbundle: {}\n",
        dir.path().join("data").display(),
        bundle.display()
    );
    std::fs::write(dir.path().join("config.yml"), yml).unwrap();
    let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.path().join("config.yml"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    TokenRegistry {
        _dir: dir,
        port,
        child,
    }
}

#[test]
fn token_auth_registry_with_scopes() {
    if !require_root("token_auth_registry_with_scopes") {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let (signer, bundle) = Signer::new(keys.path());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let token_port = token_server(signer, seen.clone());
    let reg = start_registry(&bundle, token_port);
    let host = format!("127.0.0.1:{}", reg.port);
    let d = Daemon::start();
    d.import_busybox();
    let cfg = d.dir.path().join("cfg");
    let berth = |args: &[&str], input: &str| {
        let mut c = Command::new(common::berth())
            .arg("-H")
            .arg(d.host())
            .env("DOCKER_CONFIG", &cfg)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    let target = format!("{host}/tok/box:1");
    d.ok(&["tag", "busybox:latest", &target]);

    // Anonymous: the token grants nothing, the registry refuses.
    let o = berth(&["push", &target], "");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unauthorized") || stderr(&o).contains("denied"),
        "{}",
        stderr(&o)
    );

    let o = berth(
        &["login", "-u", "alice", "--password-stdin", &host],
        "wrong\n",
    );
    assert!(!o.status.success(), "{}", stdout(&o));
    let o = berth(
        &["login", "-u", "alice", "--password-stdin", &host],
        "tok3n\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let o = berth(&["push", &target], "");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|s| s == "repository:tok/box:pull,push"),
        "{:?}",
        seen.lock().unwrap()
    );
    d.ok(&["rmi", &target]);
    let o = berth(&["pull", &target], "");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|s| s == "repository:tok/box:pull")
    );
}
