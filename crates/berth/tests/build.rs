//! Builds (root): the same Dockerfiles through the real docker CLI against `berth daemon`
//! and against a private dockerd (`DOCKER_BUILDKIT=0`), and through `berth build`; compared
//! on image config, history and what the images do. Cache, `.dockerignore`, errors.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // tests: a panic is the report

mod common;

use std::path::Path;
use std::process::Command;

use common::daemon::Daemon;
use common::dockerd::Dockerd;
use common::registry::Registry;
use common::{stderr, stdout};

/// A context directory with `files` (name, content).
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("berth-ctx-")
        .tempdir()
        .unwrap();
    for (name, content) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

fn docker_build(d: &Daemon, dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut c = d.docker();
    c.env("DOCKER_BUILDKIT", "0")
        .arg("build")
        .args(extra)
        .arg(dir);
    common::run_to_files(&mut c)
}

fn berth_build(d: &Daemon, dir: &str, extra: &[&str]) -> std::process::Output {
    let mut c = Command::new(common::berth());
    c.arg("-H")
        .arg(d.host())
        .arg("build")
        .arg("--progress=plain")
        .args(extra)
        .arg(dir);
    common::run_to_files(&mut c)
}

const FULL: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS first
ARG A=b
ENV E1=one E2="two words"
LABEL l1=v1 "l 2"="v 2"
WORKDIR /app
COPY a.txt .
COPY sub /sub/
RUN echo built $A > /built && cat a.txt
USER nobody
EXPOSE 80 53/udp
VOLUME /data
HEALTHCHECK --interval=5s CMD true
STOPSIGNAL SIGTERM
SHELL ["/bin/sh", "-c"]
ONBUILD RUN echo onbuild
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /built /app/a.txt /sub/deep/f; echo $E2"]
MAINTAINER me
"#;

fn inspect(
    run: impl Fn(&[&str]) -> String,
    image: &str,
) -> (serde_json::Value, Vec<(String, bool)>) {
    let cfg: serde_json::Value =
        serde_json::from_str(&run(&["image", "inspect", "-f", "{{json .Config}}", image])).unwrap();
    let hist = run(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        image,
    ]);
    let rows = hist
        .lines()
        .map(|l| {
            let (by, size) = l.rsplit_once('|').unwrap();
            (by.to_owned(), size == "0B")
        })
        .collect();
    (cfg, rows)
}

#[test]
fn builds_like_dockerd() {
    let Some(d) = Daemon::with_busybox("builds_like_dockerd") else {
        return;
    };
    let ctx = context(&[
        ("Dockerfile", FULL),
        ("a.txt", "hello\n"),
        ("sub/deep/f", "x\n"),
    ]);
    let dd = Dockerd::start();
    let mut c = Command::new(common::daemon::docker_bin());
    c.env("DOCKER_HOST", dd.host())
        .env("DOCKER_CONFIG", dd.dir.path().join("cfg"))
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-t", "full", "--build-arg", "A=zz"])
        .arg(ctx.path());
    let o = common::run_to_files(&mut c);
    assert!(o.status.success(), "dockerd build: {}", stderr(&o));
    let o = docker_build(&d, ctx.path(), &["-t", "full", "--build-arg", "A=zz"]);
    assert!(
        o.status.success(),
        "berth build: {}\n{}",
        stdout(&o),
        stderr(&o)
    );
    let out = stdout(&o);
    assert!(out.contains("Step 1/19 : ARG BASE=busybox"), "{out}");
    assert!(
        out.contains("Step 9/19 : RUN echo built $A > /built && cat a.txt"),
        "{out}"
    );
    assert!(out.contains("Successfully tagged full:latest"), "{out}");
    let (mut want, want_hist) = inspect(|a| dd.ok(a), "full");
    let (mut got, got_hist) = inspect(|a| d.ok(a), "full");
    // The parent's id is the only field that differs by construction.
    want["Image"] = serde_json::Value::Null;
    got["Image"] = serde_json::Value::Null;
    assert_eq!(got, want, "Config");
    // History: every row but the imported base, with dockerd's created_by and empty layers.
    assert_eq!(
        got_hist[..got_hist.len() - 1],
        want_hist[..want_hist.len() - 1]
    );
    let run = |r: &dyn Fn(&[&str]) -> String| {
        r(&[
            "run",
            "--rm",
            "--entrypoint",
            "",
            "full",
            "sh",
            "-c",
            "cat /built /app/a.txt /sub/deep/f; id -u; ls -d /app",
        ])
    };
    assert_eq!(run(&|a| d.ok(a)), run(&|a| dd.ok(a)));
}

#[test]
fn unchanged_rebuild_is_a_cache_hit_and_a_change_invalidates_from_its_copy() {
    let Some(d) = Daemon::with_busybox("cache") else {
        return;
    };
    let df = "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCOPY b.txt /b.txt\n";
    let ctx = context(&[("Dockerfile", df), ("a.txt", "a1\n"), ("b.txt", "b\n")]);
    let first = d.ok(&["build", "-q", ctx.path().to_str().unwrap()]);
    let images = d.ok(&["images", "-a", "-q", "--no-trunc"]).lines().count();
    let o = docker_build(&d, ctx.path(), &[]);
    let out = stdout(&o);
    assert_eq!(out.matches(" ---> Using cache").count(), 4, "{out}");
    assert!(
        !out.contains("Running in"),
        "a cache hit runs no container: {out}"
    );
    let second = d.ok(&["build", "-q", ctx.path().to_str().unwrap()]);
    assert_eq!(first, second);
    assert_eq!(
        d.ok(&["images", "-a", "-q", "--no-trunc"]).lines().count(),
        images,
        "no new image"
    );
    std::fs::write(ctx.path().join("a.txt"), "a2\n").unwrap();
    let o = docker_build(&d, ctx.path(), &["-t", "changed"]);
    let out = stdout(&o);
    assert_eq!(
        out.matches(" ---> Using cache").count(),
        1,
        "only the RUN before the COPY: {out}"
    );
    assert_eq!(d.ok(&["run", "--rm", "changed", "cat", "/copy"]), "a2");
    let df_usage = d.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(
        df_usage
            .lines()
            .any(|l| l.starts_with("Build Cache") && !l.ends_with(" 0")),
        "{df_usage}"
    );
    let pruned = d.ok(&["builder", "prune", "-f"]);
    assert!(pruned.contains("Total"), "{pruned}");
    let o = docker_build(&d, ctx.path(), &[]);
    assert!(
        !stdout(&o).contains("Using cache"),
        "prune empties the cache: {}",
        stdout(&o)
    );
}

#[test]
fn dockerignore_keeps_files_out() {
    let Some(d) = Daemon::with_busybox("dockerignore") else {
        return;
    };
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY . /ctx\nRUN find /ctx | sort\n",
        ),
        (".dockerignore", "*.key\nlogs\n!logs/keep.txt\n"),
        ("app.txt", "app"),
        ("secret.key", "s"),
        ("logs/a.log", "l"),
        ("logs/keep.txt", "k"),
    ]);
    for (name, o) in [
        ("docker", docker_build(&d, ctx.path(), &["-t", "ig"])),
        (
            "berth",
            // The docker build above filled the cache; the RUN must print again.
            berth_build(
                &d,
                ctx.path().to_str().unwrap(),
                &["--no-cache", "-t", "ig2"],
            ),
        ),
    ] {
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("/ctx/app.txt") && out.contains("/ctx/logs/keep.txt"),
            "{name}: {out}"
        );
        assert!(
            !out.contains("secret.key") && !out.contains("a.log"),
            "{name}: {out}"
        );
    }
}

#[test]
fn errors_name_what_failed() {
    let Some(d) = Daemon::with_busybox("errors") else {
        return;
    };
    let ctx = context(&[("Dockerfile", "FROM busybox\n  FOO bar\n")]);
    let o = docker_build(&d, ctx.path(), &["-t", "bad"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("dockerfile parse error line 2 column 3: unknown instruction: FOO"),
        "{}",
        stderr(&o)
    );
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo out; echo err >&2; exit 3\n",
    )]);
    let o = docker_build(&d, ctx.path(), &["-t", "failing"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stdout(&o).contains("out") && stdout(&o).contains("err"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains(
            "The command '/bin/sh -c echo out; echo err >&2; exit 3' returned a non-zero code: 3"
        ),
        "{}",
        stderr(&o)
    );
    assert!(
        !d.run(&["image", "inspect", "failing"]).status.success(),
        "a failed build tags nothing"
    );
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY nothere /x\n")]);
    let o = docker_build(&d, ctx.path(), &[]);
    assert!(
        stderr(&o).contains("stat nothere: file does not exist"),
        "{}",
        stderr(&o)
    );
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY ../x /x\n")]);
    let o = docker_build(&d, ctx.path(), &[]);
    assert!(
        stderr(&o).contains("forbidden path outside the build context: ../x"),
        "{}",
        stderr(&o)
    );
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY link /x\n")]);
    std::os::unix::fs::symlink("/etc/hostname", ctx.path().join("link")).unwrap();
    let o = docker_build(&d, ctx.path(), &[]);
    assert!(
        !o.status.success(),
        "a symlink out of the context resolves inside it: {}",
        stdout(&o)
    );
    // An absent base image is pulled; one the registry does not have is its error.
    let reg = Registry::start();
    let df = format!("FROM {}/nosuchimage:1\n", reg.host());
    let ctx = context(&[("Dockerfile", &df)]);
    let o = docker_build(&d, ctx.path(), &[]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));
}

#[test]
fn from_pulls_an_absent_base_and_pull_fetches_a_newer_one() {
    let Some(d) = Daemon::with_busybox("from_pulls_an_absent_base_and_pull_fetches_a_newer_one")
    else {
        return;
    };
    let reg = Registry::start();
    let base = format!("{}/test/base:1", reg.host());
    d.ok(&["tag", "busybox", &base]);
    d.ok(&["push", &base]);
    d.ok(&["rmi", &base]);

    let df = format!("FROM {base}\nRUN echo pulled > /p\n");
    let ctx = context(&[("Dockerfile", &df)]);
    let o = docker_build(&d, ctx.path(), &["-t", "pulled"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(d.ok(&["run", "--rm", "pulled", "cat", "/p"]), "pulled");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.Id}}", &base]),
        d.ok(&["inspect", "-f", "{{.Id}}", "busybox"])
    );

    // A newer base in the registry; the local tag stays on the old one.
    let v2 = context(&[("Dockerfile", "FROM busybox\nRUN echo two > /v2\n")]);
    let o = docker_build(&d, v2.path(), &["-t", &base]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    d.ok(&["push", &base]);
    d.ok(&["tag", "busybox", &base]);
    let df = format!("FROM {base}\nRUN cat /v2\n");
    let ctx = context(&[("Dockerfile", &df)]);
    let o = docker_build(&d, ctx.path(), &[]);
    assert!(
        !o.status.success(),
        "the local base was used: {}",
        stdout(&o)
    );
    let o = docker_build(&d, ctx.path(), &["--pull"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("two"), "{}", stdout(&o));
}

#[test]
fn berth_build_and_docker_build_share_the_cache_on_an_unchanged_context() {
    let Some(d) = Daemon::with_busybox("berth_build_cache") else {
        return;
    };
    let df = "FROM busybox\nCOPY a.txt /a.txt\nCOPY sub /sub/\nRUN cat /a.txt /sub/f\n";
    let ctx = context(&[("Dockerfile", df), ("a.txt", "a\n"), ("sub/f", "f\n")]);
    let dir = ctx.path().to_str().unwrap();
    let o = berth_build(&d, dir, &["-t", "shared"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "shared"]);
    let containers = d.ok(&["ps", "-aq"]);
    let o = berth_build(&d, dir, &["-t", "shared"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stdout(&o).matches(" ---> Using cache").count(),
        3,
        "berth build after berth build: {}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("Running in"), "{}", stdout(&o));
    assert_eq!(d.ok(&["inspect", "-f", "{{.Id}}", "shared"]), id);
    assert_eq!(d.ok(&["ps", "-aq"]), containers);
    let o = docker_build(&d, ctx.path(), &["-t", "shared"]);
    assert_eq!(
        stdout(&o).matches(" ---> Using cache").count(),
        3,
        "docker build after berth build: {}",
        stdout(&o)
    );
    assert_eq!(d.ok(&["inspect", "-f", "{{.Id}}", "shared"]), id);
}

#[test]
fn multi_stage_target_and_skipped_stages() {
    let Some(d) = Daemon::with_busybox("multi_stage") else {
        return;
    };
    let df = "FROM busybox AS base\nRUN echo a > /a\nFROM busybox AS broken\nRUN exit 1\nFROM busybox AS other\nRUN echo o > /o\nFROM base\nCOPY --from=other /o /o\nCOPY --from=busybox /bin/busybox /bb\nRUN cat /a /o\n";
    let ctx = context(&[("Dockerfile", df)]);
    let o = docker_build(&d, ctx.path(), &["-t", "ms"]);
    assert!(
        o.status.success(),
        "the broken stage is not needed: {}\n{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(!stdout(&o).contains("exit 1"), "{}", stdout(&o));
    assert_eq!(d.ok(&["run", "--rm", "ms", "cat", "/a", "/o"]), "a\no");
    let o = docker_build(&d, ctx.path(), &["--target", "broken"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let o = docker_build(&d, ctx.path(), &["--target", "nope"]);
    assert!(
        stderr(&o).contains("failed to reach build target nope"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn berth_build_cli_flags_and_contexts() {
    let Some(d) = Daemon::with_busybox("berth_build_cli") else {
        return;
    };
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nARG V\nLABEL v=$V\nRUN echo $V > /v\n",
        ),
        ("a", "a"),
    ]);
    let iid = ctx.path().join("iid");
    let o = berth_build(
        &d,
        ctx.path().to_str().unwrap(),
        &[
            "-t",
            "c1",
            "-t",
            "c2:x",
            "--build-arg",
            "V=7",
            "--label",
            "extra=1",
            "--iidfile",
            iid.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", "c2:x"]), id);
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{index .Config.Labels \"v\"}} {{index .Config.Labels \"extra\"}}",
            "c1"
        ]),
        "7 1"
    );
    assert_eq!(d.ok(&["run", "--rm", "c1", "cat", "/v"]), "7");
    // -f - : the Dockerfile from stdin, the context from the directory.
    let mut c = Command::new(common::berth());
    c.arg("-H")
        .arg(d.host())
        .args(["build", "-q", "-t", "stdin-df", "-f", "-"])
        .arg(ctx.path());
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        b"FROM busybox\nCOPY a /from-stdin\n",
    )
    .unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        d.ok(&["run", "--rm", "stdin-df", "cat", "/from-stdin"]),
        "a"
    );
    // A git repository as the context.
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        assert!(
            Command::new("git")
                .arg("-C")
                .arg(repo.path())
                .args(args)
                .output()
                .unwrap()
                .status
                .success()
        );
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.path().join("Dockerfile"), "FROM busybox\nCOPY f /f\n").unwrap();
    std::fs::write(repo.path().join("f"), "from git").unwrap();
    git(&["add", "."]);
    git(&[
        "-c",
        "user.email=t@t",
        "-c",
        "user.name=t",
        "commit",
        "-qm",
        "x",
    ]);
    let url = format!("file://{}#main", repo.path().display());
    let o = berth_build(&d, &url, &["-t", "fromgit"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(d.ok(&["run", "--rm", "fromgit", "cat", "/f"]), "from git");
}

#[test]
fn reproducible_builds_give_the_same_digest() {
    let Some(d) = Daemon::with_busybox("reproducible") else {
        return;
    };
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY a /a\nRUN echo x > /x && mkdir /d\n",
        ),
        ("a", "a"),
    ]);
    let one = berth_build(
        &d,
        ctx.path().to_str().unwrap(),
        &["-q", "--no-cache", "--reproducible"],
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let two = berth_build(
        &d,
        ctx.path().to_str().unwrap(),
        &["-q", "--no-cache", "--reproducible"],
    );
    assert!(one.status.success(), "{}", stderr(&one));
    assert_eq!(stdout(&one), stdout(&two));
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Created}}",
            stdout(&one).trim()
        ]),
        "1970-01-01T00:00:00Z"
    );
}

#[test]
fn buildkit_features() {
    let Some(d) = Daemon::with_busybox("buildkit_features") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("served"), "over http\n").unwrap();
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in server.incoming().flatten() {
            let mut s = s;
            // The whole request, so closing does not reset the connection.
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match std::io::Read::read(&mut s, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let _ = std::io::Write::write_all(
                &mut s,
                b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nover http\n",
            );
        }
    });
    let sum = "sha256:3b2f1b0b3d7d3e8d6c1c0bb7d2f0a3e5b0e0e7b1a6c1d7ef0e7e0d4b2a6c9f11";
    let _ = sum;
    let real_sum = {
        use std::io::Write as _;
        let mut c = Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.as_mut().unwrap().write_all(b"over http\n").unwrap();
        let o = c.wait_with_output().unwrap();
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let tarball = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "inner/file", &b"tar"[..]).unwrap();
        b.into_inner().unwrap()
    };
    let df = format!(
        "FROM busybox\nADD --checksum=sha256:{real_sum} http://127.0.0.1:{port}/served /dl/\nADD t.tar /x/\nCOPY <<EOF /heredoc\nhello $HOSTNAME_X\nEOF\nRUN --mount=type=secret,id=tok cat /run/secrets/tok > /seen-len && wc -c < /run/secrets/tok > /seen-len\nRUN --mount=type=cache,target=/cache echo c >> /cache/n && cat /cache/n | wc -l > /cache-count\nRUN --network=none <<SH\nset -e\nip link | grep -c UP > /links || true\nSH\n"
    );
    let ctx = context(&[("Dockerfile", &df)]);
    std::fs::write(ctx.path().join("t.tar"), &tarball).unwrap();
    let secret = ctx.path().join("tok.txt");
    std::fs::write(&secret, "s3cr3t-value").unwrap();
    let o = berth_build(
        &d,
        ctx.path().to_str().unwrap(),
        &[
            "-t",
            "bk",
            "--secret",
            &format!("id=tok,src={}", secret.display()),
        ],
    );
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "bk",
            "cat",
            "/dl/served",
            "/x/inner/file",
            "/heredoc",
            "/seen-len"
        ]),
        "over http\ntarhello \n12"
    );
    let saved = d.dir.path().join("bk.tar");
    d.ok(&["save", "-o", saved.to_str().unwrap(), "bk"]);
    let all = std::fs::read(&saved).unwrap();
    assert!(
        !all.windows(12).any(|w| w == b"s3cr3t-value"),
        "the secret is in no layer"
    );
    assert!(
        d.run(&["run", "--rm", "bk", "ls", "/run/secrets/tok"])
            .status
            .code()
            != Some(0),
        "no mount point left behind"
    );
    let o = berth_build(
        &d,
        ctx.path().to_str().unwrap(),
        &[
            "-t",
            "bk2",
            "--no-cache",
            "--secret",
            &format!("id=tok,src={}", secret.display()),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        d.ok(&["run", "--rm", "bk2", "cat", "/cache-count"]),
        "2",
        "the cache mount persists between builds"
    );
    let bad = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD --checksum=sha256:{} http://127.0.0.1:{port}/served /dl\n",
            "0".repeat(64)
        ),
    )]);
    let o = berth_build(&d, bad.path().to_str().unwrap(), &[]);
    assert!(stderr(&o).contains("digest mismatch"), "{}", stderr(&o));
}
