//! Crash consistency by fault injection, and a soak (issue 14), through the real docker CLI
//! against `berth daemon` (root).
//!
//! `kill_the_daemon_at_random_points`: each round picks an operation from [`OPS`], starts it,
//! `kill -9`s the daemon at a random moment of it (the delay is drawn over the operation's
//! own measured duration), restarts the daemon and checks the invariants in [`check`]: every
//! record parses and nothing was moved aside, every image's layers and config exist, names
//! are unique, no mount, veth, nft element, cgroup, netns file or run directory is left
//! without a running container, and containers that were running still run, attach and log.
//!
//! * `BERTH_CRASH_KILLS` (default 30, what CI runs) and `BERTH_CRASH_SEED` (printed at the
//!   start of every run, to replay one): `bench/crash.sh 300` runs hundreds;
//!   `BERTH_CRASH_ONLY=start,pull` draws only those operations.
//! * Adding an operation is one entry in
//!   [`OPS`]: a name and a function that prepares what the operation needs (outside the
//!   kill window) and returns the docker command lines to run under it.
//!
//! `soak`: mixed operations for `BERTH_SOAK_SECS` (default 30: the CI smoke; `bench/soak.sh`
//! runs 600), sampling the daemon's RSS and open fds; both must stay flat.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::too_many_lines)] // tests

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::{require_root, stdout};

/// xorshift64*: reproducible from the printed seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        if v.is_empty() {
            None
        } else {
            Some(&v[usize::try_from(self.below(v.len() as u64)).unwrap()])
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The daemon under test and what the rounds made.
struct World {
    d: Daemon,
    rng: Rng,
    seq: u32,
    /// `docker save` archives of images that are not loaded (load makes them).
    saved: Vec<(String, PathBuf)>,
    /// A busybox root filesystem tar (import makes a new image of it, with a unique file).
    rootfs: PathBuf,
    /// Images in `registry` that are not present (pull makes them).
    pushed: Vec<String>,
    /// Debian's docker-registry on loopback, for pull.
    registry: common::registry::Registry,
    /// The long-running container that must survive every kill.
    ticker: String,
    last_tick: u64,
}

impl World {
    fn fresh(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}{}", self.seq)
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        self.d.run(args)
    }

    fn lines(&self, args: &[&str]) -> Vec<String> {
        stdout(&self.docker(args))
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Containers by state: `(id, name, state)`.
    fn containers(&self) -> Vec<(String, String, String)> {
        self.lines(&[
            "ps",
            "-a",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Names}} {{.State}}",
        ])
        .into_iter()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((
                it.next()?.to_owned(),
                it.next()?.to_owned(),
                it.next()?.to_owned(),
            ))
        })
        .collect()
    }

    fn with_state(&mut self, states: &[&str]) -> Option<String> {
        let ticker = self.ticker.clone();
        let ids: Vec<String> = self
            .containers()
            .into_iter()
            .filter(|(id, _, s)| states.contains(&s.as_str()) && *id != ticker)
            .map(|(id, ..)| id)
            .collect();
        self.rng.pick(&ids).cloned()
    }

    fn running(&mut self) -> Option<String> {
        self.with_state(&["running"])
    }

    /// Some image made by the rounds (commit, import, load), not busybox.
    fn own_image(&mut self) -> Option<String> {
        let imgs: Vec<String> = self
            .lines(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .into_iter()
            .filter(|i| !i.starts_with("busybox") && !i.starts_with("<none>"))
            .collect();
        self.rng.pick(&imgs).cloned()
    }

    /// The user networks the rounds made.
    fn networks(&self) -> Vec<String> {
        self.lines(&["network", "ls", "--format", "{{.Name}}"])
            .into_iter()
            .filter(|v| v.starts_with("net"))
            .collect()
    }

    fn ensure_running(&mut self) -> String {
        if let Some(id) = self.running() {
            return id;
        }
        let name = self.fresh("run");
        self.d
            .ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100000"])
    }
}

/// One kind of operation: `prepare` sets up what it needs (not under the kill) and returns
/// the docker command lines to run concurrently under it.
struct Op {
    name: &'static str,
    prepare: fn(&mut World) -> Vec<Vec<String>>,
}

fn cmd(args: &[&str]) -> Vec<Vec<String>> {
    vec![args.iter().map(ToString::to_string).collect()]
}

const OPS: &[Op] = &[
    Op {
        name: "create",
        prepare: |w| {
            let n = w.fresh("c");
            cmd(&[
                "create", "--name", &n, "-v", "/anon", "busybox", "sleep", "100000",
            ])
        },
    },
    Op {
        name: "run",
        prepare: |w| {
            let n = w.fresh("r");
            cmd(&[
                "run", "-d", "--name", &n, "-p", "80", "busybox", "sleep", "100000",
            ])
        },
    },
    Op {
        name: "start",
        prepare: |w| {
            let id = match w.with_state(&["created", "exited"]) {
                Some(id) => id,
                None => {
                    let n = w.fresh("s");
                    w.d.ok(&["create", "--name", &n, "busybox", "sleep", "100000"])
                }
            };
            cmd(&["start", &id])
        },
    },
    Op {
        name: "stop",
        prepare: |w| {
            let id = w.ensure_running();
            cmd(&["stop", "-t", "1", &id])
        },
    },
    Op {
        name: "rm",
        prepare: |w| {
            let id = w
                .with_state(&["created", "exited", "running"])
                .unwrap_or_else(|| {
                    let n = w.fresh("x");
                    w.d.ok(&["create", "--name", &n, "busybox", "true"])
                });
            cmd(&["rm", "-f", "-v", &id])
        },
    },
    Op {
        name: "exec",
        prepare: |w| {
            let id = w.ensure_running();
            let c = ["exec", &id, "sh", "-c", "echo x; sleep 0.1"];
            let one: Vec<String> = c.iter().map(ToString::to_string).collect();
            vec![one.clone(), one]
        },
    },
    Op {
        name: "commit",
        prepare: |w| {
            let id = w.ensure_running();
            w.d.ok(&["exec", &id, "sh", "-c", "date > /stamp"]);
            let tag = w.fresh("commit:");
            cmd(&["commit", &id, &tag])
        },
    },
    Op {
        name: "load",
        prepare: |w| {
            let i = usize::try_from(w.rng.below(w.saved.len() as u64)).unwrap();
            let (tag, tar) = w.saved[i].clone();
            let _ = w.docker(&["rmi", "-f", &tag]);
            cmd(&["load", "-i", tar.to_str().unwrap()])
        },
    },
    Op {
        name: "import",
        prepare: |w| {
            let tag = w.fresh("imported:");
            let tar = unique_rootfs(&w.rootfs, &w.d.dir.path().join("import.tar"), w.seq);
            cmd(&["import", tar.to_str().unwrap(), &tag])
        },
    },
    Op {
        name: "rmi",
        prepare: |w| match w.own_image() {
            Some(img) => cmd(&["rmi", "-f", &img]),
            None => cmd(&["images", "-q"]),
        },
    },
    Op {
        name: "volume",
        prepare: |w| {
            let n = w.fresh("vol");
            let old: Vec<String> = w
                .lines(&["volume", "ls", "-q"])
                .into_iter()
                .filter(|v| v.starts_with("vol"))
                .collect();
            let mut c = cmd(&["volume", "create", &n]);
            if let Some(v) = w.rng.pick(&old) {
                c.extend(cmd(&["volume", "rm", v]));
            }
            c
        },
    },
    Op {
        name: "network",
        prepare: |w| {
            // Subnets are a host-wide pool shared with every other daemon: keep a few.
            let ours = w.networks();
            match (ours.len(), w.rng.below(3)) {
                (n, _) if n >= 3 => cmd(&["network", "rm", w.rng.pick(&ours).unwrap()]),
                (_, 0) if !ours.is_empty() => {
                    let net = w.rng.pick(&ours).unwrap().clone();
                    let id = w.ensure_running();
                    cmd(&["network", "connect", &net, &id])
                }
                _ => {
                    let n = w.fresh("net");
                    cmd(&["network", "create", &n])
                }
            }
        },
    },
    Op {
        name: "run-on-network",
        prepare: |w| {
            let ours = w.networks();
            let net = match w.rng.pick(&ours) {
                Some(n) => n.clone(),
                None => {
                    let n = w.fresh("net");
                    w.d.ok(&["network", "create", &n]);
                    n
                }
            };
            let n = w.fresh("rn");
            cmd(&[
                "run",
                "-d",
                "--name",
                &n,
                "--network",
                &net,
                "-p",
                "80",
                "busybox",
                "sleep",
                "100000",
            ])
        },
    },
    Op {
        name: "pull",
        prepare: |w| {
            let i = usize::try_from(w.rng.below(w.pushed.len() as u64)).unwrap();
            let image = w.pushed[i].clone();
            let _ = w.docker(&["rmi", "-f", &image]);
            cmd(&["pull", "-q", &image])
        },
    },
    Op {
        name: "build",
        prepare: |w| {
            // A RUN unique to the round, so every build runs a step container, not the cache.
            let tag = w.fresh("built:");
            let ctx = w.d.dir.path().join(format!("ctx-{}", w.seq));
            std::fs::create_dir_all(&ctx).unwrap();
            std::fs::write(
                ctx.join("Dockerfile"),
                format!(
                    "FROM busybox\nRUN echo {} > /made && sleep 0.2\nCOPY Dockerfile /\n",
                    w.seq
                ),
            )
            .unwrap();
            cmd(&["build", "-q", "-t", &tag, ctx.to_str().unwrap()])
        },
    },
];

/// The busybox rootfs tar with one more file, so each import is a new layer.
fn unique_rootfs(base: &Path, out: &Path, n: u32) -> PathBuf {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut a = tar::Archive::new(std::fs::File::open(base).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut h = e.header().clone();
        let p = e.path().unwrap().into_owned();
        if h.entry_type().is_symlink() || h.entry_type().is_hard_link() {
            let l = e.link_name().unwrap().unwrap().into_owned();
            b.append_link(&mut h, &p, &l).unwrap();
        } else {
            b.append_data(&mut h, &p, &mut e).unwrap();
        }
    }
    let body = format!("import {n}\n");
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "etc/import-stamp", body.as_bytes())
        .unwrap();
    b.finish().unwrap();
    out.to_path_buf()
}

fn spawn_all(w: &World, lines: &[Vec<String>]) -> Vec<Child> {
    lines
        .iter()
        .map(|l| {
            w.d.docker()
                .args(l)
                // The docker CLI here has no buildx: `build` takes the API's classic path.
                .env("DOCKER_BUILDKIT", "0")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

fn wait_all(children: Vec<Child>, limit: Duration) {
    let deadline = Instant::now() + limit;
    for mut c in children {
        loop {
            if c.try_wait().unwrap().is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn setup(name: &str) -> Option<World> {
    if !require_root(name) {
        return None;
    }
    let d = Daemon::start();
    d.import_busybox();
    let rootfs = d.dir.path().join("rootfs.tar");
    berth_test_support::make_busybox_tar(&rootfs).unwrap();
    let seed = env_u64(
        "BERTH_CRASH_SEED",
        u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
    ) | 1;
    println!("seed {seed} (BERTH_CRASH_SEED={seed} replays this run)");
    let ticker = d.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ]);
    let registry = common::registry::Registry::start();
    let mut w = World {
        d,
        rng: Rng(seed),
        seq: 0,
        saved: Vec::new(),
        rootfs,
        pushed: Vec::new(),
        registry,
        ticker,
        last_tick: 0,
    };
    for i in 0..3 {
        let tag = format!("loadme:{i}");
        let tar = unique_rootfs(&w.rootfs, &w.d.dir.path().join("seed.tar"), 1000 + i);
        w.d.ok(&["import", tar.to_str().unwrap(), &tag]);
        let out = w.d.dir.path().join(format!("saved-{i}.tar"));
        w.d.ok(&["save", "-o", out.to_str().unwrap(), &tag]);
        w.d.ok(&["rmi", &tag]);
        w.saved.push((tag, out));
        // The same kind of image in the registry, each with its own layer to download.
        let pushed = format!("127.0.0.1:{}/pullme:{i}", w.registry.port);
        let tar = unique_rootfs(&w.rootfs, &w.d.dir.path().join("seed.tar"), 2000 + i);
        w.d.ok(&["import", tar.to_str().unwrap(), &pushed]);
        w.d.ok(&["push", &pushed]);
        w.d.ok(&["rmi", &pushed]);
        w.pushed.push(pushed);
    }
    Some(w)
}

#[test]
fn kill_the_daemon_at_random_points() {
    let Some(mut w) = setup("kill_the_daemon_at_random_points") else {
        return;
    };
    let kills = env_u64("BERTH_CRASH_KILLS", 30);
    // How long each operation takes here, to draw kill points over its whole life.
    let mut took: BTreeMap<&str, u64> = BTreeMap::new();
    for op in OPS {
        let lines = (op.prepare)(&mut w);
        let t = Instant::now();
        wait_all(spawn_all(&w, &lines), Duration::from_secs(60));
        let ms = u64::try_from(t.elapsed().as_millis()).unwrap();
        took.insert(op.name, ms.max(5));
        check(&mut w, &BTreeSet::new())
            .unwrap_or_else(|e| panic!("before any kill, {}: {e}", op.name));
    }
    println!("operation durations (ms): {took:?}");
    let mut per_op: BTreeMap<&str, u32> = BTreeMap::new();
    let started = Instant::now();
    // `BERTH_CRASH_ONLY=start,pull`: only those operations (to chase one finding).
    let only: Vec<String> = std::env::var("BERTH_CRASH_ONLY")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let ops: Vec<&Op> = OPS
        .iter()
        .filter(|o| only.is_empty() || only.iter().any(|n| n == o.name))
        .collect();
    for round in 0..kills {
        let op = ops[usize::try_from(w.rng.below(ops.len() as u64)).unwrap()];
        let lines = (op.prepare)(&mut w);
        let before: BTreeSet<String> = w
            .containers()
            .into_iter()
            .filter(|(_, _, s)| s == "running")
            .map(|(id, ..)| id)
            .collect();
        let delay = w.rng.below(took[op.name] * 13 / 10 + 1);
        let children = spawn_all(&w, &lines);
        std::thread::sleep(Duration::from_millis(delay));
        w.d.kill();
        wait_all(children, Duration::from_secs(10));
        w.d.start_again();
        // What the operation may legitimately have stopped or removed.
        let touched: BTreeSet<String> = lines.iter().flatten().cloned().collect();
        let must_run: BTreeSet<String> = before.difference(&touched).cloned().collect();
        if let Err(e) = check(&mut w, &must_run) {
            panic!(
                "round {round}: {} killed after {delay} ms ({lines:?}): {e}\ndaemon log tail:\n{}",
                op.name,
                tail(&w.d.log(), 40)
            );
        }
        *per_op.entry(op.name).or_default() += 1;
    }
    println!(
        "{kills} kills in {:.0} s, all invariants held; per operation: {per_op:?}",
        started.elapsed().as_secs_f64()
    );
}

fn tail(s: &str, n: usize) -> String {
    let l: Vec<&str> = s.lines().collect();
    l[l.len().saturating_sub(n)..].join("\n")
}

/// The invariants after a restart; `must_run`: containers the kill must not have stopped.
fn check(w: &mut World, must_run: &BTreeSet<String>) -> Result<(), String> {
    let data = w.d.dir.path().join("data");
    let exec = w.d.dir.path().join("exec");
    records_parse(&data)?;
    let warnings = stdout(&w.docker(&["info", "--format", "{{json .Warnings}}"]));
    if !matches!(warnings.trim(), "null" | "[]") {
        return Err(format!("/info warns: {warnings}"));
    }
    images_complete(&data)?;
    let ctrs = w.containers();
    let mut names = BTreeSet::new();
    for (_, n, _) in &ctrs {
        if !names.insert(n.clone()) {
            return Err(format!("name {n} used twice"));
        }
    }
    // Live: running or paused (a user's pause survives a restart).
    let running: BTreeSet<String> = ctrs
        .iter()
        .filter(|(_, _, s)| s == "running" || s == "paused")
        .map(|(id, ..)| id.clone())
        .collect();
    let all: BTreeSet<String> = ctrs.iter().map(|(id, ..)| id.clone()).collect();
    // The rounds never pause: a paused container is one a commit froze and nobody thawed.
    if let Some((id, ..)) = ctrs.iter().find(|(_, _, s)| s == "paused") {
        return Err(format!("container {id} was left paused"));
    }
    for id in must_run {
        if !running.contains(id) {
            return Err(format!("container {id} was running and is not"));
        }
    }
    no_orphans_on_disk(&data, &exec, &all, &running)?;
    no_orphan_mounts(w.d.dir.path(), &exec, &running)?;
    no_orphan_cgroups(&all, &running)?;
    no_orphan_links(&data, &running)?;
    no_orphan_ports(w, &running)?;
    ticker_lives(w)
}

fn read_json(p: &Path) -> Result<serde_json::Value, String> {
    let b = std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&b).map_err(|e| format!("{} does not parse: {e}", p.display()))?;
    if v.get("schema_version").is_none() {
        return Err(format!("{} has no schema_version", p.display()));
    }
    Ok(v)
}

fn dir_entries(p: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(p)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn records_parse(data: &Path) -> Result<(), String> {
    let mut files = vec![data.join("network/networks.json")];
    for c in dir_entries(&data.join("containers")) {
        files.push(c.join("config.v2.json"));
    }
    for l in dir_entries(&data.join("image/layers")) {
        files.push(l.join("layer.json"));
    }
    for c in dir_entries(&data.join("image/containers")) {
        files.push(c.join("layer.json"));
    }
    files.extend(dir_entries(&data.join("image/images")));
    if data.join("image/refs.json").exists() {
        files.push(data.join("image/refs.json"));
    }
    for v in dir_entries(&data.join("volumes")) {
        files.push(v.join("volume.json"));
    }
    for f in files {
        if f.to_string_lossy().contains(".corrupt-") {
            return Err(format!("{} was moved aside", f.display()));
        }
        read_json(&f)?;
    }
    Ok(())
}

fn images_complete(data: &Path) -> Result<(), String> {
    for img in dir_entries(&data.join("image/images")) {
        let v = read_json(&img)?;
        let id = v["id"].as_str().unwrap_or_default();
        let blob = data
            .join("image/blobs/sha256")
            .join(id.trim_start_matches("sha256:"));
        if !blob.exists() {
            return Err(format!("image {id} has no config blob"));
        }
        for l in v["layers"].as_array().into_iter().flatten() {
            let hex = l.as_str().unwrap_or_default().trim_start_matches("sha256:");
            let dir = data.join("image/layers").join(hex);
            if !dir.join("layer.json").exists() || !dir.join("diff").is_dir() {
                return Err(format!("image {id} lacks layer {hex}"));
            }
        }
    }
    Ok(())
}

/// Per-container directories exist only for containers the daemon knows (data root), or that
/// run (exec root).
fn no_orphans_on_disk(
    data: &Path,
    exec: &Path,
    all: &BTreeSet<String>,
    running: &BTreeSet<String>,
) -> Result<(), String> {
    let known = |p: &Path, set: &BTreeSet<String>| {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        set.contains(&n)
    };
    for (dir, set, what) in [
        (data.join("containers"), all, "record directory"),
        (data.join("image/containers"), all, "writable layer"),
        (exec.join("containers"), running, "run directory"),
        (exec.join("netns"), running, "netns file"),
    ] {
        for e in dir_entries(&dir) {
            if !known(&e, set) {
                return Err(format!("orphan {what}: {}", e.display()));
            }
        }
    }
    Ok(())
}

fn no_orphan_mounts(root: &Path, exec: &Path, running: &BTreeSet<String>) -> Result<(), String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for mp in info.lines().filter_map(|l| l.split(' ').nth(4)) {
        let p = Path::new(mp);
        if !p.starts_with(root) {
            continue;
        }
        let owner = if let Ok(rest) = p.strip_prefix(exec.join("containers")) {
            rest.components().next()
        } else if let Ok(rest) = p.strip_prefix(exec.join("netns")) {
            rest.components().next()
        } else if p.starts_with(exec.join("runtime")) {
            continue; // the runtime's read-only copy of the berth binary
        } else {
            return Err(format!("unexpected mount {mp}"));
        };
        let id = owner.map(|c| c.as_os_str().to_string_lossy().into_owned());
        if !id.is_some_and(|id| running.contains(&id)) {
            return Err(format!("orphan mount {mp}"));
        }
    }
    Ok(())
}

fn no_orphan_cgroups(all: &BTreeSet<String>, running: &BTreeSet<String>) -> Result<(), String> {
    for id in all {
        let present = ["memory", "pids", "unified"].iter().any(|c| {
            Path::new("/sys/fs/cgroup")
                .join(c)
                .join("berth")
                .join(id)
                .exists()
        });
        if present != running.contains(id) {
            return Err(format!(
                "container {id}: cgroup {} while {}",
                if present { "present" } else { "missing" },
                if running.contains(id) {
                    "running"
                } else {
                    "not running"
                }
            ));
        }
    }
    Ok(())
}

/// Host ends of veths on the daemon's bridges belong to endpoints of running containers.
fn no_orphan_links(data: &Path, running: &BTreeSet<String>) -> Result<(), String> {
    let state = read_json(&data.join("network/networks.json"))?;
    let mut expected = BTreeSet::new();
    for e in state["endpoints"].as_array().into_iter().flatten() {
        let cid = e["container_id"].as_str().unwrap_or_default();
        if !running.contains(cid) {
            return Err(format!("endpoint of container {cid}, which is not running"));
        }
        expected.insert(e["host_ifname"].as_str().unwrap_or_default().to_owned());
    }
    let mut seen = BTreeSet::new();
    for n in state["networks"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, n)| n)
    {
        let bridge = n["bridge"].as_str().unwrap_or_default();
        let o = Command::new("ip")
            .args(["-o", "link", "show", "master", bridge])
            .output()
            .unwrap();
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            if let Some(name) = l.split(": ").nth(1) {
                seen.insert(name.split('@').next().unwrap_or_default().to_owned());
            }
        }
    }
    if seen != expected {
        return Err(format!(
            "veths on the bridges {seen:?}, endpoints {expected:?}"
        ));
    }
    Ok(())
}

/// Published ports in the nft maps are exactly the running containers'.
fn no_orphan_ports(w: &World, running: &BTreeSet<String>) -> Result<(), String> {
    let mut expected = BTreeSet::new();
    for id in running {
        let ports = stdout(&w.docker(&[
            "inspect",
            "-f",
            "{{range $p, $b := .NetworkSettings.Ports}}{{range $b}}{{.HostPort}} {{end}}{{end}}",
            id,
        ]));
        expected.extend(
            ports
                .split_whitespace()
                .filter_map(|p| p.parse::<u64>().ok()),
        );
    }
    let table = w.d.bridge.replace('-', "_");
    let o = Command::new("nft")
        .args(["-j", "list", "table", "ip", &table])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let mut seen = BTreeSet::new();
    for item in v["nftables"].as_array().into_iter().flatten() {
        let Some(map) = item.get("map") else { continue };
        if !map["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("tcp_") || n.starts_with("udp_"))
        {
            continue;
        }
        for el in map["elem"].as_array().into_iter().flatten() {
            let key = &el[0];
            let port = match key {
                serde_json::Value::Number(n) => n.as_u64(),
                k => k["concat"]
                    .as_array()
                    .and_then(|c| c.last())
                    .and_then(serde_json::Value::as_u64),
            };
            seen.extend(port);
        }
    }
    if seen != expected {
        return Err(format!("nft ports {seen:?}, published {expected:?}"));
    }
    Ok(())
}

/// The ticker runs, its log grows, and attaching shows its output.
fn ticker_lives(w: &mut World) -> Result<(), String> {
    let t = w.ticker.clone();
    if stdout(&w.docker(&["inspect", "-f", "{{.State.Running}}", &t])).trim() != "true" {
        return Err("the ticker stopped".into());
    }
    std::thread::sleep(Duration::from_millis(250));
    let last = stdout(&w.docker(&["logs", "--tail", "1", &t]));
    let n: u64 = last
        .trim()
        .strip_prefix("tick ")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("ticker log: {last:?}"))?;
    if n <= w.last_tick {
        return Err(format!("the ticker's log stopped at {n}"));
    }
    w.last_tick = n;
    if w.rng.below(5) == 0 {
        let mut child =
            w.d.docker()
                .args(["attach", "--no-stdin", "--sig-proxy=false", &t])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let got = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
        let _ = child.kill();
        let _ = child.wait();
        if !got.starts_with("tick ") {
            return Err(format!("attach to the ticker got {got:?}"));
        }
    }
    Ok(())
}

/// RSS (KiB) and open fds of a process.
fn usage(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    (rss, fds)
}

#[test]
fn soak() {
    let Some(mut w) = setup("soak") else {
        return;
    };
    let secs = env_u64("BERTH_SOAK_SECS", 30);
    let pid: u32 = std::fs::read_to_string(w.d.dir.path().join("berth.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let started = Instant::now();
    let mut samples: Vec<(f64, u64, usize)> = Vec::new();
    let mut ops = 0u64;
    // At least six samples (one per prune), so each third of the warm part has one.
    while started.elapsed() < Duration::from_secs(secs) || samples.len() < 6 {
        let op = &OPS[usize::try_from(w.rng.below(OPS.len() as u64)).unwrap()];
        let lines = (op.prepare)(&mut w);
        wait_all(spawn_all(&w, &lines), Duration::from_secs(60));
        ops += 1;
        // Keep the population bounded, as a long-lived daemon's is.
        if ops.is_multiple_of(20) {
            let _ = w.docker(&["container", "prune", "-f"]);
            let _ = w.docker(&["image", "prune", "-af"]);
            let _ = w.docker(&["volume", "prune", "-af"]);
            let _ = w.docker(&["network", "prune", "-f"]);
            let extra: Vec<String> = w
                .containers()
                .into_iter()
                .filter(|(id, _, s)| s == "running" && *id != w.ticker)
                .map(|(id, ..)| id)
                .skip(5)
                .collect();
            for id in extra {
                let _ = w.docker(&["rm", "-f", &id]);
            }
            // Sampled here, with the population just bounded: each running container holds
            // daemon fds (its monitor's connection), so a sample between prunes measures how
            // many ran lately, not a leak.
            let (rss, fds) = usage(pid);
            samples.push((started.elapsed().as_secs_f64(), rss, fds));
        }
    }
    check(&mut w, &BTreeSet::new()).unwrap();
    // Flat: after a warm-up fifth, the last third's peak against the middle third's.
    let n = samples.len();
    assert!(n >= 6, "too few samples: {samples:?}");
    let warm = &samples[n / 5..];
    let m = warm.len();
    let peak = |s: &[(f64, u64, usize)]| {
        (
            s.iter().map(|x| x.1).max().unwrap_or(0),
            s.iter().map(|x| x.2).max().unwrap_or(0),
        )
    };
    let (rss_mid, fds_mid) = peak(&warm[m / 3..2 * m / 3]);
    let (rss_end, fds_end) = peak(&warm[2 * m / 3..]);
    println!(
        "soak: {secs} s, {ops} operations; daemon RSS {rss_mid} → {rss_end} KiB (middle → last third peak), fds {fds_mid} → {fds_end}; samples (s, KiB, fds): {samples:?}"
    );
    assert!(
        rss_end <= rss_mid + rss_mid / 5 + 8192,
        "RSS grew from {rss_mid} to {rss_end} KiB"
    );
    assert!(
        fds_end <= fds_mid + 4,
        "fds grew from {fds_mid} to {fds_end}"
    );
}
