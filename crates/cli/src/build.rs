//! `berth build` (and `berth builder prune`): the context (a directory, a tar or a
//! Dockerfile on stdin, or a git repository cloned with `git`), `.dockerignore` applied here
//! so ignored files never leave the machine, `POST /build`, and the output — the daemon's
//! stream as is when piped, a live step view on a terminal.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use bytes::Bytes;
use clap::Args;
use futures_util::StreamExt;
use http::Method;
use http_body_util::BodyExt;
use serde_json::Value;

use crate::client::{Client, body_stream, query};

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads it from stdin)
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    /// Set metadata for an image
    #[arg(long = "label")]
    label: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Write the image ID to the file
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, default_value = "default")]
    network: String,
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Images to consider as cache sources
    #[arg(long = "cache-from")]
    cache_from: Vec<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    force_rm: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Secret to expose to the build ("id=mysecret,src=/local/secret" or "id=x,env=VAR")
    #[arg(long)]
    secret: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    shm_size: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// Same context, same image digest: timestamps clamped (SOURCE_DATE_EPOCH, default 0)
    #[arg(long)]
    reproducible: bool,
    /// Output: auto, plain, tty
    #[arg(long, default_value = "auto")]
    progress: String,
    /// Build context: a directory, a git URL, or "-" (a tar or a Dockerfile on stdin)
    path: String,
}

#[derive(Debug, Args)]
pub(crate) struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
}

fn is_git(path: &str) -> bool {
    path.starts_with("git://")
        || path.starts_with("git@")
        || path.starts_with("github.com/")
        || ((path.starts_with("https://")
            || path.starts_with("http://")
            || path.starts_with("file://"))
            && (path.contains(".git") || path.contains("#")))
}

/// Clones `url[#ref[:subdir]]` into a temp dir; returns it and the context inside it.
fn clone_git(url: &str) -> Result<(tempfile::TempDir, PathBuf)> {
    let (repo, fragment) = url.split_once('#').unwrap_or((url, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    let repo = if repo.starts_with("github.com/") {
        format!("https://{repo}")
    } else {
        repo.to_owned()
    };
    let dir = tempfile::Builder::new()
        .prefix("berth-build-git-")
        .tempdir()?;
    let mut cmd = std::process::Command::new("git");
    cmd.args(["clone", "--quiet", "--recurse-submodules", "--depth", "1"]);
    if !reference.is_empty() {
        cmd.args(["--branch", reference]);
    }
    let out = cmd
        .arg(&repo)
        .arg(dir.path())
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "unable to prepare context: unable to 'git clone' to temporary context directory: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let ctx = dir.path().join(subdir);
    if !ctx.is_dir() {
        bail!("unable to prepare context: subdirectory {subdir} does not exist in {repo}");
    }
    Ok((dir, ctx))
}

/// Writes what the packer produces into the request body.
struct ChanWriter(tokio::sync::mpsc::Sender<std::io::Result<Bytes>>);

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::other("the daemon closed the connection"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn random_name() -> String {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    format!(
        ".dockerfile.{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// The context as a request body, and the Dockerfile's name in it.
fn context_body(a: &BuildArgs) -> Result<(crate::client::Body, String, Option<tempfile::TempDir>)> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    let body = BodyExt::boxed(http_body_util::StreamBody::new(
        tokio_stream_from(rx).map(|r| r.map(hyper::body::Frame::data)),
    ));
    let stdin_df = a.file.as_deref() == Some("-");
    if a.path == "-" {
        if stdin_df {
            bail!("invalid argument: can't use stdin for both build context and dockerfile");
        }
        let mut head = Vec::new();
        std::io::stdin().read_to_end(&mut head)?;
        let is_tar =
            head.len() > 262 && &head[257..262] == b"ustar" || head.starts_with(&[0x1f, 0x8b]);
        let (data, name) = if is_tar {
            (head, a.file.clone().unwrap_or_else(|| "Dockerfile".into()))
        } else {
            let name = random_name();
            let (tar, _) = berth_build::pack::pack_dir(
                &empty_dir()?,
                &berth_build::ignore::Ignore::default(),
                &[(name.clone(), head)],
                Vec::new(),
            )?;
            (tar, name)
        };
        tokio::spawn(async move {
            let _ = tx.send(Ok(Bytes::from(data))).await;
        });
        return Ok((body, name, None));
    }
    let (keep, dir) = if is_git(&a.path) {
        let (t, d) = clone_git(&a.path)?;
        (Some(t), d)
    } else {
        (None, PathBuf::from(&a.path))
    };
    if !dir.is_dir() {
        bail!("unable to prepare context: path {:?} not found", a.path);
    }
    let mut extra = Vec::new();
    let df_name = match a.file.as_deref() {
        Some("-") => {
            let mut d = Vec::new();
            std::io::stdin().read_to_end(&mut d)?;
            let n = random_name();
            extra.push((n.clone(), d));
            n
        }
        Some(f) => {
            let p = if Path::new(f).is_absolute() || keep.is_some() {
                PathBuf::from(f)
            } else {
                std::env::current_dir()?.join(f)
            };
            let p = if keep.is_some() { dir.join(f) } else { p };
            let abs_dir = std::fs::canonicalize(&dir)?;
            match std::fs::canonicalize(&p)
                .ok()
                .and_then(|c| c.strip_prefix(&abs_dir).ok().map(Path::to_path_buf))
            {
                Some(rel) => rel.to_string_lossy().into_owned(),
                None => {
                    let data = std::fs::read(&p).with_context(|| format!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory", p.display()))?;
                    let n = random_name();
                    extra.push((n.clone(), data));
                    n
                }
            }
        }
        None => "Dockerfile".into(),
    };
    let ignore_text = std::fs::read_to_string(dir.join(format!("{df_name}.dockerignore")))
        .or_else(|_| std::fs::read_to_string(dir.join(".dockerignore")))
        .unwrap_or_default();
    let mut ignore = ignore_text;
    // The Dockerfile and the ignore file are always sent (the daemon reads, then drops them).
    ignore.push_str(&format!("\n!{df_name}\n!.dockerignore\n"));
    let ignore = berth_build::ignore::Ignore::parse(&ignore).map_err(|e| anyhow::anyhow!("{e}"))?;
    tokio::task::spawn_blocking(move || {
        let _keep = keep;
        if let Err(e) = berth_build::pack::pack_dir(&dir, &ignore, &extra, ChanWriter(tx.clone())) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    Ok((body, df_name, None))
}

fn empty_dir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("berth-empty-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn secrets_header(specs: &[String]) -> Result<Option<String>> {
    if specs.is_empty() {
        return Ok(None);
    }
    let mut m = serde_json::Map::new();
    for s in specs {
        let mut id = None;
        let mut value = None;
        for kv in s.split(',') {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "id" => id = Some(v.to_owned()),
                "src" | "source" => {
                    value = Some(std::fs::read(v).with_context(|| format!("reading secret {v}"))?);
                }
                "env" => {
                    value = Some(
                        std::env::var(v)
                            .with_context(|| format!("secret env {v} is not set"))?
                            .into_bytes(),
                    );
                }
                "type" => {}
                _ => bail!("unexpected key '{k}' in '{s}'"),
            }
        }
        let id = id.ok_or_else(|| anyhow::anyhow!("secret {s:?}: id is required"))?;
        let value = match value {
            Some(v) => v,
            None => std::env::var(&id)
                .map(String::into_bytes)
                .with_context(|| format!("secret {id}: no src, env or variable {id}"))?,
        };
        m.insert(
            id,
            Value::String(base64::engine::general_purpose::STANDARD.encode(value)),
        );
    }
    Ok(Some(
        base64::engine::general_purpose::STANDARD.encode(Value::Object(m).to_string()),
    ))
}

fn kv_json(list: &[String], from_env: bool) -> Value {
    let mut m = serde_json::Map::new();
    for a in list {
        match a.split_once('=') {
            Some((k, v)) => {
                m.insert(k.to_owned(), Value::String(v.to_owned()));
            }
            None if from_env => {
                m.insert(
                    a.clone(),
                    std::env::var(a).map_or(Value::Null, Value::String),
                );
            }
            None => {
                m.insert(a.clone(), Value::String(String::new()));
            }
        }
    }
    Value::Object(m)
}

fn params(a: &BuildArgs, df: &str) -> Result<Vec<(&'static str, String)>> {
    let mut p = vec![("dockerfile", df.to_owned())];
    for t in &a.tag {
        p.push(("t", t.clone()));
    }
    let mut args = kv_json(&a.build_arg, true);
    if a.reproducible
        && !args
            .as_object()
            .is_some_and(|m| m.contains_key("SOURCE_DATE_EPOCH"))
    {
        let epoch = std::env::var("SOURCE_DATE_EPOCH").unwrap_or_else(|_| "0".into());
        args["SOURCE_DATE_EPOCH"] = Value::String(epoch);
    }
    p.push(("buildargs", args.to_string()));
    p.push(("labels", kv_json(&a.label, false).to_string()));
    if let Some(t) = &a.target {
        p.push(("target", t.clone()));
    }
    p.push(("networkmode", a.network.clone()));
    if !a.add_host.is_empty() {
        p.push(("extrahosts", a.add_host.join(",")));
    }
    p.push(("nocache", a.no_cache.to_string()));
    p.push(("pull", a.pull.to_string()));
    p.push(("rm", a.rm.to_string()));
    p.push(("forcerm", a.force_rm.to_string()));
    p.push(("q", a.quiet.to_string()));
    p.push(("cachefrom", serde_json::to_string(&a.cache_from)?));
    if let Some(pl) = &a.platform {
        p.push(("platform", pl.clone()));
    }
    if let Some(s) = &a.shm_size {
        p.push(("shmsize", crate::opts::parse_memory(s)?.to_string()));
    }
    if let Some(m) = &a.memory {
        p.push(("memory", crate::opts::parse_memory(m)?.to_string()));
    }
    Ok(p)
}

/// The step view on a terminal: one line per step with its time, `CACHED` for cache hits,
/// the last lines of RUN output while it runs (folded away once the step is done).
struct Live {
    step: Option<(String, Instant, bool)>,
    tail: Vec<String>,
    shown: usize,
    partial: String,
}

impl Live {
    fn clear_tail(&mut self, o: &mut impl Write) {
        for _ in 0..self.shown {
            let _ = write!(o, "\x1b[1A\x1b[2K");
        }
        self.shown = 0;
    }

    fn end_step(&mut self, o: &mut impl Write) {
        self.clear_tail(o);
        if let Some((line, t, cached)) = self.step.take() {
            let mark = if cached {
                "\x1b[36mCACHED\x1b[0m".to_owned()
            } else {
                format!("{:.1}s", t.elapsed().as_secs_f64())
            };
            let _ = writeln!(o, "\x1b[1A\x1b[2K\x1b[34m=>\x1b[0m {line}  {mark}");
        }
        self.tail.clear();
    }

    fn text(&mut self, s: &str, o: &mut impl Write) {
        if let Some(step) = s.strip_prefix("Step ") {
            self.end_step(o);
            let _ = writeln!(o, "\x1b[33m=>\x1b[0m {step}");
            self.step = Some((step.to_owned(), Instant::now(), false));
            return;
        }
        if s == "\n" || s.starts_with(" ---> ") || s.starts_with("Removing intermediate") {
            if s.starts_with(" ---> Using cache")
                && let Some(st) = &mut self.step
            {
                st.2 = true;
            }
            return;
        }
        if s.starts_with("Successfully") || s.starts_with("[Warning]") {
            self.end_step(o);
            let _ = write!(o, "{s}");
            return;
        }
        self.partial.push_str(s);
        while let Some(i) = self.partial.find('\n') {
            let l: String = self.partial.drain(..=i).collect();
            self.tail
                .push(l.trim_end().replace("\x1b[91m", "").replace("\x1b[0m", ""));
        }
        if self.tail.len() > 5 {
            let cut = self.tail.len() - 5;
            self.tail.drain(..cut);
        }
        self.clear_tail(o);
        for l in &self.tail {
            let _ = writeln!(o, "\x1b[2m   {l}\x1b[0m");
        }
        self.shown = self.tail.len();
    }
}

pub(crate) async fn build(cl: &Client, a: BuildArgs) -> Result<()> {
    let (body, df, _tmp) = context_body(&a)?;
    let p = params(&a, &df)?;
    let path = query("/build", &p);
    let mut headers = vec![("Content-Type", "application/x-tar".to_owned())];
    if let Some(h) = secrets_header(&a.secret)? {
        headers.push(("X-Berth-Build-Secrets", h));
    }
    let resp = cl
        .send_with_headers(Method::POST, &path, body, &headers)
        .await?;
    let tty = match a.progress.as_str() {
        "plain" => false,
        "tty" => true,
        _ => std::io::stdout().is_terminal() && !a.quiet,
    };
    let mut live = Live {
        step: None,
        tail: Vec::new(),
        shown: 0,
        partial: String::new(),
    };
    let mut id = None;
    let mut stream = Box::pin(body_stream(resp));
    let mut buf = Vec::new();
    let mut stdout = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk?);
        let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        let mut consumed = 0;
        while let Some(Ok(msg)) = de.next() {
            consumed = de.byte_offset();
            if let Some(e) = msg.get("errorDetail") {
                if tty {
                    live.end_step(&mut stdout);
                }
                let code = e["code"]
                    .as_i64()
                    .and_then(|c| i32::try_from(c).ok())
                    .unwrap_or(1);
                return Err(crate::StatusError::new(
                    code,
                    e["message"].as_str().unwrap_or("build failed"),
                )
                .into());
            }
            if let Some(i) = msg["aux"]["ID"].as_str() {
                id = Some(i.to_owned());
            }
            if let Some(s) = msg["stream"].as_str() {
                if a.quiet {
                    if s.starts_with("sha256:") {
                        id = Some(s.trim().to_owned());
                    }
                    continue;
                }
                if tty {
                    live.text(s, &mut stdout);
                } else {
                    crate::util::out(s);
                }
            }
        }
        buf.drain(..consumed);
    }
    if tty {
        live.end_step(&mut stdout);
    }
    let _ = stdout.flush();
    let Some(id) = id else {
        bail!("the daemon did not report an image")
    };
    if a.quiet {
        crate::util::out(&format!("{id}\n"));
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &id).with_context(|| format!("writing {}", f.display()))?;
    }
    Ok(())
}

pub(crate) async fn prune(cl: &Client, a: BuilderPruneArgs) -> Result<()> {
    let _ = a.force;
    let v = cl
        .post_json(&query("/build/prune", &[("all", a.all.to_string())]), None)
        .await?;
    for c in v["CachesDeleted"].as_array().into_iter().flatten() {
        if let Some(s) = c.as_str() {
            crate::util::out(&format!("{s}\n"));
        }
    }
    let n = v["SpaceReclaimed"].as_u64().unwrap_or(0);
    crate::util::out(&format!("Total:\t{}\n", crate::table::human_size(n as f64)));
    Ok(())
}
