//! Container lifecycle commands: start, stop, restart, kill, rm, pause, rename, wait, attach,
//! logs, update, commit, export, prune, inspect. Listing is in `ps.rs`, observation
//! (top, stats, port, diff) in `observe.rs`.

use std::future::Future;

use anyhow::{Result, bail};
use clap::Args;
use http::Method;
use serde_json::{Value, json};

use crate::StatusError;
use crate::client::{Client, body_stream, empty, encode, query};
use crate::stream::{self, Ended, PumpOpts};
use crate::util::{for_each, out};

pub(crate) use crate::observe::{DiffArgs, PortArgs, StatsArgs, TopArgs, diff, port, stats, top};
pub(crate) use crate::ps::{PsArgs, ps};

fn path(id: &str, rest: &str) -> String {
    format!("/containers/{}{rest}", encode(id))
}

/// One or more containers.
#[derive(Debug, Args)]
pub(crate) struct NamesArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_hyphen_values = true
    )]
    time: Option<i64>,
    /// Signal to send to the container
    #[arg(short = 's', long)]
    signal: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    signal: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    /// Remove the specified link
    #[arg(short, long)]
    link: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Show logs since timestamp or relative (e.g. 42m)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp or relative (e.g. 42m)
    #[arg(long)]
    until: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show extra details provided to logs
    #[arg(long)]
    details: bool,
    container: String,
}

#[derive(Debug, Args)]
pub(crate) struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    container: String,
}

#[derive(Debug, Args)]
pub(crate) struct RenameArgs {
    container: String,
    new_name: String,
}

#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair
    #[arg(long = "cpu-period")]
    cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair
    #[arg(long = "cpu-quota")]
    cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap:
    #[arg(long = "memory-swap")]
    memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    /// Tune container pids limit (set -1 for
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CommitArgs {
    /// Author
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pause: bool,
    container: String,
    repository: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<String>,
    container: String,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    filter: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ContainerInspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub(crate) async fn inspect(cl: &Client, a: ContainerInspectArgs) -> Result<()> {
    let mut items = Vec::new();
    let mut failed = false;
    for c in &a.containers {
        let p = if a.size {
            query(&path(c, "/json"), &[("size", "1".into())])
        } else {
            path(c, "/json")
        };
        match cl.get_raw(&p).await {
            Ok(v) => items.push(v),
            Err(e) => {
                failed = true;
                eprintln!("{}", crate::describe(&e));
            }
        }
    }
    crate::util::print_inspect(&items, a.format.as_deref())?;
    if failed {
        return Err(StatusError::code(1).into());
    }
    Ok(())
}

pub(crate) async fn start(cl: &Client, a: StartArgs) -> Result<()> {
    if !(a.attach || a.interactive) {
        let failed = crate::util::failures(&a.containers, |c| async move {
            cl.post_json(&path(&c, "/start"), None).await?;
            out(&format!("{c}\n"));
            Ok(())
        })
        .await;
        // Unlike stop or rm, docker's start ends with a line naming every failure.
        if !failed.is_empty() {
            eprintln!("Error: failed to start containers: {}", failed.join(", "));
            return Err(StatusError::code(1).into());
        }
        return Ok(());
    }
    if a.containers.len() > 1 {
        bail!("you cannot start and attach multiple containers at once");
    }
    let id = &a.containers[0];
    let info = cl.get_json(&path(id, "/json")).await?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let open_stdin = info
        .pointer("/Config/OpenStdin")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stdin = a.interactive && open_stdin;
    let detach_keys = a.detach_keys.clone();
    session(cl, id, tty, stdin, detach_keys, |cl, id| async move {
        cl.post_json(&path(&id, "/start"), None).await.map(drop)
    })
    .await
}

/// Attach, register a wait, run `begin` (start, or nothing), stream, exit with the code.
async fn session<F, Fut>(
    cl: &Client,
    id: &str,
    tty: bool,
    stdin: bool,
    detach_keys: Option<String>,
    begin: F,
) -> Result<()>
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut params = vec![
        ("stream", "1".to_string()),
        ("stdin", u8::from(stdin).to_string()),
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
    ];
    if let Some(k) = &detach_keys {
        params.push(("detachKeys", k.clone()));
    }
    let conn = cl
        .hijack(&query(&path(id, "/attach"), &params), None)
        .await?;
    let raw = (tty && stdin).then(crate::tty::RawMode::enter);
    begin(cl.clone(), id.to_string()).await?;
    let rcl = cl.clone();
    let rpath = path(id, "/resize");
    let ended = stream::pump(
        conn,
        PumpOpts {
            tty,
            stdin,
            detach_keys: (tty && stdin)
                .then(|| stream::parse_detach_keys(detach_keys.as_deref()))
                .flatten(),
        },
        move |h, w| crate::run::resize(rcl.clone(), rpath.clone(), h, w),
    )
    .await;
    drop(raw);
    if ended? == Ended::Detached {
        return Ok(());
    }
    // The container has closed its output; its exit code follows as soon as it is reaped.
    let v = cl.post_json(&path(id, "/wait"), None).await?;
    let code = v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0);
    if code != 0 {
        return Err(StatusError::code(i32::try_from(code).unwrap_or(1)).into());
    }
    Ok(())
}

pub(crate) async fn attach(cl: &Client, a: AttachArgs) -> Result<()> {
    let info = cl.get_json(&path(&a.container, "/json")).await?;
    if !info
        .pointer("/State/Running")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if info
        .pointer("/State/Paused")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let open_stdin = info
        .pointer("/Config/OpenStdin")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let _ = a.sig_proxy;
    session(
        cl,
        &a.container,
        tty,
        open_stdin && !a.no_stdin,
        a.detach_keys,
        |_, _| async { Ok(()) },
    )
    .await
}

pub(crate) async fn stop(cl: &Client, a: StopArgs, restart: bool) -> Result<()> {
    let mut params = vec![];
    if let Some(t) = a.time {
        params.push(("t", t.to_string()));
    }
    if let Some(s) = &a.signal {
        params.push(("signal", s.clone()));
    }
    let verb = if restart { "/restart" } else { "/stop" };
    for_each(&a.containers, |c| {
        let p = query(&path(&c, verb), &params);
        async move {
            cl.post_json(&p, None).await?;
            out(&format!("{c}\n"));
            Ok(())
        }
    })
    .await
}

pub(crate) async fn kill(cl: &Client, a: KillArgs) -> Result<()> {
    let params: Vec<(&str, String)> = a.signal.iter().map(|s| ("signal", s.clone())).collect();
    for_each(&a.containers, |c| {
        let p = query(&path(&c, "/kill"), &params);
        async move {
            cl.post_json(&p, None).await?;
            out(&format!("{c}\n"));
            Ok(())
        }
    })
    .await
}

pub(crate) async fn rm(cl: &Client, a: RmArgs) -> Result<()> {
    let params = [
        ("force", a.force.to_string()),
        ("v", a.volumes.to_string()),
        ("link", a.link.to_string()),
    ];
    for_each(&a.containers, |c| {
        let p = query(&path(&c, ""), &params);
        async move {
            cl.delete(&p).await?;
            out(&format!("{c}\n"));
            Ok(())
        }
    })
    .await
}

pub(crate) async fn pause(cl: &Client, a: NamesArgs, pause: bool) -> Result<()> {
    let verb = if pause { "/pause" } else { "/unpause" };
    for_each(&a.containers, |c| async move {
        cl.post_json(&path(&c, verb), None).await?;
        out(&format!("{c}\n"));
        Ok(())
    })
    .await
}

pub(crate) async fn wait(cl: &Client, a: NamesArgs) -> Result<()> {
    for_each(&a.containers, |c| async move {
        let v = cl.post_json(&path(&c, "/wait"), None).await?;
        out(&format!(
            "{}\n",
            v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0)
        ));
        Ok(())
    })
    .await
}

pub(crate) async fn rename(cl: &Client, a: RenameArgs) -> Result<()> {
    let p = query(
        &path(&a.container, "/rename"),
        &[("name", a.new_name.clone())],
    );
    cl.post_json(&p, None).await?;
    Ok(())
}

pub(crate) async fn logs(cl: &Client, a: LogsArgs) -> Result<()> {
    let info = cl.get_json(&path(&a.container, "/json")).await?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut params = vec![
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
        ("follow", a.follow.to_string()),
        ("timestamps", a.timestamps.to_string()),
        ("details", a.details.to_string()),
        ("tail", a.tail.clone()),
    ];
    if let Some(s) = &a.since {
        params.push(("since", crate::opts::parse_timestamp(s)?));
    }
    if let Some(u) = &a.until {
        params.push(("until", crate::opts::parse_timestamp(u)?));
    }
    let resp = cl
        .send(
            Method::GET,
            &query(&path(&a.container, "/logs"), &params),
            empty(),
            None,
        )
        .await?;
    stream::copy_body(Box::pin(body_stream(resp)), tty).await
}

pub(crate) async fn update(cl: &Client, a: UpdateArgs) -> Result<()> {
    use crate::opts::{parse_cpus, parse_memory, parse_memory_swap, parse_restart};
    let mut body = serde_json::Map::new();
    let mut set = |k: &str, v: Value| {
        body.insert(k.to_string(), v);
    };
    if let Some(c) = &a.cpus {
        set("NanoCpus", json!(parse_cpus(c)?));
    }
    if let Some(v) = a.cpu_shares {
        set("CpuShares", json!(v));
    }
    if let Some(v) = a.cpu_period {
        set("CpuPeriod", json!(v));
    }
    if let Some(v) = a.cpu_quota {
        set("CpuQuota", json!(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        set("CpusetCpus", json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        set("CpusetMems", json!(v));
    }
    if let Some(v) = &a.memory {
        set("Memory", json!(parse_memory(v)?));
    }
    if let Some(v) = &a.memory_swap {
        set("MemorySwap", json!(parse_memory_swap(v)?));
    }
    if let Some(v) = &a.memory_reservation {
        set("MemoryReservation", json!(parse_memory(v)?));
    }
    if let Some(v) = a.pids_limit {
        set("PidsLimit", json!(v));
    }
    if let Some(r) = &a.restart {
        set("RestartPolicy", serde_json::to_value(parse_restart(r)?)?);
    }
    let body = Value::Object(body);
    for_each(&a.containers, |c| {
        let body = body.clone();
        async move {
            let v = cl.post_json(&path(&c, "/update"), Some(&body)).await?;
            for w in v
                .get("Warnings")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                eprintln!("WARNING: {}", w.as_str().unwrap_or(""));
            }
            out(&format!("{c}\n"));
            Ok(())
        }
    })
    .await
}

pub(crate) async fn commit(cl: &Client, a: CommitArgs) -> Result<()> {
    let mut params = vec![
        ("container", a.container.clone()),
        ("pause", a.pause.to_string()),
    ];
    if let Some(r) = &a.repository {
        let (repo, tag) = crate::images::split_ref(r);
        params.push(("repo", repo));
        if let Some(t) = tag {
            params.push(("tag", t));
        }
    }
    if let Some(m) = &a.message {
        params.push(("comment", m.clone()));
    }
    if let Some(au) = &a.author {
        params.push(("author", au.clone()));
    }
    for c in &a.change {
        params.push(("changes", c.clone()));
    }
    let v = cl
        .post_json(&query("/commit", &params), Some(&json!({})))
        .await?;
    out(&format!(
        "{}\n",
        v.get("Id").and_then(Value::as_str).unwrap_or("")
    ));
    Ok(())
}

pub(crate) async fn export(cl: &Client, a: ExportArgs) -> Result<()> {
    let resp = cl
        .send(Method::GET, &path(&a.container, "/export"), empty(), None)
        .await?;
    let bar = crate::progress::transfer_bar("Exporting", None, a.output.is_none());
    crate::util::write_stream(Box::pin(body_stream(resp)), a.output.as_deref(), &bar).await
}

pub(crate) async fn prune(cl: &Client, a: PruneArgs) -> Result<()> {
    if !a.force && !crate::util::confirm("WARNING! This will remove all stopped containers.") {
        return Ok(());
    }
    let (ids, space) = prune_containers(cl, &a.filter).await?;
    if !ids.is_empty() {
        out(&format!("Deleted Containers:\n{}\n\n", ids.join("\n")));
    }
    out(&format!(
        "Total reclaimed space: {}\n",
        crate::table::human_size4(space)
    ));
    Ok(())
}

/// `POST /containers/prune`: deleted ids and reclaimed bytes.
pub(crate) async fn prune_containers(cl: &Client, filter: &[String]) -> Result<(Vec<String>, f64)> {
    let mut params = vec![];
    if !filter.is_empty() {
        params.push(("filters", crate::opts::filters_json(filter)?));
    }
    let v = cl
        .post_json(&query("/containers/prune", &params), None)
        .await?;
    let ids = v
        .get("ContainersDeleted")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let space = v
        .get("SpaceReclaimed")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    Ok((ids, space))
}
