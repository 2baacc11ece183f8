//! `berth daemon -H tcp://... --tlsverify`: the docker CLI connects with a client certificate
//! signed by the CA, and is refused without one (root; needs openssl to make the certificates).
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::path::Path;
use std::process::Command;

use common::daemon::{Daemon, docker_bin};
use common::{require_root, run_to_files, stderr, stdout};

fn openssl(dir: &Path, args: &str) {
    let o = Command::new("sh")
        .current_dir(dir)
        .args(["-ec", &format!("openssl {args}")])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as Docker's docs make them.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca-key.pem -out ca.pem",
    );
    openssl(
        dir,
        "req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr",
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        "x509 -req -days 2 -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server-cert.pem -extfile server.ext",
    );
    openssl(
        dir,
        "req -newkey rsa:2048 -nodes -subj /CN=client -keyout key.pem -out client.csr",
    );
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage = clientAuth\n").unwrap();
    openssl(
        dir,
        "x509 -req -days 2 -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -extfile client.ext",
    );
}

#[test]
fn tlsverify_requires_a_client_certificate() {
    if !require_root("tls") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("tcp://127.0.0.1:{port}");
    let p = |f: &str| certs.path().join(f).to_str().unwrap().to_owned();
    let d = Daemon::start_with(&[
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        &p("ca.pem"),
        "--tlscert",
        &p("server-cert.pem"),
        "--tlskey",
        &p("server-key.pem"),
    ]);
    let docker = |args: &[&str]| {
        run_to_files(
            Command::new(docker_bin())
                .env_remove("DOCKER_HOST")
                .env("DOCKER_CONFIG", d.dir.path())
                .args(args),
        )
    };
    let o = docker(&[
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        &p("ca.pem"),
        "--tlscert",
        &p("cert.pem"),
        "--tlskey",
        &p("key.pem"),
        "version",
        "--format",
        "{{.Server.Os}}",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "linux");
    // No client certificate: the handshake is refused.
    let o = docker(&[
        "-H",
        &host,
        "--tls",
        "--tlscacert",
        &p("ca.pem"),
        "version",
        "--format",
        "{{.Server.Os}}",
    ]);
    assert!(
        !o.status.success(),
        "connected without a client certificate"
    );
    // Plain HTTP on the TLS port gets nothing either.
    let o = docker(&["-H", &host, "version", "--format", "{{.Server.Os}}"]);
    assert!(!o.status.success());
}
