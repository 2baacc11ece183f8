//! Debian's `docker-registry` (CNCF distribution) on 127.0.0.1:<free port> in a temp dir,
//! optionally with htpasswd auth or TLS; and a test proxy in front of it that can corrupt
//! blobs, break manifests or trickle bytes. Everything stops on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub(crate) struct Registry {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) port: u16,
    child: Child,
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Default)]
pub(crate) struct Options {
    /// (user, password) for htpasswd (bcrypt) auth.
    pub(crate) htpasswd: Option<(String, String)>,
    /// (certificate, key) PEM paths for TLS.
    pub(crate) tls: Option<(String, String)>,
}

impl Registry {
    pub(crate) fn start() -> Self {
        Self::start_with(Options::default())
    }

    pub(crate) fn start_with(opts: Options) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-reg-")
            .tempdir_in("/tmp")
            .unwrap();
        let port = free_port();
        let mut yml = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = &opts.tls {
            yml.push_str(&format!(
                "  tls:\n    certificate: {cert}\n    key: {key}\n"
            ));
        }
        if let Some((user, pass)) = &opts.htpasswd {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .expect("htpasswd (apache2-utils, see scripts/setup.sh)");
            assert!(out.status.success());
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).unwrap();
            yml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                file.display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, yml).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry (package docker-registry)");
        let r = Self { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the proxy does to answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Flips a byte in the middle of every blob body.
    CorruptBlobs,
    /// Serves `{"schemaVersion":2,` cut short for every manifest.
    TruncateManifests,
    /// Sends blob bodies in small pieces with pauses (for kill -9 mid-pull).
    Trickle,
}

/// A one-request-per-connection HTTP proxy to a registry.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub(crate) fn start(upstream: u16, mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((c, _)) => {
                        let stop3 = stop2.clone();
                        std::thread::spawn(move || {
                            let _ = serve(c, upstream, mode, &stop3);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { port, stop }
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads one request head (and its body, by Content-Length).
fn read_request(c: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        let n = c.read(&mut b)?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&b[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = c.read(&mut b)?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&b[..n]);
            }
            return Ok(buf);
        }
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn serve(mut c: TcpStream, upstream: u16, mode: Mode, stop: &AtomicBool) -> std::io::Result<()> {
    // A TLS hello (clients try HTTPS first): refuse, as a plain HTTP server effectively does.
    let mut first = [0u8; 1];
    if c.peek(&mut first)? == 1 && first[0] == 0x16 {
        return Ok(());
    }
    let req = read_request(&mut c)?;
    let end = find(&req, b"\r\n\r\n").unwrap_or(req.len());
    let head = String::from_utf8_lossy(&req[..end]).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    // One request per connection: rewrite keep-alive away.
    let mut new_head: Vec<String> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(str::to_owned)
        .collect();
    new_head.push("Connection: close".into());
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.write_all(new_head.join("\r\n").as_bytes())?;
    up.write_all(b"\r\n\r\n")?;
    up.write_all(&req[(end + 4).min(req.len())..])?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    let hend = find(&resp, b"\r\n\r\n").map_or(resp.len(), |e| e + 4);
    let (rhead, body) = resp.split_at(hend);
    let mut body = body.to_vec();
    let is_blob = path.contains("/blobs/sha256:") && !head.starts_with("HEAD");
    let is_manifest = path.contains("/manifests/") && head.starts_with("GET");
    match mode {
        Mode::CorruptBlobs if is_blob && !body.is_empty() => {
            let mid = body.len() / 2;
            body[mid] ^= 0xff;
        }
        Mode::TruncateManifests if is_manifest => {
            body = b"{\"schemaVersion\":2,".to_vec();
            let rhead = String::from_utf8_lossy(rhead)
                .lines()
                .filter(|l| {
                    let l = l.to_ascii_lowercase();
                    !l.starts_with("content-length:") && !l.starts_with("docker-content-digest:")
                })
                .collect::<Vec<_>>()
                .join("\r\n");
            c.write_all(rhead.trim_end().as_bytes())?;
            c.write_all(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes())?;
            return c.write_all(&body);
        }
        Mode::Trickle if is_blob => {
            c.write_all(rhead)?;
            for piece in body.chunks(16 * 1024) {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                c.write_all(piece)?;
                std::thread::sleep(Duration::from_millis(50));
            }
            return Ok(());
        }
        _ => {}
    }
    c.write_all(rhead)?;
    c.write_all(&body)
}

/// Makes a CA and a server certificate for 127.0.0.1 in `dir`: (ca.crt, server.crt, server.key).
pub(crate) fn make_tls(dir: &Path, name: &str) -> (String, String, String) {
    let p = |f: &str| {
        dir.join(format!("{name}-{f}"))
            .to_string_lossy()
            .into_owned()
    };
    let run = |args: &[&str]| {
        let o = Command::new("openssl").args(args).output().unwrap();
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=berth test CA",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.crt"),
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]);
    let ext = p("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.crt"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-out",
        &p("server.crt"),
    ]);
    (p("ca.crt"), p("server.crt"), p("server.key"))
}
